/*
 * Put: compare, receive, commit. The steps that may take long (hashing an
 * existing file of any size) run a slice per loop iteration; the data is
 * written as it arrives, in the frames the controller sent, so nothing is
 * buffered beyond one frame.
 */
#include "fileput.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fs.h"
#include "pathsafe.h"
#include "sha256.h"
#include "slice.h"

/* Hashing an existing file: a few milliseconds of work per iteration. */
#define FPUT_HASH_CHUNK (256u * 1024)
/* Attempts at a temporary name before giving up: with 64 random bits,
 * only a directory full of our own names can use them up. */
#define FPUT_TMP_TRIES 16
#define FPUT_TMP_PREFIX ".muster-tmp."
#define FPUT_TMP_RANDOM 16 /* hex digits */
#define FPUT_MODE_MASK 07777
/* uid_t and gid_t are 32 bits; (uid_t)-1 means "leave it". */
#define FPUT_ID_MAX 0xfffffffeLL
/*
 * Files below this size are committed in batches: every file whose data
 * is complete by the end of a loop iteration waits for one syncfs, then
 * all are renamed into place and each directory synced once (a tree of
 * small files cost two fsyncs per file before). A bigger file is synced
 * by itself: its own data dominates, and syncfs would also flush what
 * else the host has dirty.
 */
#define FPUT_BATCH_BELOW (8u << 20)

enum fput_state {
	FPUT_START, /* the first slice resolves and compares */
	FPUT_HASH,  /* hashing the existing file, a slice at a time */
	FPUT_DATA,  /* PutReady sent: data until Eof */
	FPUT_SYNC,  /* complete and checked: waits for the batch's sync */
	FPUT_DONE,  /* done reported */
};

struct fput {
	struct ev_loop *loop;
	const struct fput_cb *cb;
	void *arg;
	struct slice slice;
	enum fput_state state;

	/* The request. */
	char *root; /* NULL when path is not confined */
	char *path;
	char *shown;  /* the destination in messages */
	char *target; /* symlink */
	uint32_t kind;
	uint32_t mode;
	uint64_t size;
	uint8_t sha256[SHA256_LEN];
	int mkdir;
	int64_t uid; /* -1: leave */
	int64_t gid;

	/* The destination: a name in an open directory. */
	int dirfd;
	char *name;

	int oldfd; /* the existing file, while hashing it */
	int fd;	   /* the new file */
	/* The new entry's temporary name while it has one: from the start
	 * without O_TMPFILE, else from link to rename. */
	char *tmpname;
	/* Renamed into place: the entry changed, even if what follows
	 * (fsync of the directory) fails. */
	int committed;
	struct sha256 hash; /* of the old file, then of the new data */
	uint64_t hashed;    /* bytes of the old file */
	uint64_t received;  /* bytes of the new file */
	struct fs_err err;
	struct fput *batch_next; /* FPUT_SYNC: the batch's list */
};

static uint8_t hashbuf[FPUT_HASH_CHUNK];

/* The Puts in FPUT_SYNC, committed together before the loop blocks. */
static struct {
	struct fput *head;
	ev_prepare flush;
	struct ev_loop *loop;
} batch;

static void batch_remove(struct fput *p);

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		(void)close(*fd);
		*fd = -1;
	}
}

/* Remove what a Put that will not commit leaves: an O_TMPFILE file goes
 * with its descriptor, a named one must be unlinked. */
static void
put_cleanup(struct fput *p)
{
	close_fd(&p->oldfd);
	close_fd(&p->fd);
	if (p->tmpname != NULL) {
		(void)unlinkat(p->dirfd, p->tmpname, 0);
		free(p->tmpname);
		p->tmpname = NULL;
	}
}

static void
put_end(struct fput *p, int changed)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	if (p->state == FPUT_SYNC)
		batch_remove(p);
	p->state = FPUT_DONE;
	slice_stop(&p->slice);
	res.ok = p->err.code == 0;
	res.changed = changed;
	res.bytes = p->received;
	if (!res.ok) {
		put_cleanup(p);
		/* err.h codes are negative; the wire has their magnitude. */
		res.code = (uint32_t)-p->err.code;
		res.message.data = (uint8_t *)p->err.msg;
		res.message.len = p->err.len;
	}
	p->cb->done(p->arg, &res);
}

