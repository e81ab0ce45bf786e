/*
 * What the file streams (Put, Get) share: the entry kinds as the protocol
 * numbers them, request strings, and the reason an operation failed as it
 * goes into Result: an err.h code and a message naming the operation and
 * the path, "write /x/y: No space left on device".
 */
#ifndef MUSTER_AGENT_FS_H
#define MUSTER_AGENT_FS_H

#include <stddef.h>
#include <stdint.h>

enum fs_kind {
	FS_FILE = 0,
	FS_DIR = 1,
	FS_LINK = 2,
};

/* Room for an operation, a long path and strerror; longer is cut. */
#define FS_MSG_MAX 512

struct fs_err {
	int code; /* err.h, negative; 0 while nothing failed */
	size_t len;
	char msg[FS_MSG_MAX];
};

void fs_err_set(struct fs_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The code follows errnum (MERR_NOTFOUND for ENOENT, MERR_NOMEM, else
 * MERR_SYS) and the message ends in ": <strerror>". */
void fs_err_sys(struct fs_err *e, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A request's bytes as a C string. NULL with e set (MERR_INVAL) if they
 * hold a NUL, which would silently cut the name short. */
char *fs_strdup(const uint8_t *p, size_t n, const char *what,
    struct fs_err *e);

#endif
