/*
 * Landing received files in batches: see landing.h.
 */
#include "landing.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "err.h"

void
landing_init(struct landing *l)
{
	memset(l, 0, sizeof(*l));
}

static void
release_dirs(struct landing *l)
{
	int i;

	for (i = 0; i < l->ndirs; i++)
		close(l->dirs[i].fd);
	l->ndirs = 0;
	l->nfiles = 0;
	l->bytes = 0;
}

void
landing_discard(struct landing *l)
{
	size_t i;

	for (i = 0; i < l->nfiles; i++)
		unlinkat(l->dirs[l->files[i].dir].fd, l->files[i].tmp, 0);
	release_dirs(l);
}

int
landing_flush(struct landing *l)
{
	int i, err = 0;
	size_t n;

	if (l->nfiles == 0) {
		release_dirs(l);
		return 0;
	}
	/* Every file's data and inode reach the disk before any name does:
	 * one syncfs for the batch (its files are all on LOCALDIR's
	 * filesystem, which a host cannot leave: open_parent never follows a
	 * symlink). */
	if (syncfs(l->dirs[0].fd) != 0) {
		err = errno;
		landing_discard(l);
		errno = err;
		return MERR_SYS;
	}
	for (n = 0; n < l->nfiles; n++) {
		struct landing_file *f = &l->files[n];

		if (renameat(l->dirs[f->dir].fd, f->tmp, l->dirs[f->dir].fd,
			f->name) != 0) {
			err = errno;
			break;
		}
		l->landed++;
	}
	for (; n < l->nfiles; n++)
		unlinkat(l->dirs[l->files[n].dir].fd, l->files[n].tmp, 0);
	/* The renames themselves, once per directory. */
	for (i = 0; i < l->ndirs; i++)
		if (fsync(l->dirs[i].fd) != 0 && err == 0)
			err = errno;
	release_dirs(l);
	if (err != 0) {
		errno = err;
		return MERR_SYS;
	}
	return 0;
}

/* A big file is made durable and renamed by itself. */
static int
land_alone(int fd, int dirfd, const char *tmp, const char *name)
{
	int err = 0;

	if (fsync(fd) != 0 || renameat(dirfd, tmp, dirfd, name) != 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
	} else if (fsync(dirfd) != 0)
		err = errno;
	close(fd);
	close(dirfd);
	if (err != 0) {
		errno = err;
		return MERR_SYS;
	}
	return 0;
}

/* The batch's index of dirfd's directory, told apart by device and inode;
 * dirfd is taken when the directory is known already. */
static int
dir_index(struct landing *l, int dirfd)
{
	struct stat st;
	int i;

	if (fstat(dirfd, &st) != 0)
		return -1;
	for (i = 0; i < l->ndirs; i++)
		if (l->dirs[i].dev == st.st_dev &&
		    l->dirs[i].ino == st.st_ino) {
			close(dirfd);
			return i;
		}
	l->dirs[i].fd = dirfd;
	l->dirs[i].dev = st.st_dev;
	l->dirs[i].ino = st.st_ino;
	l->ndirs++;
	return i;
}

int
landing_add(struct landing *l, int fd, uint64_t size, int dirfd,
    const char *tmp, const char *name)
{
	struct landing_file *f;
	int r, dir, err;

	if (size >= LANDING_ALONE) {
		if ((r = land_alone(fd, dirfd, tmp, name)) == 0)
			l->landed++;
		return r;
	}
	close(fd);
	if (l->ndirs == LANDING_DIRS_MAX || l->nfiles == LANDING_FILES_MAX ||
	    l->bytes + size > LANDING_BYTES_MAX) {
		if ((r = landing_flush(l)) != 0) {
			err = errno;
			unlinkat(dirfd, tmp, 0);
			close(dirfd);
			errno = err;
			return r;
		}
	}
	if (ARRAY_RESERVE(l->files, l->capfiles, l->nfiles + 1, 64) != 0)
		goto nomem;
	if ((dir = dir_index(l, dirfd)) < 0) {
		err = errno;
		unlinkat(dirfd, tmp, 0);
		close(dirfd);
		errno = err;
		return MERR_SYS;
	}
	f = &l->files[l->nfiles++];
	f->dir = dir;
	snprintf(f->tmp, sizeof(f->tmp), "%s", tmp);
	snprintf(f->name, sizeof(f->name), "%s", name);
	l->bytes += size;
	return 0;
nomem:
	unlinkat(dirfd, tmp, 0);
	close(dirfd);
	errno = ENOMEM;
	return MERR_SYS;
}

void
landing_free(struct landing *l)
{
	landing_discard(l);
	free(l->files);
	l->files = NULL;
	l->capfiles = 0;
}