/* p->err is set. */
static void
put_fail(struct fput *p)
{
	put_end(p, p->committed);
}

static void
put_unchanged(struct fput *p)
{
	/* Nothing to undo from here on: a cancel from within the callback
	 * (the channel broke) must not report a second end. */
	p->state = FPUT_DONE;
	p->cb->ready(p->arg, 1);
	put_end(p, 0);
}

static int
owner_matches(const struct fput *p, const struct stat *st)
{
	return (p->uid < 0 || st->st_uid == (uid_t)p->uid) &&
	    (p->gid < 0 || st->st_gid == (gid_t)p->gid);
}

static int
set_owner(const struct fput *p, int fd)
{
	if (p->uid < 0 && p->gid < 0)
		return 0;
	return fchown(fd, p->uid < 0 ? (uid_t)-1 : (uid_t)p->uid,
	    p->gid < 0 ? (gid_t)-1 : (gid_t)p->gid);
}

/*
 * A fresh ".muster-tmp.<name>.<random>" in p->tmpname. The name part is
 * cut so that the whole fits NAME_MAX; the dot prefix keeps it out of
 * globs, and a leftover (killed agent without O_TMPFILE) says what made it.
 */
static int
tmp_name(struct fput *p)
{
	static uint64_t counter;
	uint64_t rnd;
	int keep;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		/* Early boot: unpredictable is not needed, unique is, and
		 * O_EXCL or EEXIST catches the rest. */
		rnd = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
		    ++counter * 0x9e3779b97f4a7c15ULL;
	}
	keep = NAME_MAX - (int)strlen(FPUT_TMP_PREFIX) - 1 - FPUT_TMP_RANDOM;
	free(p->tmpname);
	if (asprintf(&p->tmpname, "%s%.*s.%0*" PRIx64, FPUT_TMP_PREFIX, keep,
		p->name, FPUT_TMP_RANDOM, rnd) == -1) {
		p->tmpname = NULL;
		fs_err_set(&p->err, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		return p->err.code;
	}
	return 0;
}

/* The new file, unnamed if the file system can, else under a temporary
 * name; either way in the destination directory, so rename is atomic. */
static int
tmp_open(struct fput *p)
{
	int i, r;

	p->fd = openat(p->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (p->fd != -1)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		fs_err_sys(&p->err, errno, "create a temporary file for %s",
		    p->shown);
		return p->err.code;
	}
	/* Without O_TMPFILE an agent killed before the commit leaves this
	 * file behind; nothing better is possible there. */
	for (i = 0; i < FPUT_TMP_TRIES; i++) {
		if ((r = tmp_name(p)) != 0)
			return r;
		p->fd = openat(p->dirfd, p->tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (p->fd != -1)
			return 0;
		if (errno != EEXIST)
			break;
	}
	fs_err_sys(&p->err, errno, "create a temporary file for %s", p->shown);
	free(p->tmpname);
	p->tmpname = NULL;
	return p->err.code;
}

/* Give the O_TMPFILE file a temporary name: linkat cannot replace the
 * destination, rename can. */
static int
tmp_link(struct fput *p)
{
	char proc[64];
	int i, r, err = 0;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->fd);
	for (i = 0; i < FPUT_TMP_TRIES; i++) {
		if ((r = tmp_name(p)) != 0)
			return r;
		if (linkat(AT_FDCWD, proc, p->dirfd, p->tmpname,
			AT_SYMLINK_FOLLOW) == 0)
			return 0;
		err = errno;
		/* No /proc: AT_EMPTY_PATH does the same, but needs
		 * CAP_DAC_READ_SEARCH. */
		if (err == ENOENT &&
		    linkat(p->fd, "", p->dirfd, p->tmpname, AT_EMPTY_PATH) ==
			0)
			return 0;
		if (err != EEXIST)
			break;
	}
	free(p->tmpname);
	p->tmpname = NULL;
	fs_err_sys(&p->err, err, "link %s", p->shown);
	return p->err.code;
}

