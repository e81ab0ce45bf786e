/*
 * Get: a depth-first walk that never follows a symlink below the requested
 * path, holding one directory's sorted names per level and nothing more,
 * and file data read a chunk at a time as credit allows.
 */
#include "fileget.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "array.h"
#include "err.h"
#include "frame.h"
#include "fs.h"
#include "slice.h"

#define FGET_MODE_MASK 07777
#define FGET_NAMES_MIN 16
/*
 * A file changed within this many seconds before it was opened may change
 * again without its mtime or ctime moving: timestamps come from a coarse
 * clock (a jiffy on local filesystems, up to 2 s on FAT, the server's on
 * NFS). Such a file is read a second time after its last byte, and sent as
 * consistent only if both reads agree (git's "racy clean" problem).
 */
#define FGET_RACY_SECONDS 2

/* A directory being walked. */
struct level {
	int fd;
	char **names; /* its entries, sorted */
	size_t n;
	size_t next;   /* the next name to send */
	size_t rellen; /* its path's length in rel */
};

enum fget_state {
	FGET_START,  /* the first step opens the path */
	FGET_WALK,   /* the next step takes the next name */
	FGET_FILE,   /* the next step reads the current file */
	FGET_VERIFY, /* the next step reads it again (racy timestamps) */
	FGET_DONE,   /* done reported */
};

struct fget {
	struct ev_loop *loop;
	const struct fget_cb *cb;
	void *arg;
	struct slice slice;
	enum fget_state state;
	char *path;
	int recursive;
	int paused;
	size_t allowed;

	struct level lv[FGET_DEPTH_MAX + 1]; /* the requested dir is 0 */
	int depth;			     /* levels open */
	/* The current entry's path relative to the requested one. */
	char *rel;
	size_t rellen;
	size_t relcap;

	/* The regular file being sent. */
	int fd;
	uint64_t size; /* as announced in its Entry */
	uint64_t sent;
	struct stat st; /* as opened */
	int racy;	/* changed just before it was opened */
	struct sha256 hash;
	uint8_t digest[SHA256_LEN]; /* of the bytes sent */
	uint64_t verified;	    /* FGET_VERIFY: bytes read again */

	uint64_t bytes; /* data sent, all files */
	uint32_t entries;
	uint32_t skipped; /* entries left out of a tree */
	struct fs_err first_skip;
	struct fs_err err;
};

static uint8_t rdbuf[FRAME_DATA_CHUNK];

static void
update_slice(struct fget *g)
{
	int waiting = g->state == FGET_DONE || g->paused ||
	    (g->state == FGET_FILE && g->sent < g->size && g->allowed == 0);

	if (waiting)
		slice_stop(&g->slice);
	else
		slice_start(&g->slice);
}

static void
level_close(struct level *lv)
{
	size_t i;

	for (i = 0; i < lv->n; i++)
		free(lv->names[i]);
	free(lv->names);
	lv->names = NULL;
	lv->n = lv->next = 0;
	if (lv->fd != -1)
		(void)close(lv->fd);
	lv->fd = -1;
}

static void
get_cleanup(struct fget *g)
{
	while (g->depth > 0)
		level_close(&g->lv[--g->depth]);
	if (g->fd != -1)
		(void)close(g->fd);
	g->fd = -1;
}

static void
get_end(struct fget *g)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	g->state = FGET_DONE;
	slice_stop(&g->slice);
	get_cleanup(g);
	res.bytes = g->bytes;
	res.entries = g->entries;
	res.skipped = g->skipped;
	/* Anything left out fails the Get, after everything else was sent. */
	if (g->err.code == 0 && g->skipped == 1)
		g->err = g->first_skip;
	else if (g->err.code == 0 && g->skipped > 1)
		fs_err_set(&g->err, g->first_skip.code,
		    "%u entries skipped; "
		    "the first: %s",
		    g->skipped, g->first_skip.msg);
	res.ok = g->err.code == 0;
	if (!res.ok) {
		/* err.h codes are negative; the wire has their magnitude. */
		res.code = (uint32_t)-g->err.code;
		res.message.data = (uint8_t *)g->err.msg;
		res.message.len = g->err.len;
	}
	g->cb->done(g->arg, &res);
}

/*
 * Send an Entry for rel. The owner may cancel us from within (the channel
 * broke), so callers do nothing after it but return.
 */
static void
send_entry(struct fget *g, uint32_t kind, const struct stat *st,
    const char *target)
{
	Muster__Entry e = MUSTER__ENTRY__INIT;

	e.path.data = (uint8_t *)g->rel;
	e.path.len = g->rellen;
	e.kind = kind;
	e.mode = st->st_mode & FGET_MODE_MASK;
	if (kind == FS_FILE)
		e.size = st->st_size;
	if (target != NULL) {
		e.link_target.data = (uint8_t *)target;
		e.link_target.len = strlen(target);
	}
	g->entries++;
	g->cb->entry(g->arg, &e);
}

