/* The known_hosts lines a relay gets; see relaykh.h. */
#include "relaykh.h"

#include <ctype.h>
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

/*
 * The hosts' names, indexed: a known_hosts line of plain names (the usual
 * "name,addr TYPE KEY") finds its hosts by lookup, so that a file of a
 * line per host and a relay of thousands of hosts cost O(lines + hosts),
 * not their product (10,000 of each: 20 s before the run started). Lines
 * with wildcards, negations or hashed names are matched against every
 * host, as before.
 */
struct relaykh_names {
	char **lookup, **written; /* as the relay looks up, as written */
	struct relaykh_slot {
		char *key; /* lower case; NULL: empty */
		size_t host;
	} * slot;
	size_t nslot;
	uint32_t *stamp; /* the line a host was last written for */
};

static void
relaykh_names_free(struct relaykh_names *nm, size_t n)
{
	size_t i;

	for (i = 0; nm->lookup != NULL && i < n; i++)
		free(nm->lookup[i]);
	for (i = 0; nm->written != NULL && i < n; i++)
		free(nm->written[i]);
	for (i = 0; nm->slot != NULL && i < nm->nslot; i++)
		free(nm->slot[i].key);
	free(nm->lookup);
	free(nm->written);
	free(nm->slot);
	free(nm->stamp);
	memset(nm, 0, sizeof(*nm));
}

static size_t
relaykh_hash(const char *s, size_t len)
{
	size_t h = 2166136261u, i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)tolower((unsigned char)s[i])) *
		    16777619u;
	return h;
}

static int
relaykh_names_put(struct relaykh_names *nm, const char *name, size_t host)
{
	size_t len = strlen(name), at, i;
	char *key;

	if ((key = strdup(name)) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < len; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	at = relaykh_hash(name, len) & (nm->nslot - 1);
	while (nm->slot[at].key != NULL)
		at = (at + 1) & (nm->nslot - 1);
	nm->slot[at].key = key;
	nm->slot[at].host = host;
	return 0;
}

static int
relaykh_names_build(struct relaykh_names *nm,
    const struct host_spec *const *hosts, size_t n)
{
	char name[600];
	size_t i;
	int r;

	memset(nm, 0, sizeof(*nm));
	nm->nslot = 16;
	while (nm->nslot < 4 * n)
		nm->nslot *= 2;
	if ((nm->lookup = calloc(n + 1, sizeof(*nm->lookup))) == NULL ||
	    (nm->written = calloc(n + 1, sizeof(*nm->written))) == NULL ||
	    (nm->stamp = calloc(n + 1, sizeof(*nm->stamp))) == NULL ||
	    (nm->slot = calloc(nm->nslot, sizeof(*nm->slot))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++) {
		relaykh_lookup_name(hosts[i], name, sizeof(name));
		if ((nm->lookup[i] = strdup(name)) == NULL)
			return MERR_NOMEM;
		relaykh_written_name(hosts[i], name, sizeof(name));
		if ((nm->written[i] = strdup(name)) == NULL)
			return MERR_NOMEM;
		if ((r = relaykh_names_put(nm, nm->lookup[i], i)) != 0)
			return r;
		if (strcmp(nm->written[i], nm->lookup[i]) != 0 &&
		    (r = relaykh_names_put(nm, nm->written[i], i)) != 0)
			return r;
	}
	return 0;
}

/* Patterns that are plain names only: no wildcard, negation or hash. */
static bool
relaykh_plain(const char *pats)
{
	return strpbrk(pats, "*?!|") == NULL;
}

/* Write host i's line (once per known_hosts line). */
static int
relaykh_emit(struct relaykh *kh, struct relaykh_names *nm, size_t i,
    uint32_t lineno, const char *rest, FILE *out, size_t *linescap, bool *got)
{
	int r;

	if (nm->stamp[i] == lineno)
		return 0;
	nm->stamp[i] = lineno;
	if ((r = ARRAY_RESERVE(kh->lines, *linescap, kh->nlines + 1, 64)) != 0)
		return r;
	kh->lines[kh->nlines++] = lineno;
	fprintf(out, "%s %s\n", nm->lookup[i], rest);
	got[i] = true;
	return 0;
}

/* The hosts a line of plain names names, by lookup. */
static int
relaykh_by_name(struct relaykh *kh, struct relaykh_names *nm, char *pats,
    uint32_t lineno, const char *rest, FILE *out, size_t *linescap, bool *got)
{
	char *p, *save = NULL;
	size_t at, len, j;
	int r;

	for (p = strtok_r(pats, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		len = strlen(p);
		for (j = 0; j < len; j++)
			p[j] = (char)tolower((unsigned char)p[j]);
		for (at = relaykh_hash(p, len) & (nm->nslot - 1);
		     nm->slot[at].key != NULL; at = (at + 1) & (nm->nslot - 1))
			if (strcmp(nm->slot[at].key, p) == 0 &&
			    (r = relaykh_emit(kh, nm, nm->slot[at].host,
				 lineno, rest, out, linescap, got)) != 0)
				return r;
	}
	return 0;
}

int
relaykh_build(const char *path, const struct host_spec *const *hosts, size_t n,
    struct relaykh *kh, char *err, size_t errlen)
{
	struct relaykh_names nm;
	char def[1024], *line = NULL, *p, *pats, *rest;
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
	if ((r = relaykh_names_build(&nm, hosts, n)) != 0 ||
	    (kh->file = strdup(path)) == NULL ||
	    (got = calloc(n > 0 ? n : 1, sizeof(*got))) == NULL ||
	    (out = open_memstream(&kh->text, &len)) == NULL) {
		relaykh_names_free(&nm, n);
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
		if (relaykh_plain(pats)) {
			if ((r = relaykh_by_name(kh, &nm, pats, lineno, rest,
				 out, &linescap, got)) != 0)
				goto out;
			continue;
		}
		for (i = 0; i < n; i++)
			if ((relaykh_matches(pats, nm.lookup[i]) ||
				relaykh_matches(pats, nm.written[i])) &&
			    (r = relaykh_emit(kh, &nm, i, lineno, rest, out,
				 &linescap, got)) != 0)
				goto out;
	}
	for (i = 0; i < n; i++)
		kh->nhosts += got[i];
out:
	if (f != NULL)
		fclose(f);
	free(line);
	free(got);
	relaykh_names_free(&nm, n);
	if (fclose(out) != 0 && r == 0)
		r = MERR_NOMEM;
	if (r != 0)
		relaykh_free(kh);
	return r;
}