/* Rename the temporary name over the destination. */
static int
tmp_rename(struct fput *p)
{
	if (renameat(p->dirfd, p->tmpname, p->dirfd, p->name) == -1) {
		fs_err_sys(&p->err, errno, "rename to %s", p->shown);
		return p->err.code;
	}
	free(p->tmpname);
	p->tmpname = NULL;
	p->committed = 1;
	return 0;
}

/* Rename the temporary name over the destination and make it durable. */
static int
tmp_commit(struct fput *p)
{
	if (tmp_rename(p) != 0)
		return p->err.code;
	if (fsync(p->dirfd) == -1) {
		fs_err_sys(&p->err, errno, "fsync the directory of %s",
		    p->shown);
		return p->err.code;
	}
	return 0;
}

static void
put_receive(struct fput *p)
{
	if (tmp_open(p) != 0) {
		put_fail(p);
		return;
	}
	sha256_init(&p->hash);
	p->state = FPUT_DATA;
	slice_stop(&p->slice);
	p->cb->ready(p->arg, 0);
}

/* st_mode 0: nothing is there. */
static void
put_file(struct fput *p, const struct stat *st)
{
	struct stat cur;

	if (S_ISDIR(st->st_mode)) {
		fs_err_set(&p->err, MERR_EXISTS, "is a directory: %s",
		    p->shown);
		put_fail(p);
		return;
	}
	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size == p->size &&
	    (st->st_mode & FPUT_MODE_MASK) == p->mode &&
	    owner_matches(p, st)) {
		p->oldfd = openat(p->dirfd, p->name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		/* Unreadable, or replaced since the stat: it cannot be
		 * compared, so it is replaced. */
		if (p->oldfd != -1 && fstat(p->oldfd, &cur) == 0 &&
		    cur.st_ino == st->st_ino && cur.st_dev == st->st_dev) {
			sha256_init(&p->hash);
			p->state = FPUT_HASH;
			return;
		}
		close_fd(&p->oldfd);
	}
	put_receive(p);
}

static void
put_hash(struct fput *p)
{
	uint8_t digest[SHA256_LEN];
	ssize_t n;

	n = read(p->oldfd, hashbuf, sizeof(hashbuf));
	if (n == -1 && errno == EINTR)
		return;
	if (n > 0) {
		sha256_update(&p->hash, hashbuf, n);
		p->hashed += n;
		if (p->hashed <= p->size)
			return;
	}
	close_fd(&p->oldfd);
	/* A read error, or a file that grew, differs as far as we know. */
	if (n == 0 && p->hashed == p->size) {
		sha256_final(&p->hash, digest);
		if (memcmp(digest, p->sha256, SHA256_LEN) == 0) {
			put_unchanged(p);
			return;
		}
	}
	put_receive(p);
}

static void
put_dir(struct fput *p, const struct stat *st)
{
	struct stat cur;
	int fd = -1, created = 0, changed = 0;

	if (st->st_mode != 0 && !S_ISDIR(st->st_mode)) {
		fs_err_set(&p->err, MERR_EXISTS, "not a directory: %s",
		    p->shown);
		goto fail;
	}
	if (st->st_mode == 0) {
		/* Closed to others until its mode is set below. */
		if (mkdirat(p->dirfd, p->name, 0700) == -1) {
			fs_err_sys(&p->err, errno, "mkdir %s", p->shown);
			goto fail;
		}
		created = 1;
	}
	fd = openat(p->dirfd, p->name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || fstat(fd, &cur) == -1) {
		fs_err_sys(&p->err, errno, "open %s", p->shown);
		goto fail;
	}
	if (!owner_matches(p, &cur)) {
		if (set_owner(p, fd) == -1) {
			fs_err_sys(&p->err, errno, "chown %s", p->shown);
			goto fail;
		}
		changed = 1;
	}
	/* After a chown the set-id bits may be gone: set the mode again. */
	if (changed || (cur.st_mode & FPUT_MODE_MASK) != p->mode) {
		if (fchmod(fd, p->mode) == -1) {
			fs_err_sys(&p->err, errno, "chmod %s", p->shown);
			goto fail;
		}
		changed = 1;
	}
	close_fd(&fd);
	p->committed = created || changed;
	if (created && fsync(p->dirfd) == -1) {
		fs_err_sys(&p->err, errno, "fsync the directory of %s",
		    p->shown);
		put_fail(p);
		return;
	}
	if (created || changed)
		put_end(p, 1);
	else
		put_unchanged(p);
	return;
fail:
	close_fd(&fd);
	/* A directory we made but could not set up must not stay. */
	if (created)
		(void)unlinkat(p->dirfd, p->name, AT_REMOVEDIR);
	put_fail(p);
}