/*
 * An entry below the requested path that cannot be sent: the controller is
 * told which and why, and the walk goes on, as scp and rsync do. The Get
 * fails at its end. The owner may cancel us from within, as for
 * send_entry.
 */
static void
skip_entry(struct fget *g, uint32_t kind, const struct fs_err *why)
{
	Muster__Entry e = MUSTER__ENTRY__INIT;

	e.path.data = (uint8_t *)g->rel;
	e.path.len = g->rellen;
	e.kind = kind;
	e.code = (uint32_t)-why->code;
	e.message.data = (uint8_t *)why->msg;
	e.message.len = why->len;
	if (g->skipped++ == 0)
		g->first_skip = *why;
	g->cb->entry(g->arg, &e);
}

/* The requested path joined with rel, for messages. errno is kept: it
 * is often the next argument. */
static const char *
shown(struct fget *g)
{
	static char buf[PATH_MAX + 256];
	int saved = errno;

	if (g->rellen == 0)
		return g->path;
	snprintf(buf, sizeof(buf), "%s/%s", g->path, g->rel);
	errno = saved;
	return buf;
}

/* rel = the current directory's path + name. */
static int
set_rel(struct fget *g, size_t dirlen, const char *name)
{
	size_t need = dirlen + 1 + strlen(name) + 1;
	char *p;

	if (need > g->relcap) {
		if ((p = realloc(g->rel, need)) == NULL)
			return -1;
		g->rel = p;
		g->relcap = need;
	}
	g->rellen = dirlen;
	if (dirlen > 0)
		g->rel[g->rellen++] = '/';
	strcpy(g->rel + g->rellen, name);
	g->rellen += strlen(name);
	return 0;
}

static int
fileget_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open level g->depth on fd (taken) with the directory's sorted names.
 * On failure the level is gone again and why says what happened. */
static int
level_open(struct fget *g, int fd, struct fs_err *why)
{
	struct level *lv = &g->lv[g->depth];
	struct dirent *de;
	size_t cap = 0;
	DIR *dir;
	int dfd;

	memset(lv, 0, sizeof(*lv));
	lv->fd = fd;
	lv->rellen = g->rellen;
	g->depth++;
	/* readdir on a duplicate: its buffer goes with closedir, while fd
	 * stays for the *at calls on the entries. */
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1)
		goto fail;
	if ((dir = fdopendir(dfd)) == NULL) {
		(void)close(dfd);
		goto fail;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dir)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (ARRAY_RESERVE(lv->names, cap, lv->n + 1, FGET_NAMES_MIN) !=
		    0) {
			/* Reported below, as a failed readdir would be. */
			errno = ENOMEM;
			break;
		}
		if ((lv->names[lv->n] = strdup(de->d_name)) == NULL)
			break;
		lv->n++;
	}
	if (errno != 0) {
		fs_err_sys(why, errno, "read directory %s", shown(g));
		(void)closedir(dir);
		level_close(lv);
		g->depth--;
		return -1;
	}
	(void)closedir(dir);
	/* Sorted, so that the same tree is always sent the same way. */
	if (lv->n > 1)
		qsort(lv->names, lv->n, sizeof(*lv->names), fileget_name_cmp);
	return 0;
fail:
	fs_err_sys(why, errno, "open %s", shown(g));
	level_close(lv);
	g->depth--;
	return -1;
}

static void
file_begin(struct fget *g, int fd, const struct stat *st)
{
	struct timespec now;
	time_t changed = st->st_ctim.tv_sec > st->st_mtim.tv_sec ?
	    st->st_ctim.tv_sec :
	    st->st_mtim.tv_sec;

	g->fd = fd;
	g->size = st->st_size;
	g->sent = 0;
	g->st = *st;
	/* No clock: assume the worst, read it twice. */
	g->racy = clock_gettime(CLOCK_REALTIME, &now) != 0 ||
	    changed >= now.tv_sec - FGET_RACY_SECONDS;
	sha256_init(&g->hash);
	g->state = FGET_FILE;
	send_entry(g, FS_FILE, st, NULL);
}

static void
get_open(struct fget *g)
{
	struct stat st;
	int fd = -1;

	if (g->err.code != 0)
		goto fail;
	/* The requested path is what the user named: symlinks on it are
	 * followed. O_NONBLOCK: opening a FIFO must not hang the agent. */
	fd = open(g->path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &st) == -1) {
		fs_err_sys(&g->err, errno, "%s", g->path);
		goto fail;
	}
	if (S_ISREG(st.st_mode)) {
		file_begin(g, fd, &st);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		fs_err_set(&g->err, MERR_INVAL,
		    "not a regular file or "
		    "directory: %s",
		    g->path);
		goto fail;
	}
	if (!g->recursive) {
		fs_err_set(&g->err, MERR_INVAL, "is a directory (use -r): %s",
		    g->path);
		goto fail;
	}
	if (level_open(g, fd, &g->err) != 0) {
		get_end(g);
		return;
	}
	g->state = FGET_WALK;
	send_entry(g, FS_DIR, &st, NULL);
	return;
