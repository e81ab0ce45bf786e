#include "become.h"

#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "bytes.h"

#define MARKER_PREFIX "MUSTER-BECOME-"

enum { FILTER_SEARCH, FILTER_EAT_NEWLINE, FILTER_PASS };

/*
 * $0 is the marker, $1 the stdin marker (may be empty), the rest the
 * command. Lines up to the stdin marker are read with the shell's read,
 * which takes one byte at a time from a pipe: nothing past the marker is
 * consumed. The markers are printed first, before anything of the
 * command can run.
 */
static const char wrapper_pipes[] =
    "printf '%s\\n' \"$0\"; printf '%s\\n' \"$0\" >&2; m=$1; shift; "
    "if [ -n \"$m\" ]; then while IFS= read -r l; do "
    "[ \"$l\" = \"$m\" ] && break; done; l=; fi; exec \"$@\"";
/* On a terminal stdout and stderr are one stream: one marker. */
static const char wrapper_tty[] =
    "printf '%s\\n' \"$0\"; m=$1; shift; "
    "if [ -n \"$m\" ]; then while IFS= read -r l; do "
    "[ \"$l\" = \"$m\" ] && break; done; l=; fi; exec \"$@\"";

int
become_marker(char out[BECOME_MARKER_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[16];
	size_t i, off = strlen(MARKER_PREFIX);
	ssize_t n;

	while ((n = getrandom(rnd, sizeof(rnd), 0)) == -1 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(rnd))
		return MERR_SYS;
	memcpy(out, MARKER_PREFIX, off);
	for (i = 0; i < sizeof(rnd); i++) {
		out[off + 2 * i] = hex[rnd[i] >> 4];
		out[off + 2 * i + 1] = hex[rnd[i] & 15];
	}
	out[BECOME_MARKER_LEN] = '\0';
	return 0;
}

int
become_argv(const Muster__Exec *ex, const char *marker,
    const char *stdin_marker, int tty, char ***out)
{
	const char *head[16];
	size_t nhead = 0, ncmd, i, k = 0;
	char **argv;
	int r = 0;

	*out = NULL;
	/* sudo would take "-x" for an option, not a user. */
	if (ex->become_user.len == 0 || ex->become_user.data[0] == '-')
		return MERR_INVAL;
	/* On a terminal sudo flushes pending input when it reads the
	 * password: the lines queued behind it would be lost. */
	if (tty && ex->become_password.len > 0)
		return MERR_INVAL;
	head[nhead++] = "sudo";
	if (ex->become_password.len > 0) {
		head[nhead++] = "-S";
		head[nhead++] = "-p";
		head[nhead++] = "";
	} else
		head[nhead++] = "-n";
	head[nhead++] = "-u";
	head[nhead++] = NULL; /* the user, below */
	head[nhead++] = "--";
	head[nhead++] = "/bin/sh";
	head[nhead++] = "-c";
	head[nhead++] = tty ? wrapper_tty : wrapper_pipes;
	head[nhead++] = marker;
	head[nhead++] = stdin_marker;
	ncmd = ex->n_argv > 0 ? ex->n_argv : 3;
	if ((argv = calloc(nhead + ncmd + 1, sizeof(*argv))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < nhead; i++, k++) {
		if (head[i] == NULL)
			argv[k] = bytes_cstr(&ex->become_user, &r);
		else if ((argv[k] = strdup(head[i])) == NULL)
			r = MERR_NOMEM;
		if (argv[k] == NULL)
			goto fail;
	}
	if (ex->n_argv > 0) {
		for (i = 0; i < ex->n_argv; i++, k++)
			if ((argv[k] = bytes_cstr(&ex->argv[i], &r)) == NULL)
				goto fail;
	} else {
		if ((argv[k++] = strdup("/bin/sh")) == NULL ||
		    (argv[k++] = strdup("-c")) == NULL) {
			r = MERR_NOMEM;
			goto fail;
		}
		if ((argv[k++] = bytes_cstr(&ex->shell_command, &r)) == NULL)
			goto fail;
	}
	*out = argv;
	return 0;
fail:
	bytes_free_argv(argv);
	return r;
}

int
become_preamble(const ProtobufCBinaryData *password, const char *stdin_marker,
    uint8_t *out, size_t outlen, size_t *len)
{
	size_t ml = strlen(stdin_marker), n = 0, i;

	*len = 0;
	/* sudo reads one line: a newline would end the password early and
	 * the rest would become a second attempt. */
	if (password->len == 0 || password->len > BECOME_PASSWORD_MAX ||
	    memchr(password->data, '\n', password->len) != NULL ||
	    memchr(password->data, '\r', password->len) != NULL ||
	    memchr(password->data, '\0', password->len) != NULL)
		return MERR_INVAL;
	if (password->len + 1 + BECOME_PAD_LINES + ml + 1 > outlen)
		return MERR_LIMIT;
	/* Bytes for the pipe, with a length: no NUL wanted. */
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(out, password->data, password->len);
	n = password->len;
	out[n++] = '\n';
	for (i = 0; i < BECOME_PAD_LINES; i++)
		out[n++] = '\n';
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
	memcpy(out + n, stdin_marker, ml);
	n += ml;
	out[n++] = '\n';
	*len = n;
	return 0;
}

void
become_filter_init(struct become_filter *f, const char *marker)
{
	size_t i, k = 0;

	memset(f, 0, sizeof(*f));
	f->mlen = strlen(marker);
	if (f->mlen > BECOME_MARKER_LEN)
		f->mlen = BECOME_MARKER_LEN;
	memcpy(f->marker, marker, f->mlen);
	/* KMP: after a mismatch, how much of the marker is still matched. */
	f->fail[0] = 0;
	for (i = 1; i < f->mlen; i++) {
		while (k > 0 && f->marker[i] != f->marker[k])
			k = f->fail[k - 1];
		if (f->marker[i] == f->marker[k])
			k++;
		f->fail[i] = (uint8_t)k;
	}
	f->state = FILTER_SEARCH;
}

/* Make room in held: pass on what cannot be part of a marker. */
static void
spill(struct become_filter *f, become_emit_fn emit, void *arg)
{
	size_t keep = f->matched, out = f->nheld - keep;

	if (out > 0)
		emit(arg, f->held, out);
	memmove(f->held, f->held + out, keep);
	f->nheld = keep;
	f->spilled = 1;
}

void
become_filter_feed(struct become_filter *f, const uint8_t *p, size_t n,
    become_emit_fn emit, void *arg)
{
	size_t i = 0, pre;
	uint8_t c;

	while (i < n && f->state == FILTER_SEARCH) {
		c = p[i++];
		if (f->nheld == sizeof(f->held))
			spill(f, emit, arg);
		f->held[f->nheld++] = c;
		while (f->matched > 0 && c != (uint8_t)f->marker[f->matched])
			f->matched = f->fail[f->matched - 1];
		if (c == (uint8_t)f->marker[f->matched])
			f->matched++;
		if (f->matched < f->mlen)
			continue;
		/* Found: what came before is sudo's, and it worked. */
		pre = f->nheld - f->mlen;
		if (pre > 0)
			emit(arg, f->held, pre);
		f->nheld = 0;
		f->state = FILTER_EAT_NEWLINE;
	}
	while (i < n && f->state == FILTER_EAT_NEWLINE) {
		c = p[i];
		if (c == '\r' && !f->seen_cr) {
			f->seen_cr = 1;
			i++;
		} else {
			if (c == '\n')
				i++;
			f->state = FILTER_PASS;
		}
	}
	if (i < n && f->state == FILTER_PASS)
		emit(arg, p + i, n - i);
}

int
become_filter_found(const struct become_filter *f)
{
	return f->state != FILTER_SEARCH;
}

size_t
become_filter_held(const struct become_filter *f, const uint8_t **p)
{
	*p = f->held;
	return f->state == FILTER_SEARCH ? f->nheld : 0;
}
