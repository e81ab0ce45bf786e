#include "sshfile.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* `-F /dev/null` is the documented way to read no ssh_config, and
 * `--known-hosts /dev/null` OpenSSH's way to record nothing: both are
 * empty, never partial. Only the real device counts, not its name. */
static bool
is_dev_null(const struct stat *st)
{
	struct stat null;

	return S_ISCHR(st->st_mode) && stat("/dev/null", &null) == 0 &&
	    S_ISCHR(null.st_mode) && st->st_rdev == null.st_rdev;
}

static const char *
type_name(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	return "not a regular file";
}

/*
 * Read the whole file as libssh's known_hosts reader will, and refuse
 * what it would not read whole: a line longer than its buffer ends its
 * reading there (the rest is silently ignored), and so does a NUL byte,
 * which cuts the line short. More bytes than fstat said (a growing file)
 * count against the same size limit. libssh also skips "@revoked" lines,
 * so the key such a line revokes would be taken as new: refused too.
 */
/* The 1-based line of chunk[at], given the line chunk[0] is on. */
static size_t
line_of(const char *chunk, size_t at, size_t lineno)
{
	const char *p = chunk, *nl;

	while ((nl = memchr(p, '\n', (size_t)(chunk + at - p))) != NULL) {
		lineno++;
		p = nl + 1;
	}
	return lineno;
}

/* Line-start state: blanks, then maybe "@revoked" and a blank. */
struct line_head {
	bool leading; /* only blanks so far */
	bool marker;  /* the text so far is a prefix of "@revoked" */
	size_t mpos;
};

/* Feeds the line's bytes to its head; true when it is a @revoked line.
 * Only the first few bytes of a line are looked at. */
static bool
head_revoked(struct line_head *h, const char *p, const char *end)
{
	static const char revoked[] = "@revoked";
	char c;

	for (; p < end && (h->leading || h->marker); p++) {
		c = *p;
		if (h->leading && c != ' ' && c != '\t') {
			h->leading = false;
			h->marker = true;
		}
		if (!h->marker)
			continue;
		if (h->mpos < sizeof(revoked) - 1 && c == revoked[h->mpos])
			h->mpos++;
		else if (h->mpos == sizeof(revoked) - 1 &&
		    (c == ' ' || c == '\t'))
			return true;
		else
			h->marker = false;
	}
	return false;
}

/*
 * Read the whole file as libssh's known_hosts reader will, and refuse
 * what it would not read whole: a line longer than its buffer ends its
 * reading there (the rest is silently ignored), and so does a NUL byte,
 * which cuts the line short. More bytes than fstat said (a growing file)
 * count against the same size limit. libssh also skips "@revoked" lines,
 * so the key such a line revokes would be taken as new: refused too.
 * memchr does the bulk of the work: this runs for every host.
 */
static int
scan_lines(int fd, const char *label, const char *path, char *err,
    size_t errlen)
{
	char chunk[16384];
	const char *p, *end, *nl, *seg_end;
	struct line_head head = { true, false, 0 };
	size_t total = 0, line_len = 0, lineno = 1;
	ssize_t n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s %s: cannot read: %s", label,
			    path, strerror(errno));
			return MERR_IO;
		}
		if (n == 0)
			return 0;
		total += (size_t)n;
		if (total > SSHFILE_MAX_SIZE) {
			snprintf(err, errlen,
			    "%s %s: larger than 16 MiB, "
			    "which libssh would read as empty",
			    label, path);
			return MERR_LIMIT;
		}
		if ((p = memchr(chunk, '\0', (size_t)n)) != NULL) {
			snprintf(err, errlen,
			    "%s %s: line %zu holds a NUL "
			    "byte, where libssh would stop reading",
			    label, path,
			    line_of(chunk, (size_t)(p - chunk), lineno));
			return MERR_PARSE;
		}
		for (p = chunk, end = chunk + n; p < end; p = seg_end + 1) {
			nl = memchr(p, '\n', (size_t)(end - p));
			seg_end = nl != NULL ? nl : end;
			if (head_revoked(&head, p, seg_end)) {
				snprintf(err, errlen,
				    "%s %s: line %zu is a "
				    "@revoked line, which libssh ignores (the "
				    "key it revokes would be accepted)",
				    label, path, lineno);
				return MERR_PARSE;
			}
			line_len += (size_t)(seg_end - p);
			if (line_len > SSHFILE_MAX_LINE) {
				snprintf(err, errlen,
				    "%s %s: line %zu is "
				    "longer than %d bytes, where libssh would "
				    "stop reading",
				    label, path, lineno, SSHFILE_MAX_LINE);
				return MERR_LIMIT;
			}
			if (nl == NULL)
				break;
			line_len = 0;
			lineno++;
			head = (struct line_head){ true, false, 0 };
		}
	}
}

int
sshfile_check(const char *label, const char *path, enum sshfile_kind kind,
    char *err, size_t errlen)
{
	struct stat st;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO (no writer) or a device must not stop us in
	 * open(); we refuse those anyway once we see what they are. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s %s: cannot read: %s", label, path,
		    strerror(errno));
		return MERR_IO;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s %s: cannot read: %s", label, path,
		    strerror(errno));
		r = MERR_IO;
	} else if (is_dev_null(&st))
		r = 0;
	else if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s %s: is a directory", label, path);
		r = MERR_INVAL;
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: is %s, not a regular file",
		    label, path, type_name(st.st_mode));
		r = MERR_INVAL;
	} else if (st.st_size > SSHFILE_MAX_SIZE) {
		snprintf(err, errlen,
		    "%s %s: larger than 16 MiB (%lld "
		    "bytes), which libssh would read as empty",
		    label, path, (long long)st.st_size);
		r = MERR_LIMIT;
	} else if (kind == SSHFILE_KNOWN_HOSTS)
		r = scan_lines(fd, label, path, err, errlen);
	close(fd);
	return r;
}

int
sshfile_user_path(const char *name, char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(getuid());
	const char *home = pw != NULL ? pw->pw_dir : getenv("HOME");
	int n;

	if (home == NULL || *home == '\0')
		return -1;
	n = snprintf(out, outlen, "%s/.ssh/%s", home, name);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
