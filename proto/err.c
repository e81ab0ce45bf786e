#include "err.h"

const char *
merr_str(int err)
{
	switch (err) {
	case MERR_OK: return "success";
	case MERR_AGAIN: return "incomplete input";
	case MERR_NOMEM: return "out of memory";
	case MERR_LIMIT: return "limit exceeded";
	case MERR_FRAME_TOO_BIG: return "frame larger than the maximum";
	case MERR_DECODE: return "malformed message";
	case MERR_PROTOCOL: return "protocol violation";
	case MERR_VERSION: return "protocol version mismatch";
	case MERR_CREDIT: return "flow-control window exceeded";
	case MERR_STREAM: return "unknown stream";
	case MERR_IO: return "I/O error";
	case MERR_EOF: return "unexpected end of stream";
	case MERR_TIMEOUT: return "timed out";
	case MERR_CONNECT: return "connection failed";
	case MERR_SSH: return "SSH error";
	case MERR_HOSTKEY_UNKNOWN: return "host key unknown";
	case MERR_HOSTKEY_CHANGED: return "host key changed";
	case MERR_AUTH: return "authentication failed";
	case MERR_BOOTSTRAP: return "agent bootstrap failed";
	case MERR_INVAL: return "invalid argument";
	case MERR_SYS: return "system error";
	case MERR_PARSE: return "parse error";
	case MERR_EXISTS: return "already exists";
	case MERR_NOTFOUND: return "not found";
	}
	return "unknown error";
}
