/*
 * --outdir / --errdir: each host's stdout and stderr also written, as it
 * arrives, to DIR/<host> (like pssh -o/-e). The host's label is made into
 * a safe file name; files are created without following a symlink.
 *
 * Descriptors are kept open only up to HOSTFILES_OPEN_MAX at once: a run
 * on ten thousand hosts must not run out of them. Past that a file is
 * opened for each write and closed again.
 */
#ifndef MUSTER_HOSTFILES_H
#define MUSTER_HOSTFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HOSTFILES_OPEN_MAX 128
/* Longest file name made from a label (below NAME_MAX with room). */
#define HOSTFILES_NAME_MAX 200

struct hostfiles {
	int dirfd[2];	    /* stdout dir, stderr dir; -1 when not asked */
	const char *dir[2]; /* as given, for messages */
	size_t nopen;	    /* descriptors kept open */
};

/* One host's (or one host's command's) pair of files. */
struct hostfile {
	char name[HOSTFILES_NAME_MAX + 1];
	int fd[2];	 /* -1 while closed */
	bool created[2]; /* truncated once; appended to afterwards */
	bool failed[2];	 /* a write failed: reported once, then quiet */
};

/*
 * Create (mode 0755) and open the directories; either may be NULL. The
 * same directory for both is refused: two streams would share one file.
 */
int hostfiles_open(struct hostfiles *hf, const char *outdir,
    const char *errdir, char *err, size_t errlen);
void hostfiles_close(struct hostfiles *hf);

/* A file name for label, used by run --outdir and pull alike: letters,
 * digits and "._-@:" are kept, every other byte becomes '_', a leading
 * '.' too (no hidden files, no "." or ".."), never empty, cut to
 * HOSTFILES_NAME_MAX bytes. */
void hostfiles_safe_name(const char *label, char *out, size_t outlen);

void hostfile_init(struct hostfile *f, const char *label);
/*
 * Append bytes of fd 1 (stdout) or 2 (stderr) to the host's file, creating
 * (truncating) it on first use. After a failure (reported once through
 * err, MERR_SYS) further bytes for that file are dropped.
 */
int hostfile_write(struct hostfiles *hf, struct hostfile *f, int fd,
    const uint8_t *p, size_t n, char *err, size_t errlen);
/* The host is done: create the files that got no bytes (so every host has
 * its file, empty or not) and close them. */
int hostfile_done(struct hostfiles *hf, struct hostfile *f, char *err,
    size_t errlen);

#endif
