#include "sshroute.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <glob.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "err.h"
#include "sshfile.h"

#define SYSTEM_CONFIG "/etc/ssh/ssh_config"
#define INCLUDE_DEPTH_MAX 16
#define LINE_MAX_LEN 4096

/* Whether a block's criteria hold for the host. */
enum applies { NO, YES, MAYBE };

/*
 * Directives that change the route or the identity and that muster does
 * not implement, with the one value that asks for nothing (NULL: every
 * value asks for something). libssh ignores or cannot honour all of them
 * once we own the socket. (IdentitiesOnly and CertificateFile, which
 * libssh ignores too, muster reads itself: sshcfg.c.)
 */
static const struct {
	const char *name;
	const char *harmless;
	const char *why;
} refused[] = {
	{ "BindAddress", NULL, "the local address of the connection" },
	{ "BindInterface", NULL, "the local interface of the connection" },
	{ "AddressFamily", "any", "the address family of the connection" },
	{ "HostKeyAlias", NULL, "the name the host key is checked under" },
	{ "PKCS11Provider", "none", "where the keys come from" },
	{ "SecurityKeyProvider", "internal", "where the keys come from" },
	{ "ProxyUseFdpass", "no", "how the proxy hands over the connection" },
	{ "CanonicalizeHostname", "no", "the name that is connected to" },
};
#define N_REFUSED (sizeof(refused) / sizeof(refused[0]))

struct scan {
	const char *host;   /* the name as given */
	char hostname[256]; /* the first HostName that applied */
	char localuser[64];
	bool system; /* reading the system file: relative Include */
	bool route_seen;
	bool refused_seen[N_REFUSED];
	struct sshroute *route;
	char *err;
	size_t errlen;
};

static int scan_file(struct scan *sc, const char *path, enum applies active,
    int depth);

const char *
sshroute_kind_str(enum sshroute_kind kind)
{
	switch (kind) {
	case SSHROUTE_COMMAND: return "ProxyCommand";
	case SSHROUTE_JUMP: return "ProxyJump";
	default: return "direct";
	}
}

/* The next whitespace-separated token of *s, quotes removed; NULL at the
 * end. Writes into the line. */
static char *
next_token(char **s)
{
	char *p = *s, *tok;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '#')
		return NULL;
	if (*p == '"') {
		tok = ++p;
		while (*p != '\0' && *p != '"')
			p++;
	} else {
		tok = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
	}
	if (*p != '\0')
		*p++ = '\0';
	*s = p;
	return tok;
}

/* One pattern list ("web*,!web9" or tokens of a Host line) against name:
 * some pattern matches and no negated one does. */
static bool
pattern_match(const char *pat, const char *name)
{
	bool negate = *pat == '!';

	if (negate)
		pat++;
	return fnmatch(pat, name, FNM_CASEFOLD) == 0;
}

