/*
 * Landing received files: a file that arrived whole and verified waits,
 * under its temporary name, in a batch; the batch is made durable with one
 * syncfs and only then renamed into place, directory by directory, each
 * directory synced once. A reader never sees a partial file under its
 * final name, and a tree of many small files costs one sync per batch
 * instead of two per file.
 *
 * Files of at least LANDING_ALONE bytes are synced and renamed on their
 * own: their own data dominates, and syncfs would also flush whatever else
 * the machine has dirty.
 */
#ifndef MUSTER_LANDING_H
#define MUSTER_LANDING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LANDING_FILES_MAX 1024
#define LANDING_DIRS_MAX 32
#define LANDING_BYTES_MAX (64ull << 20)
#define LANDING_ALONE (8ull << 20)

struct landing_file {
	int dir; /* index into dirs */
	char tmp[320];
	char name[256];
};

struct landing_dir {
	int fd;
	dev_t dev; /* to tell directories apart */
	ino_t ino;
};

struct landing {
	struct landing_file *files;
	size_t nfiles, capfiles;
	struct landing_dir dirs[LANDING_DIRS_MAX];
	int ndirs;
	uint64_t bytes;
	size_t landed; /* files put in place, all batches */
};

void landing_init(struct landing *l);
/*
 * fd: the complete temporary file tmp (closed here, whatever happens) in
 * the directory dirfd (taken). The file lands now or
 * with its batch. 0, or MERR_SYS with errno set: the file was removed and
 * the batch landed as far as it could.
 */
int landing_add(struct landing *l, int fd, uint64_t size, int dirfd,
    const char *tmp, const char *name);
/* Sync and rename every waiting file. 0, or MERR_SYS with errno: the
 * files not yet renamed were removed. */
int landing_flush(struct landing *l);
/* Remove every waiting file (nothing lands) and release the batch. */
void landing_discard(struct landing *l);
void landing_free(struct landing *l);

#endif