static void
put_link(struct fput *p, const struct stat *st)
{
	char cur[PATH_MAX];
	ssize_t n;
	int i;

	if (S_ISLNK(st->st_mode) && owner_matches(p, st)) {
		n = readlinkat(p->dirfd, p->name, cur, sizeof(cur));
		if (n >= 0 && (size_t)n == strlen(p->target) &&
		    memcmp(cur, p->target, n) == 0) {
			put_unchanged(p);
			return;
		}
	}
	if (S_ISDIR(st->st_mode)) {
		fs_err_set(&p->err, MERR_EXISTS, "is a directory: %s",
		    p->shown);
		put_fail(p);
		return;
	}
	for (i = 0; i < FPUT_TMP_TRIES; i++) {
		if (tmp_name(p) != 0) {
			put_fail(p);
			return;
		}
		if (symlinkat(p->target, p->dirfd, p->tmpname) == 0)
			break;
		if (errno != EEXIST || i == FPUT_TMP_TRIES - 1) {
			fs_err_sys(&p->err, errno, "symlink %s", p->shown);
			free(p->tmpname);
			p->tmpname = NULL;
			put_fail(p);
			return;
		}
	}
	if ((p->uid >= 0 || p->gid >= 0) &&
	    fchownat(p->dirfd, p->tmpname,
		p->uid < 0 ? (uid_t)-1 : (uid_t)p->uid,
		p->gid < 0 ? (gid_t)-1 : (gid_t)p->gid,
		AT_SYMLINK_NOFOLLOW) == -1) {
		fs_err_sys(&p->err, errno, "chown %s", p->shown);
		put_fail(p);
		return;
	}
	if (tmp_commit(p) != 0) {
		put_fail(p);
		return;
	}
	put_end(p, 1);
}

static void
put_begin(struct fput *p)
{
	struct stat st;

	if (p->err.code != 0 ||
	    pathsafe_parent(p->root, p->path, p->mkdir, &p->dirfd, &p->name,
		&p->err) != 0) {
		put_fail(p);
		return;
	}
	if (fstatat(p->dirfd, p->name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT) {
			fs_err_sys(&p->err, errno, "stat %s", p->shown);
			put_fail(p);
			return;
		}
		memset(&st, 0, sizeof(st));
	}
	switch (p->kind) {
	case FS_DIR: put_dir(p, &st); break;
	case FS_LINK: put_link(p, &st); break;
	default: put_file(p, &st); break;
	}
}

static void
fileput_put_slice(void *arg)
{
	struct fput *p = arg;

	if (p->state == FPUT_START)
		put_begin(p);
	else if (p->state == FPUT_HASH)
		put_hash(p);
}