static int
list_match(char *list, const char *name)
{
	char *save = NULL, *p;
	int r = 0;

	for (p = strtok_r(list, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (!pattern_match(p, name))
			continue;
		if (*p == '!')
			return -1;
		r = 1;
	}
	return r;
}

static enum applies
host_line(struct scan *sc, char *args)
{
	char *tok;
	bool any = false;

	while ((tok = next_token(&args)) != NULL) {
		if (!pattern_match(tok, sc->host))
			continue;
		if (*tok == '!')
			return NO;
		any = true;
	}
	return any ? YES : NO;
}

static enum applies
match_line(struct scan *sc, char *args)
{
	enum applies all = YES, one;
	char *tok, *val;
	bool negate;
	int m;

	while ((tok = next_token(&args)) != NULL) {
		negate = *tok == '!';
		if (negate)
			tok++;
		if (strcasecmp(tok, "all") == 0) {
			one = YES;
		} else if (strcasecmp(tok, "canonical") == 0 ||
		    strcasecmp(tok, "final") == 0) {
			one = MAYBE;
		} else {
			if ((val = next_token(&args)) == NULL)
				return MAYBE;
			if (strcasecmp(tok, "host") == 0) {
				m = list_match(val,
				    sc->hostname[0] != '\0' ?
					sc->hostname :
					sc->host);
				one = m > 0 ? YES : NO;
			} else if (strcasecmp(tok, "originalhost") == 0) {
				m = list_match(val, sc->host);
				one = m > 0 ? YES : NO;
			} else if (strcasecmp(tok, "localuser") == 0) {
				m = list_match(val, sc->localuser);
				one = m > 0 ? YES : NO;
			} else
				one = MAYBE; /* exec, user, ... */
		}
		if (negate && one != MAYBE)
			one = one == YES ? NO : YES;
		if (one == NO)
			return NO;
		if (one == MAYBE)
			all = MAYBE;
	}
	return all;
}

static int
include_line(struct scan *sc, char *args, enum applies active, int depth,
    const char *where)
{
	char path[1024], home[1024];
	glob_t g;
	char *tok;
	size_t i;
	int r;

	while ((tok = next_token(&args)) != NULL) {
		if (tok[0] == '~' && tok[1] == '/') {
			if (sshfile_user_path("", home, sizeof(home)) != 0)
				continue;
			/* home is ".../.ssh/": drop ".ssh/" */
			home[strlen(home) - 5] = '\0';
			snprintf(path, sizeof(path), "%s%s", home, tok + 2);
		} else if (tok[0] == '/')
			snprintf(path, sizeof(path), "%s", tok);
		else if (sc->system)
			snprintf(path, sizeof(path), "/etc/ssh/%s", tok);
		else {
			if (sshfile_user_path(tok, path, sizeof(path)) != 0)
				continue;
		}
		memset(&g, 0, sizeof(g));
		if (glob(path, 0, NULL, &g) != 0) {
			globfree(&g);
			continue; /* nothing matched: nothing included */
		}
		for (i = 0; i < g.gl_pathc; i++)
			if ((r = scan_file(sc, g.gl_pathv[i], active,
				 depth + 1)) != 0) {
				globfree(&g);
				return r;
			}
		globfree(&g);
	}
	(void)where;
	return 0;
}

static int
route_line(struct scan *sc, enum sshroute_kind kind, char *args,
    const char *where)
{
	char *v;
	size_t n;

	if (sc->route_seen)
		return 0;
	sc->route_seen = true;
	while (*args == ' ' || *args == '\t')
		args++;
	n = strlen(args);
	while (n > 0 && isspace((unsigned char)args[n - 1]))
		args[--n] = '\0';
	v = args;
	if (kind == SSHROUTE_JUMP && (v = next_token(&args)) == NULL)
		v = "";
	if (*v == '\0') {
		snprintf(sc->err, sc->errlen, "%s: %s without a value", where,
		    sshroute_kind_str(kind));
		return MERR_PARSE;
	}
	if (strcasecmp(v, "none") == 0) {
		sc->route->kind = SSHROUTE_DIRECT;
		snprintf(sc->route->where, sizeof(sc->route->where), "%s",
		    where);
		return 0;
	}
	if (strlen(v) >= sizeof(sc->route->value)) {
		snprintf(sc->err, sc->errlen, "%s: %s longer than %zu bytes",
		    where, sshroute_kind_str(kind),
		    sizeof(sc->route->value) - 1);
		return MERR_LIMIT;
	}
	sc->route->kind = kind;
	snprintf(sc->route->value, sizeof(sc->route->value), "%s", v);
	snprintf(sc->route->where, sizeof(sc->route->where), "%s", where);
	return 0;
}

static int
refused_line(struct scan *sc, size_t i, char *args, const char *where)
{
	char *v = next_token(&args);

	if (sc->refused_seen[i])
		return 0;
	sc->refused_seen[i] = true;
	if (v != NULL && refused[i].harmless != NULL &&
	    strcasecmp(v, refused[i].harmless) == 0)
		return 0;
	snprintf(sc->err, sc->errlen,
	    "%s: %s %s sets %s, which muster does "
	    "not implement: refusing to connect without it",
	    where, refused[i].name, v != NULL ? v : "", refused[i].why);
	return MERR_INVAL;
}

static int
scan_line(struct scan *sc, char *line, enum applies *active, int depth,
    const char *where)
{
	char *s = line, *kw;
	size_t i;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0' || *s == '#')
		return 0;
	kw = s;
	while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '=')
		s++;
	if (*s != '\0') {
		*s++ = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '=')
			s++;
	}
	if (strcasecmp(kw, "Host") == 0) {
		*active = host_line(sc, s);
		return 0;
	}
	if (strcasecmp(kw, "Match") == 0) {
		*active = match_line(sc, s);
		return 0;
	}
	if (*active == NO)
		return 0;
	if (strcasecmp(kw, "Include") == 0)
		return include_line(sc, s, *active, depth, where);
	if (*active == YES && strcasecmp(kw, "HostName") == 0 &&
	    sc->hostname[0] == '\0') {
		char *v = next_token(&s);

		if (v != NULL)
			snprintf(sc->hostname, sizeof(sc->hostname), "%s", v);
		return 0;
	}
	/* The route: only a block that surely applies decides it; libssh's
	 * own reading is the cross-check for the rest. */
	if (*active == YES && strcasecmp(kw, "ProxyCommand") == 0)
		return route_line(sc, SSHROUTE_COMMAND, s, where);
	if (*active == YES && strcasecmp(kw, "ProxyJump") == 0)
		return route_line(sc, SSHROUTE_JUMP, s, where);
	for (i = 0; i < N_REFUSED; i++)
		if (strcasecmp(kw, refused[i].name) == 0)
			return refused_line(sc, i, s, where);
	return 0;
}

