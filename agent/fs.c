/*
 * Messages for failed file operations. They carry paths, which may hold
 * any byte but NUL; the controller shows them as they are.
 */
#include "fs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static void
fs_err_vset(struct fs_err *e, int code, const char *fmt, va_list ap)
{
	int n;

	e->code = code;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(e->msg))
		n = sizeof(e->msg) - 1;
	e->len = n;
}

void
fs_err_set(struct fs_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fs_err_vset(e, code, fmt, ap);
	va_end(ap);
}

void
fs_err_sys(struct fs_err *e, int errnum, const char *fmt, ...)
{
	const char *why = strerror(errnum);
	size_t wlen = strlen(why), room;
	va_list ap;
	int code;

	if (errnum == ENOENT)
		code = MERR_NOTFOUND;
	else if (errnum == ENOMEM)
		code = MERR_NOMEM;
	else
		code = MERR_SYS;
	va_start(ap, fmt);
	fs_err_vset(e, code, fmt, ap);
	va_end(ap);
	/* The reason matters more than the end of a long path: keep it. */
	if (wlen > sizeof(e->msg) - 3)
		wlen = sizeof(e->msg) - 3;
	room = sizeof(e->msg) - 1 - 2 - wlen;
	if (e->len > room)
		e->len = room;
	memcpy(e->msg + e->len, ": ", 2);
	memcpy(e->msg + e->len + 2, why, wlen);
	e->len += 2 + wlen;
	e->msg[e->len] = '\0';
}

char *
fs_strdup(const uint8_t *p, size_t n, const char *what, struct fs_err *e)
{
	char *s;

	if (n > 0 && memchr(p, '\0', n) != NULL) {
		fs_err_set(e, MERR_INVAL, "%s contains a NUL byte", what);
		return NULL;
	}
	if ((s = malloc(n + 1)) == NULL) {
		fs_err_set(e, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
		return NULL;
	}
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}