/* Copy and check the request; a bad one fails in the first slice. */
static void
put_request(struct fput *p, const Muster__Put *put)
{
	p->kind = put->kind;
	p->mode = put->mode;
	p->size = put->size;
	p->mkdir = put->mkdir;
	p->uid = put->uid;
	p->gid = put->gid;
	if ((p->path = fs_strdup(put->path.data, put->path.len, "path",
		 &p->err)) == NULL)
		return;
	if (put->root.len > 0 &&
	    (p->root = fs_strdup(put->root.data, put->root.len, "root",
		 &p->err)) == NULL)
		return;
	if ((p->shown = pathsafe_join(p->root, p->path)) == NULL) {
		fs_err_set(&p->err, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		return;
	}
	if (p->kind > FS_LINK)
		fs_err_set(&p->err, MERR_INVAL, "unknown kind %u: %s", p->kind,
		    p->shown);
	else if (p->mode & ~FPUT_MODE_MASK)
		fs_err_set(&p->err, MERR_INVAL,
		    "mode %o is not permission "
		    "bits: %s",
		    p->mode, p->shown);
	else if (p->uid < -1 || p->uid > FPUT_ID_MAX || p->gid < -1 ||
	    p->gid > FPUT_ID_MAX)
		fs_err_set(&p->err, MERR_INVAL, "uid or gid out of range: %s",
		    p->shown);
	else if (p->kind == FS_FILE && put->sha256.len != SHA256_LEN)
		fs_err_set(&p->err, MERR_INVAL,
		    "sha256 is %zu bytes, not %d: "
		    "%s",
		    put->sha256.len, SHA256_LEN, p->shown);
	else if (p->kind == FS_LINK &&
	    (put->link_target.len == 0 || put->link_target.len >= PATH_MAX))
		fs_err_set(&p->err, MERR_INVAL,
		    "symlink target of %zu "
		    "bytes: %s",
		    put->link_target.len, p->shown);
	else if (p->kind == FS_LINK)
		p->target = fs_strdup(put->link_target.data,
		    put->link_target.len, "link target", &p->err);
	else if (p->kind == FS_FILE)
		memcpy(p->sha256, put->sha256.data, SHA256_LEN);
}

int
fput_start(struct ev_loop *loop, const Muster__Put *put,
    const struct fput_cb *cb, void *arg, struct fput **out)
{
	struct fput *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MERR_NOMEM;
	p->loop = loop;
	p->cb = cb;
	p->arg = arg;
	p->dirfd = p->oldfd = p->fd = -1;
	p->state = FPUT_START;
	put_request(p, put);
	slice_init(&p->slice, loop, fileput_put_slice, p);
	slice_start(&p->slice);
	*out = p;
	return 0;
}

static int
write_all(int fd, const uint8_t *data, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, data, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		if (w == 0) {
			/* Regular files do not do this; never spin. */
			errno = EIO;
			return -1;
		}
		data += w;
		n -= w;
	}
	return 0;
}

int
fput_write(struct fput *p, const uint8_t *data, size_t n)
{
	if (p->state != FPUT_DATA)
		return MERR_PROTOCOL;
	if (n > p->size - p->received) {
		fs_err_set(&p->err, MERR_LIMIT,
		    "more data than the %" PRIu64 " bytes announced: %s",
		    p->size, p->shown);
		put_fail(p);
		return MERR_LIMIT;
	}
	if (write_all(p->fd, data, n) == -1) {
		fs_err_sys(&p->err, errno, "write %s", p->shown);
		put_fail(p);
		return p->err.code;
	}
	sha256_update(&p->hash, data, n);
	p->received += n;
	return 0;
}

/* The new file is what was announced, with its owner and mode: it may
 * be committed. */
static int
put_check(struct fput *p)
{
	uint8_t digest[SHA256_LEN];

	if (p->received != p->size) {
		fs_err_set(&p->err, MERR_EOF,
		    "%" PRIu64 " of %" PRIu64 " bytes received: %s",
		    p->received, p->size, p->shown);
		return p->err.code;
	}
	sha256_final(&p->hash, digest);
	if (memcmp(digest, p->sha256, SHA256_LEN) != 0) {
		fs_err_set(&p->err, MERR_IO, "checksum mismatch: %s",
		    p->shown);
		return p->err.code;
	}
	/* Owner first: chown may clear set-id bits that chmod then sets. */
	if (set_owner(p, p->fd) == -1) {
		fs_err_sys(&p->err, errno, "chown %s", p->shown);
		return p->err.code;
	}
	if (fchmod(p->fd, p->mode) == -1) {
		fs_err_sys(&p->err, errno, "chmod %s", p->shown);
		return p->err.code;
	}
	return 0;
}

