/* The known_hosts lines a relay gets; see relaykh.h. */
#include "relaykh.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"
#include "hostcert.h"

/* A known_hosts line is short; a longer one is not a host key line. */
#define RELAYKH_LINE_MAX 16384

static void
relaykh_lookup_name(const struct host_spec *h, char *out, size_t outlen)
{
	if (h->port == 0 || h->port == 22)
		snprintf(out, outlen, "%s", host_spec_addr(h));
	else
		snprintf(out, outlen, "[%s]:%u", host_spec_addr(h), h->port);
}

static void
relaykh_written_name(const struct host_spec *h, char *out, size_t outlen)
{
	if (h->port == 0 || h->port == 22)
		snprintf(out, outlen, "%s", h->name);
	else
		snprintf(out, outlen, "[%s]:%u", h->name, h->port);
}

static bool
relaykh_matches(const char *patterns, const char *name)
{
	char *copy;
	bool m;

	if ((copy = strdup(patterns)) == NULL)
		return false;
	m = hostcert_patterns_match(copy, name);
	free(copy);
	return m;
}

void
relaykh_free(struct relaykh *kh)
{
	free(kh->file);
	free(kh->text);
	free(kh->lines);
	memset(kh, 0, sizeof(*kh));
}

int
relaykh_build(const char *path, const struct host_spec *const *hosts, size_t n,
    struct relaykh *kh, char *err, size_t errlen)
{
	char def[1024],
	    *line = NULL, *p, *pats, *rest, lookup[600], written[600];
	bool *got = NULL;
	size_t cap = 0, len = 0, i, linescap = 0;
	uint32_t lineno = 0;
	FILE *f = NULL, *out = NULL;
	int r = 0;

	memset(kh, 0, sizeof(*kh));
	if (path == NULL) {
		snprintf(def, sizeof(def), "%s/.ssh/known_hosts",
		    getenv("HOME") != NULL ? getenv("HOME") : "");
		path = def;
	}
	if ((kh->file = strdup(path)) == NULL ||
	    (got = calloc(n > 0 ? n : 1, sizeof(*got))) == NULL ||
	    (out = open_memstream(&kh->text, &len)) == NULL) {
		free(got);
		relaykh_free(kh);
		return MERR_NOMEM;
	}
	if ((f = fopen(path, "r")) == NULL && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		r = MERR_SYS;
		goto out;
	}
	while (f != NULL && getline(&line, &cap, f) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#' || strlen(p) > RELAYKH_LINE_MAX)
			continue;
		if (strncmp(p, "@revoked", 8) == 0) {
			snprintf(err, errlen,
			    "%s has @revoked lines, which muster does not "
			    "support",
			    path);
			r = MERR_PARSE;
			goto out;
		}
		if (*p == '@') /* @cert-authority: libssh cannot use it */
			continue;
		pats = p;
		if ((rest = strpbrk(p, " \t")) == NULL)
			continue;
		*rest++ = '\0';
		rest += strspn(rest, " \t");
		for (i = 0; i < n; i++) {
			relaykh_lookup_name(hosts[i], lookup, sizeof(lookup));
			relaykh_written_name(hosts[i], written,
			    sizeof(written));
			if (!relaykh_matches(pats, lookup) &&
			    !relaykh_matches(pats, written))
				continue;
			if ((r = ARRAY_RESERVE(kh->lines, linescap,
				 kh->nlines + 1, 64)) != 0)
				goto out;
			kh->lines[kh->nlines++] = lineno;
			fprintf(out, "%s %s\n", lookup, rest);
			got[i] = true;
		}
	}
	for (i = 0; i < n; i++)
		kh->nhosts += got[i];
out:
	if (f != NULL)
		fclose(f);
	free(line);
	free(got);
	if (fclose(out) != 0 && r == 0)
		r = MERR_NOMEM;
	if (r != 0)
		relaykh_free(kh);
	return r;
}