fail:
	if (fd != -1)
		(void)close(fd);
	get_end(g);
}

/* The next name of the innermost directory, or the end of it. An entry
 * that cannot be read is skipped (skip_entry); only running out of memory
 * ends the walk. */
static void
get_next(struct fget *g)
{
	struct level *lv = &g->lv[g->depth - 1];
	char target[PATH_MAX];
	struct fs_err why = { 0 };
	const char *name;
	struct stat st;
	ssize_t n;
	int fd;

	if (lv->next == lv->n) {
		level_close(lv);
		if (--g->depth == 0)
			get_end(g);
		return;
	}
	name = lv->names[lv->next++];
	if (set_rel(g, lv->rellen, name) != 0) {
		fs_err_set(&g->err, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		get_end(g);
		return;
	}
	if (fstatat(lv->fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		/* Removed since the listing: there is nothing to send. */
		if (errno == ENOENT)
			return;
		fs_err_sys(&why, errno, "stat %s", shown(g));
		skip_entry(g, FS_FILE, &why);
		return;
	}
	if (S_ISREG(st.st_mode)) {
		fd = openat(lv->fd, name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd == -1 && (errno == ENOENT || errno == ELOOP))
			return; /* removed or replaced meanwhile */
		if (fd == -1 || fstat(fd, &st) == -1) {
			fs_err_sys(&why, errno, "open %s", shown(g));
			if (fd != -1)
				(void)close(fd);
			skip_entry(g, FS_FILE, &why);
			return;
		}
		if (!S_ISREG(st.st_mode)) {
			(void)close(fd);
			return;
		}
		file_begin(g, fd, &st);
	} else if (S_ISDIR(st.st_mode)) {
		if (g->depth > FGET_DEPTH_MAX) {
			fs_err_set(&why, MERR_LIMIT,
			    "more than %d levels "
			    "of directories: %s",
			    FGET_DEPTH_MAX, shown(g));
			skip_entry(g, FS_DIR, &why);
			return;
		}
		fd = openat(lv->fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && (errno == ENOENT || errno == ENOTDIR))
			return; /* removed or replaced meanwhile */
		if (fd == -1) {
			fs_err_sys(&why, errno, "open %s", shown(g));
			skip_entry(g, FS_DIR, &why);
			return;
		}
		if (level_open(g, fd, &why) != 0) {
			skip_entry(g, FS_DIR, &why);
			return;
		}
		send_entry(g, FS_DIR, &st, NULL);
	} else if (S_ISLNK(st.st_mode)) {
		n = readlinkat(lv->fd, name, target, sizeof(target) - 1);
		if (n == -1 && (errno == ENOENT || errno == EINVAL))
			return; /* removed or replaced meanwhile */
		if (n == -1) {
			fs_err_sys(&why, errno, "readlink %s", shown(g));
			skip_entry(g, FS_LINK, &why);
			return;
		}
		target[n] = '\0';
		send_entry(g, FS_LINK, &st, target);
	}
	/* Sockets, FIFOs and devices are not sent. */
}

/* Is the open file still the one that was opened, as it was then? */
static int
file_unchanged(struct fget *g)
{
	struct stat st;

	return fstat(g->fd, &st) == 0 && (uint64_t)st.st_size == g->size &&
	    st.st_mtim.tv_sec == g->st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == g->st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == g->st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == g->st.st_ctim.tv_nsec;
}

/*
 * The current file is over: its EntryEnd, then the next entry. why is
 * NULL when every byte was sent and the file is unchanged, else what went
 * wrong; the EntryEnd then says the file is not consistent, and a tree
 * goes on with its next entry. The hash always describes exactly the
 * bytes sent.
 */
static void
file_end(struct fget *g, const struct fs_err *why)
{
	Muster__EntryEnd ee = MUSTER__ENTRY_END__INIT;

	(void)close(g->fd);
	g->fd = -1;
	ee.sha256.data = g->digest;
	ee.sha256.len = SHA256_LEN;
	ee.consistent = why == NULL;
	if (why != NULL) {
		ee.message.data = (uint8_t *)why->msg;
		ee.message.len = why->len;
		if (g->skipped++ == 0)
			g->first_skip = *why;
	}
	g->cb->entry_end(g->arg, &ee);
	if (g->state == FGET_DONE)
		return; /* cancelled from within */
	if (g->depth == 0)
		get_end(g);
	else
		g->state = FGET_WALK;
}

static void
file_changed(struct fget *g)
{
	struct fs_err why = { 0 };

	fs_err_set(&why, MERR_IO, "file changed while reading: %s", shown(g));
	file_end(g, &why);
}

/* Every byte is sent: check the file is as it was opened (reading it
 * once more when its timestamps cannot tell) before vouching for it. */
static void
file_sent(struct fget *g)
{
	sha256_final(&g->hash, g->digest);
	if (!file_unchanged(g)) {
		file_changed(g);
	} else if (g->racy && g->size > 0) {
		sha256_init(&g->hash);
		g->verified = 0;
		g->state = FGET_VERIFY;
	} else
		file_end(g, NULL);
}

/* One chunk of the second read; credit plays no part, nothing is sent. */
static void
get_verify(struct fget *g)
{
	uint8_t digest[SHA256_LEN];
	struct fs_err why = { 0 };
	size_t want = sizeof(rdbuf);
	ssize_t n;

	if (want > g->size - g->verified)
		want = g->size - g->verified;
	n = pread(g->fd, rdbuf, want, (off_t)g->verified);
	if (n == -1 && errno == EINTR)
		return;
	if (n == -1) {
		fs_err_sys(&why, errno, "read %s", shown(g));
		file_end(g, &why);
		return;
	}
	if (n == 0) {
		file_changed(g);
		return;
	}
	sha256_update(&g->hash, rdbuf, n);
	g->verified += n;
	if (g->verified < g->size)
		return;
	sha256_final(&g->hash, digest);
	if (memcmp(digest, g->digest, SHA256_LEN) != 0 || !file_unchanged(g))
		file_changed(g);
	else
		file_end(g, NULL);
}

static void
get_read(struct fget *g)
{
	struct fs_err why = { 0 };
	size_t want = g->allowed;
	ssize_t n;

	if (g->sent == g->size) {
		file_sent(g);
		return;
	}
	if (want > sizeof(rdbuf))
		want = sizeof(rdbuf);
	if (want > g->size - g->sent)
		want = g->size - g->sent;
	if (want == 0)
		return;
	n = read(g->fd, rdbuf, want);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n == -1) {
		sha256_final(&g->hash, g->digest);
		fs_err_sys(&why, errno, "read %s", shown(g));
		file_end(g, &why);
		return;
	}
	if (n == 0) { /* shrank below its Entry.size */
		sha256_final(&g->hash, g->digest);
		file_changed(g);
		return;
	}
	sha256_update(&g->hash, rdbuf, n);
	g->sent += n;
	g->bytes += n;
	g->allowed -= n;
	g->cb->data(g->arg, rdbuf, n);
	/* The last byte ends the file in the same step: a file that ends
	 * exactly on the credit needs none for its EntryEnd. */
	if (g->state == FGET_FILE && g->sent == g->size)
		file_sent(g);
}

static void
fileget_get_step(void *arg)
{
	struct fget *g = arg;

	switch (g->state) {
	case FGET_START: get_open(g); break;
	case FGET_WALK: get_next(g); break;
	case FGET_FILE: get_read(g); break;
	case FGET_VERIFY: get_verify(g); break;
	case FGET_DONE: break;
	}
	update_slice(g);
}

int
fget_start(struct ev_loop *loop, const Muster__Get *get,
    const struct fget_cb *cb, void *arg, struct fget **out)
{
	struct fget *g;

	*out = NULL;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return MERR_NOMEM;
	g->loop = loop;
	g->cb = cb;
	g->arg = arg;
	g->fd = -1;
	g->recursive = get->recursive;
	g->state = FGET_START;
	g->path = fs_strdup(get->path.data, get->path.len, "path", &g->err);
	if (g->path != NULL && *g->path == '\0')
		fs_err_set(&g->err, MERR_INVAL, "empty path");
	if ((g->rel = strdup("")) == NULL) {
		free(g->path);
		free(g);
		return MERR_NOMEM;
	}
	g->relcap = 1;
	slice_init(&g->slice, loop, fileget_get_step, g);
	slice_start(&g->slice);
	*out = g;
	return 0;
}

void
fget_output(struct fget *g, int paused, size_t allowed)
{
	g->paused = paused;
	g->allowed = allowed;
	update_slice(g);
}

void
fget_cancel(struct fget *g, const char *why)
{
	if (g->state == FGET_DONE)
		return;
	fs_err_set(&g->err, MERR_EOF, "%s: %s", why,
	    g->path != NULL ? g->path : "");
	get_end(g);
}

void
fget_free(struct fget *g)
{
	if (g == NULL)
		return;
	slice_stop(&g->slice);
	get_cleanup(g);
	free(g->path);
	free(g->rel);
	free(g);
}