/* A file by itself: its data, then its name, then the directory. */
static int
put_commit(struct fput *p)
{
	if (fsync(p->fd) == -1) {
		fs_err_sys(&p->err, errno, "fsync %s", p->shown);
		return p->err.code;
	}
	if (p->tmpname == NULL && tmp_link(p) != 0)
		return p->err.code;
	if (tmp_commit(p) != 0)
		return p->err.code;
	close_fd(&p->fd);
	return 0;
}

static void
batch_remove(struct fput *p)
{
	struct fput **pp;

	for (pp = &batch.head; *pp != NULL; pp = &(*pp)->batch_next)
		if (*pp == p) {
			*pp = p->batch_next;
			break;
		}
	p->batch_next = NULL;
	if (batch.head == NULL && batch.loop != NULL)
		ev_prepare_stop(batch.loop, &batch.flush);
}

/* Has a Put before q in the batch the same directory (synced already)? */
static int
dir_synced_before(struct fput *q, const struct stat *st)
{
	struct stat o;
	struct fput *p;

	for (p = batch.head; p != q; p = p->batch_next)
		if (p->err.code == 0 && fstat(p->dirfd, &o) == 0 &&
		    o.st_dev == st->st_dev && o.st_ino == st->st_ino)
			return 1;
	return 0;
}

/*
 * Commit the batch: one syncfs makes every file's data durable before any
 * of them gets its name; then the renames; then each directory once.
 * Every Put's Result says how its own file fared.
 */
static void
fileput_batch_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct fput *p;
	struct stat st;
	int err = 0;

	(void)w;
	(void)revents;
	ev_prepare_stop(loop, &batch.flush);
	if (batch.head == NULL)
		return;
	if (syncfs(batch.head->fd) == -1)
		err = errno;
	for (p = batch.head; p != NULL; p = p->batch_next) {
		if (err != 0)
			fs_err_sys(&p->err, err, "sync %s", p->shown);
		else if ((p->tmpname != NULL || tmp_link(p) == 0) &&
		    tmp_rename(p) == 0)
			close_fd(&p->fd);
	}
	for (p = batch.head; p != NULL; p = p->batch_next)
		if (p->err.code == 0 && fstat(p->dirfd, &st) == 0 &&
		    !dir_synced_before(p, &st) && fsync(p->dirfd) == -1)
			fs_err_sys(&p->err, errno, "fsync the directory of %s",
			    p->shown);
	/* put_end takes each off the list; done may free nothing here (the
	 * owner frees later), but may cancel others: take the head anew. */
	while ((p = batch.head) != NULL)
		put_end(p, p->committed);
}

int
fput_eof(struct fput *p)
{
	if (p->state != FPUT_DATA)
		return MERR_PROTOCOL;
	if (put_check(p) != 0) {
		put_end(p, 0);
		return 0;
	}
	if (p->size >= FPUT_BATCH_BELOW) {
		(void)put_commit(p);
		put_end(p, p->committed);
		return 0;
	}
	if (batch.loop == NULL) {
		batch.loop = p->loop;
		ev_prepare_init(&batch.flush, fileput_batch_flush_cb);
	}
	p->state = FPUT_SYNC;
	p->batch_next = batch.head;
	batch.head = p;
	ev_prepare_start(batch.loop, &batch.flush);
	return 0;
}

void
fput_cancel(struct fput *p, const char *why)
{
	if (p->state == FPUT_DONE)
		return;
	fs_err_set(&p->err, MERR_EOF, "%s: %s", why,
	    p->shown != NULL ? p->shown : "");
	put_fail(p);
}

void
fput_free(struct fput *p)
{
	if (p == NULL)
		return;
	if (p->state == FPUT_SYNC)
		batch_remove(p);
	slice_stop(&p->slice);
	put_cleanup(p);
	close_fd(&p->dirfd);
	free(p->root);
	free(p->path);
	free(p->shown);
	free(p->target);
	free(p->name);
	free(p);
}