static int
scan_file(struct scan *sc, const char *path, enum applies active, int depth)
{
	char line[LINE_MAX_LEN], where[600];
	FILE *f;
	size_t lineno = 0, n;
	int r = 0;

	if (depth > INCLUDE_DEPTH_MAX) {
		snprintf(sc->err, sc->errlen,
		    "%s: Include nested deeper than "
		    "%d",
		    path, INCLUDE_DEPTH_MAX);
		return MERR_LIMIT;
	}
	if ((r = sshfile_check("ssh_config", path, SSHFILE_CONFIG, sc->err,
		 sc->errlen)) != 0)
		return MERR_PARSE;
	if ((f = fopen(path, "re")) == NULL)
		return 0; /* none: nothing configured, as OpenSSH */
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			snprintf(sc->err, sc->errlen,
			    "%s:%zu: line longer than "
			    "%d bytes",
			    path, lineno, LINE_MAX_LEN - 2);
			r = MERR_LIMIT;
			break;
		}
		snprintf(where, sizeof(where), "%s:%zu", path, lineno);
		if ((r = scan_line(sc, line, &active, depth, where)) != 0)
			break;
	}
	fclose(f);
	return r;
}

int
sshroute_lookup(const char *config, const char *host, struct sshroute *route,
    char *err, size_t errlen)
{
	struct scan sc;
	struct passwd *pw = getpwuid(getuid());
	char path[1024];
	int r;

	memset(&sc, 0, sizeof(sc));
	memset(route, 0, sizeof(*route));
	route->kind = SSHROUTE_DIRECT;
	sc.host = host;
	sc.route = route;
	sc.err = err;
	sc.errlen = errlen;
	if (pw != NULL)
		snprintf(sc.localuser, sizeof(sc.localuser), "%s",
		    pw->pw_name);
	if (config != NULL)
		return scan_file(&sc, config, YES, 0);
	if (sshfile_user_path("config", path, sizeof(path)) == 0 &&
	    (r = scan_file(&sc, path, YES, 0)) != 0)
		return r;
	sc.system = true;
	return scan_file(&sc, SYSTEM_CONFIG, YES, 0);
}

void
sshroute_from_spec(const struct host_spec *spec, struct sshroute *route)
{
	memset(route, 0, sizeof(*route));
	route->kind = spec->route_kind == HOST_ROUTE_COMMAND ?
	    SSHROUTE_COMMAND :
	    SSHROUTE_JUMP;
	snprintf(route->value, sizeof(route->value), "%s",
	    spec->route ? spec->route : "");
	snprintf(route->where, sizeof(route->where), "%s",
	    spec->route_origin ? spec->route_origin : "inventory");
}
