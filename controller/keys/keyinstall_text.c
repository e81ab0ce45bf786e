/*
 * The authorized_keys text (keyinstall_text.h): whether a key is in it, and
 * the file with one line appended, a key line's fields, a host's label.
 * Pure functions on bytes, with no I/O,
 * so that the unit tests and the fuzzer reach every branch.
 */
#include "keyinstall_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hostlist.h"

/* Length of the token at p (up to blank or end of line). */
static size_t
token_len(const char *p, const char *end)
{
	const char *q = p;

	while (q < end && *q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
		q++;
	return (size_t)(q - p);
}

static const char *
skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static bool
token_is(const char *p, const char *end, const char *word)
{
	size_t n = token_len(p, end);

	return n == strlen(word) && memcmp(p, word, n) == 0;
}

/* "type b64" at p? */
static bool
key_at(const char *p, const char *end, const char *type, const char *b64)
{
	if (!token_is(p, end, type))
		return false;
	p = skip_blanks(p + token_len(p, end), end);
	return token_is(p, end, b64);
}

/* Past an options field: up to the first blank outside double quotes,
 * where a backslash escapes a quote (sshd's rule). */
static const char *
skip_options(const char *p, const char *end)
{
	bool quoted = false;

	for (; p < end && (quoted || (*p != ' ' && *p != '\t')); p++) {
		if (*p == '\\' && p + 1 < end && p[1] == '"')
			p++;
		else if (*p == '"')
			quoted = !quoted;
	}
	return p;
}

bool
keyinstall_has_key(const char *text, size_t len, const char *type,
    const char *b64)
{
	const char *p = text, *end = text + len, *eol;

	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		p = skip_blanks(p, eol);
		if (p < eol && *p != '#' &&
		    (key_at(p, eol, type, b64) ||
			key_at(skip_blanks(skip_options(p, eol), eol), eol,
			    type, b64)))
			return true;
		p = eol + 1;
	}
	return false;
}

int
keyinstall_append(const char *old, size_t oldlen, const char *line, char **out,
    size_t *outlen)
{
	size_t linelen = strlen(line), n = 0;
	char *s;

	if ((s = malloc(oldlen + linelen + 2)) == NULL)
		return MERR_NOMEM;
	if (oldlen > 0) {
		/* old is non-NULL whenever oldlen > 0. */
		// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
		memcpy(s, old, oldlen);
		n = oldlen;
		if (old[oldlen - 1] != '\n')
			s[n++] = '\n';
	}
	/* Bytes with a length (a file's new content), not a C string. */
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result)
	memcpy(s + n, line, linelen);
	n += linelen;
	s[n++] = '\n';
	*out = s;
	*outlen = n;
	return 0;
}

/* --- the session ------------------------------------------------------------- */

/* Split "type b64 comment" into its first two fields. */
int
keyinstall_key_fields(const char *line, char *type, size_t tlen, char *b64,
    size_t blen)
{
	if (sscanf(line, "%63s %8191s", type, b64) != 2 || tlen < 64 ||
	    blen < 8192)
		return MERR_INVAL;
	return 0;
}

/* A short label, as run shows hosts: the name, with the user when two
 * entries share the name, and the port when it is not 22. */
char *
keyinstall_display_name(const struct host_set *hosts, size_t i)
{
	const struct host_spec *s = &hosts->v[i];
	char *out = NULL, port[16] = "";
	bool dup = false;
	size_t j;

	for (j = 0; s->user != NULL && j < hosts->n && !dup; j++)
		dup = j != i && strcmp(hosts->v[j].name, s->name) == 0;
	if (s->port != 0 && s->port != 22)
		snprintf(port, sizeof(port), ":%u", s->port);
	if (asprintf(&out, "%s%s%s%s", dup ? s->user : "", dup ? "@" : "",
		s->name, port) < 0)
		return NULL;
	return out;
}
