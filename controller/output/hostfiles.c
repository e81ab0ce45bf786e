#include "hostfiles.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

static const char *const stream_opt[2] = { "--outdir", "--errdir" };

static int
open_dir(const char *dir, const char *opt, int *out, char *err, size_t errlen)
{
	int fd;

	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create %s: %s", opt, dir,
		    strerror(errno));
		return MERR_SYS;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot open directory %s: %s", opt,
		    dir, strerror(errno));
		return MERR_SYS;
	}
	*out = fd;
	return 0;
}

int
hostfiles_open(struct hostfiles *hf, const char *outdir, const char *errdir,
    char *err, size_t errlen)
{
	const char *dirs[2] = { outdir, errdir };
	struct stat a, b;
	int i, r;

	memset(hf, 0, sizeof(*hf));
	hf->dirfd[0] = hf->dirfd[1] = -1;
	for (i = 0; i < 2; i++) {
		if (dirs[i] == NULL)
			continue;
		hf->dir[i] = dirs[i];
		if ((r = open_dir(dirs[i], stream_opt[i], &hf->dirfd[i], err,
			 errlen)) != 0) {
			hostfiles_close(hf);
			return r;
		}
	}
	if (hf->dirfd[0] != -1 && hf->dirfd[1] != -1 &&
	    fstat(hf->dirfd[0], &a) == 0 && fstat(hf->dirfd[1], &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		snprintf(err, errlen,
		    "--outdir and --errdir name the same "
		    "directory: stdout and stderr would share one file");
		hostfiles_close(hf);
		return MERR_INVAL;
	}
	return 0;
}

void
hostfiles_close(struct hostfiles *hf)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (hf->dirfd[i] != -1)
			(void)close(hf->dirfd[i]);
		hf->dirfd[i] = -1;
	}
}

/* The one rule for run --outdir/--errdir files and pull's directories, so
 * a host has one name on disk: what a host label needs (user@, :port, a
 * dotted name) and nothing a shell or glob would read ('#', '[', ',' ...). */
static bool
safe_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("._-@:", c) != NULL);
}

void
hostfiles_safe_name(const char *label, char *out, size_t outlen)
{
	size_t i, n = 0, max = outlen - 1;

	if (max > HOSTFILES_NAME_MAX)
		max = HOSTFILES_NAME_MAX;
	for (i = 0; label[i] != '\0' && n < max; i++)
		out[n++] = safe_byte((unsigned char)label[i]) ? label[i] : '_';
	if (n == 0)
		out[n++] = '_';
	/* "." and ".." are directories; a dot file would be hidden. */
	if (out[0] == '.')
		out[0] = '_';
	out[n] = '\0';
}

void
hostfile_init(struct hostfile *f, const char *label)
{
	memset(f, 0, sizeof(*f));
	f->fd[0] = f->fd[1] = -1;
	hostfiles_safe_name(label, f->name, sizeof(f->name));
}

static void
close_file(struct hostfiles *hf, struct hostfile *f, int i)
{
	if (f->fd[i] == -1)
		return;
	(void)close(f->fd[i]);
	f->fd[i] = -1;
	hf->nopen--;
}

static int
fail(struct hostfiles *hf, struct hostfile *f, int i, const char *what,
    char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: cannot %s %s/%s: %s", stream_opt[i], what,
	    hf->dir[i], f->name, strerror(errno));
	f->failed[i] = true;
	close_file(hf, f, i);
	return MERR_SYS;
}

static int
ensure_open(struct hostfiles *hf, struct hostfile *f, int i, char *err,
    size_t errlen)
{
	/* O_NOFOLLOW: a symlink planted under DIR must not redirect the
	 * output of a host onto some other file. */
	int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;

	if (f->fd[i] != -1)
		return 0;
	flags |= f->created[i] ? O_APPEND : O_TRUNC;
	if ((f->fd[i] = openat(hf->dirfd[i], f->name, flags, 0644)) == -1)
		return fail(hf, f, i, "open", err, errlen);
	f->created[i] = true;
	hf->nopen++;
	return 0;
}

int
hostfile_write(struct hostfiles *hf, struct hostfile *f, int fd,
    const uint8_t *p, size_t n, char *err, size_t errlen)
{
	int i = fd - 1, r;
	ssize_t w;

	if (i < 0 || i > 1 || hf->dirfd[i] == -1 || f->failed[i])
		return 0;
	if ((r = ensure_open(hf, f, i, err, errlen)) != 0)
		return r;
	while (n > 0) {
		if ((w = write(f->fd[i], p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return fail(hf, f, i, "write", err, errlen);
		}
		p += w;
		n -= (size_t)w;
	}
	if (hf->nopen > HOSTFILES_OPEN_MAX)
		close_file(hf, f, i);
	return 0;
}

int
hostfile_done(struct hostfiles *hf, struct hostfile *f, char *err,
    size_t errlen)
{
	int i, r, first = 0;

	for (i = 0; i < 2; i++) {
		if (hf->dirfd[i] == -1)
			continue;
		if (!f->created[i] && !f->failed[i] &&
		    (r = ensure_open(hf, f, i, err, errlen)) != 0 &&
		    first == 0)
			first = r;
		close_file(hf, f, i);
	}
	return first;
}
