/* Project-wide error codes: negative ints, 0 is success (OpenSSH ssherr.h). */
#ifndef MUSTER_ERR_H
#define MUSTER_ERR_H

enum muster_err {
	MERR_OK = 0,
	MERR_AGAIN = -1, /* not enough input yet; not a failure */
	MERR_NOMEM = -2,
	MERR_LIMIT = -3, /* a size or count limit would be exceeded */
	MERR_FRAME_TOO_BIG = -4,
	MERR_DECODE = -5,   /* frame body is not a valid message */
	MERR_PROTOCOL = -6, /* valid message, wrong place or order */
	MERR_VERSION = -7,
	MERR_CREDIT = -8, /* peer sent past its flow-control window */
	MERR_STREAM = -9, /* unknown or closed stream id */
	MERR_IO = -10,
	MERR_EOF = -11,
	MERR_TIMEOUT = -12,
	/* -13 was MERR_RESOLVE, never returned: a name that does not resolve
	 * fails the host (HS_UNREACHABLE). Numbers are not reused. */
	MERR_CONNECT = -14,
	MERR_SSH = -15,
	MERR_HOSTKEY_UNKNOWN = -16,
	MERR_HOSTKEY_CHANGED = -17,
	MERR_AUTH = -18,
	MERR_BOOTSTRAP = -19,
	MERR_INVAL = -20,
	MERR_SYS = -21, /* see errno */
	MERR_PARSE = -22,
	MERR_EXISTS = -23,
	MERR_NOTFOUND = -24,
};

const char *merr_str(int err);

#endif
