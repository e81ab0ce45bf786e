/* ssh_config settings libssh 0.10 ignores; see sshcfg.h. */
#include "sshcfg.h"

#include <ctype.h>
#include <fnmatch.h>
#include <glob.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "err.h"
#include "sshfile.h"

#define SSHCFG_MAX_DEPTH 16
#define SSHCFG_LINE_MAX 4096

struct sshcfg_ctx {
	const char *alias, *user, *hostname;
	char home[1024], luser[256];
	struct sshcfg *cfg;
	struct sshcfg_others *others; /* NULL: not wanted */
	char *err;
	size_t errlen;
};

static int sshcfg_file(struct sshcfg_ctx *c, const char *path, bool user_file,
    int depth);

/* The next word of *sp (quotes group, an '=' after the keyword splits). */
static char *
next_word(char **sp)
{
	char *s = *sp, *w;

	while (*s != '\0' && (isspace((unsigned char)*s) || *s == '='))
		s++;
	if (*s == '\0' || *s == '#')
		return NULL;
	if (*s == '"') {
		w = ++s;
		while (*s != '\0' && *s != '"')
			s++;
	} else {
		w = s;
		while (*s != '\0' && !isspace((unsigned char)*s) && *s != '=')
			s++;
	}
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return w;
}

/* OpenSSH's Host rule: some pattern matches, and no negated one does. */
static bool
host_matches(const char *alias, char *patterns)
{
	char *p;
	bool hit = false;

	while ((p = next_word(&patterns)) != NULL) {
		if (*p == '!') {
			if (fnmatch(p + 1, alias, FNM_CASEFOLD) == 0)
				return false;
		} else if (fnmatch(p, alias, FNM_CASEFOLD) == 0)
			hit = true;
	}
	return hit;
}

/* ~ and the %-tokens OpenSSH expands in IdentityFile and CertificateFile. */
static int
sshcfg_expand(struct sshcfg_ctx *c, const char *in, char **out)
{
	char buf[4096];
	size_t n = 0;
	const char *add;
	char one[2] = { 0, 0 };

	if (in[0] == '~' && in[1] == '/') {
		n = (size_t)snprintf(buf, sizeof(buf), "%s", c->home);
		in++;
	}
	for (; *in != '\0' && n < sizeof(buf); in++) {
		add = one;
		one[0] = *in;
		if (*in == '%') {
			switch (*++in) {
			case '%': one[0] = '%'; break;
			case 'd': add = c->home; break;
			case 'u': add = c->luser; break;
			case 'h': add = c->hostname; break;
			case 'n': add = c->alias; break;
			case 'r': add = c->user; break;
			default: return MERR_INVAL;
			}
		}
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", add);
	}
	if (n >= sizeof(buf))
		return MERR_LIMIT;
	return (*out = strdup(buf)) == NULL ? MERR_NOMEM : 0;
}

static int
add_path(struct sshcfg_ctx *c, char **v, size_t *n, const char *arg,
    const char *where)
{
	int r;

	if (*n >= SSHCFG_MAX_FILES) {
		snprintf(c->err, c->errlen, "%s: more than %d files", where,
		    SSHCFG_MAX_FILES);
		return MERR_LIMIT;
	}
	if ((r = sshcfg_expand(c, arg, &v[*n])) != 0) {
		snprintf(c->err, c->errlen,
		    "%s: cannot expand \"%s\" (muster "
		    "knows ~, %%d, %%u, %%h, %%n, %%r and %%%%)",
		    where, arg);
		return r;
	}
	(*n)++;
	return 0;
}

static int
yes_no(struct sshcfg_ctx *c, const char *arg, int *out, const char *where)
{
	if (*out != -1)
		return 0;
	if (strcasecmp(arg, "yes") == 0)
		*out = 1;
	else if (strcasecmp(arg, "no") == 0)
		*out = 0;
	else {
		snprintf(c->err, c->errlen,
		    "%s: expected yes or no, not \"%s\"", where, arg);
		return MERR_PARSE;
	}
	return 0;
}

static int
sshcfg_include(struct sshcfg_ctx *c, char *args, bool user_file, int depth,
    const char *where)
{
	char *a, *path = NULL, rel[4096];
	glob_t g;
	size_t i;
	int r = 0;

	while (r == 0 && (a = next_word(&args)) != NULL) {
		if ((r = sshcfg_expand(c, a, &path)) != 0) {
			snprintf(c->err, c->errlen, "%s: cannot expand \"%s\"",
			    where, a);
			return r;
		}
		/* OpenSSH: relative to ~/.ssh in the user's file, to
		 * /etc/ssh in the system's. */
		if (path[0] == '/')
			snprintf(rel, sizeof(rel), "%s", path);
		else if (user_file)
			snprintf(rel, sizeof(rel), "%s/.ssh/%s", c->home,
			    path);
		else
			snprintf(rel, sizeof(rel), "/etc/ssh/%s", path);
		free(path);
		path = NULL;
		if (glob(rel, 0, NULL, &g) != 0)
			continue;
		for (i = 0; r == 0 && i < g.gl_pathc; i++)
			r = sshcfg_file(c, g.gl_pathv[i], user_file,
			    depth + 1);
		globfree(&g);
	}
	return r;
}

/* HostName, Port, User: the first value wins, as in OpenSSH. */
static int
first_dest(struct sshcfg *cfg, const char *key, const char *arg,
    const char *where)
{
	if (arg == NULL)
		return 0;
	if (strcasecmp(key, "HostName") == 0 &&
	    cfg->hostname_from[0] == '\0') {
		snprintf(cfg->hostname, sizeof(cfg->hostname), "%s", arg);
		snprintf(cfg->hostname_from, sizeof(cfg->hostname_from), "%s",
		    where);
	} else if (strcasecmp(key, "Port") == 0 && cfg->port_from[0] == '\0') {
		cfg->port = (unsigned)strtoul(arg, NULL, 10);
		snprintf(cfg->port_from, sizeof(cfg->port_from), "%s", where);
	} else if (strcasecmp(key, "User") == 0 && cfg->user_from[0] == '\0') {
		snprintf(cfg->user, sizeof(cfg->user), "%s", arg);
		snprintf(cfg->user_from, sizeof(cfg->user_from), "%s", where);
	}
	return 0;
}

/* Another directive that applies (struct sshcfg_others). */
static void
note_other(struct sshcfg_others *o, const char *key, const char *where,
    bool in_match)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (strcasecmp(o->v[i].key, key) == 0)
			return;
	if (o->n == SSHCFG_MAX_OTHER) {
		o->overflow = true;
		return;
	}
	snprintf(o->v[i].key, sizeof(o->v[i].key), "%s", key);
	snprintf(o->v[i].from, sizeof(o->v[i].from), "%s", where);
	o->v[i].in_match = in_match;
	o->n++;
}

static int
sshcfg_line(struct sshcfg_ctx *c, char *s, bool *active, bool *in_match,
    bool user_file, int depth, const char *where)
{
	char *key, *arg;
	struct sshcfg *cfg = c->cfg;
	bool ours;

	if ((key = next_word(&s)) == NULL)
		return 0;
	if (strcasecmp(key, "Host") == 0) {
		*active = host_matches(c->alias, s);
		*in_match = false;
		return 0;
	}
	if (strcasecmp(key, "Match") == 0) {
		arg = next_word(&s);
		*in_match = !(arg != NULL && strcasecmp(arg, "all") == 0);
		*active = !*in_match;
		return 0;
	}
	if (strcasecmp(key, "Include") == 0)
		return *active ?
		    sshcfg_include(c, s, user_file, depth, where) :
		    0;
	if (*active && !*in_match &&
	    (strcasecmp(key, "HostName") == 0 ||
		strcasecmp(key, "Port") == 0 || strcasecmp(key, "User") == 0))
		return first_dest(cfg, key, next_word(&s), where);
	ours = strcasecmp(key, "IdentityFile") == 0 ||
	    strcasecmp(key, "CertificateFile") == 0 ||
	    strcasecmp(key, "IdentitiesOnly") == 0 ||
	    strcasecmp(key, "HashKnownHosts") == 0;
	if (!ours) {
		if (c->others != NULL && (*active || *in_match))
			note_other(c->others, key, where, *in_match);
		return 0;
	}
	if (*in_match) {
		snprintf(c->err, c->errlen,
		    "%s: %s inside a Match block: "
		    "muster evaluates Host blocks only; move it under Host",
		    where, key);
		return MERR_INVAL;
	}
	if (!*active)
		return 0;
	if (c->others != NULL)
		note_other(c->others, key, where, false);
	if ((arg = next_word(&s)) == NULL) {
		snprintf(c->err, c->errlen, "%s: %s without a value", where,
		    key);
		return MERR_PARSE;
	}
	if (strcasecmp(key, "IdentityFile") == 0)
		return add_path(c, cfg->identity, &cfg->n_identity, arg,
		    where);
	if (strcasecmp(key, "CertificateFile") == 0)
		return add_path(c, cfg->certificate, &cfg->n_certificate, arg,
		    where);
	if (strcasecmp(key, "HashKnownHosts") == 0)
		return yes_no(c, arg, &cfg->hash_known_hosts, where);
	if (cfg->identities_only == -1)
		snprintf(cfg->identities_only_from,
		    sizeof(cfg->identities_only_from), "%s", where);
	return yes_no(c, arg, &cfg->identities_only, where);
}

static int
sshcfg_file(struct sshcfg_ctx *c, const char *path, bool user_file, int depth)
{
	char line[SSHCFG_LINE_MAX], where[320];
	bool active = true, in_match = false;
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	if (depth > SSHCFG_MAX_DEPTH) {
		snprintf(c->err, c->errlen,
		    "ssh_config %s: Include nested "
		    "deeper than %d",
		    path, SSHCFG_MAX_DEPTH);
		return MERR_LIMIT;
	}
	/* The same checks as the files libssh reads: never block on a FIFO. */
	if ((r = sshfile_check("ssh_config", path, SSHFILE_CONFIG, c->err,
		 c->errlen)) != 0)
		return r;
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "ssh_config %s line %u", path,
		    lineno);
		line[strcspn(line, "\r\n")] = '\0';
		r = sshcfg_line(c, line, &active, &in_match, user_file, depth,
		    where);
	}
	fclose(f);
	return r;
}

int
sshcfg_read(const char *path, const char *alias, const char *user,
    const char *hostname, struct sshcfg *cfg, char *err, size_t errlen)
{
	return sshcfg_read_all(path, alias, user, hostname, cfg, NULL, err,
	    errlen);
}

int
sshcfg_read_all(const char *path, const char *alias, const char *user,
    const char *hostname, struct sshcfg *cfg, struct sshcfg_others *others,
    char *err, size_t errlen)
{
	struct sshcfg_ctx c = { .alias = alias,
		.user = user ? user : "",
		.hostname = hostname ? hostname : alias,
		.cfg = cfg,
		.others = others,
		.err = err,
		.errlen = errlen };
	struct passwd *pw = getpwuid(getuid());
	char upath[1100];
	int r;

	memset(cfg, 0, sizeof(*cfg));
	if (others != NULL)
		memset(others, 0, sizeof(*others));
	cfg->identities_only = cfg->hash_known_hosts = -1;
	/* libssh takes the home from the passwd entry, not $HOME. */
	snprintf(c.home, sizeof(c.home), "%s", pw ? pw->pw_dir : "/");
	snprintf(c.luser, sizeof(c.luser), "%s", pw ? pw->pw_name : "");
	if (path != NULL)
		return sshcfg_file(&c, path,
		    strcmp(path, "/etc/ssh/ssh_config") != 0, 0);
	snprintf(upath, sizeof(upath), "%s/.ssh/config", c.home);
	if ((r = sshcfg_file(&c, upath, true, 0)) != 0)
		return r;
	return sshcfg_file(&c, "/etc/ssh/ssh_config", false, 0);
}

void
sshcfg_free(struct sshcfg *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_identity; i++)
		free(cfg->identity[i]);
	for (i = 0; i < cfg->n_certificate; i++)
		free(cfg->certificate[i]);
	cfg->n_identity = cfg->n_certificate = 0;
}

#define DEST_WHY                                                               \
	"libssh 0.10 matches Host blocks after a HostName against that name, " \
	"not the alias, so it reads this differently from OpenSSH; put "       \
	"the line in the block with HostName, or before it"

int
sshcfg_check_dest(const struct sshcfg *cfg, const char *alias,
    const char *host, unsigned port, const char *user, char *err,
    size_t errlen)
{
	/* %-tokens are expanded by libssh, not by us: not compared. */
	if (cfg->hostname_from[0] != '\0' &&
	    strchr(cfg->hostname, '%') == NULL && host != NULL &&
	    strcmp(cfg->hostname, host) != 0) {
		snprintf(err, errlen,
		    "%s: HostName %s for %s, but libssh read %s: " DEST_WHY,
		    cfg->hostname_from, cfg->hostname, alias, host);
		return MERR_INVAL;
	}
	if (cfg->port_from[0] != '\0' && cfg->port != port) {
		snprintf(err, errlen,
		    "%s: Port %u for %s, but libssh read %u: " DEST_WHY,
		    cfg->port_from, cfg->port, alias, port);
		return MERR_INVAL;
	}
	if (cfg->user_from[0] != '\0' && strchr(cfg->user, '%') == NULL &&
	    (user == NULL || strcmp(cfg->user, user) != 0)) {
		snprintf(err, errlen,
		    "%s: User %s for %s, but libssh read %s: " DEST_WHY,
		    cfg->user_from, cfg->user, alias, user ? user : "none");
		return MERR_INVAL;
	}
	return 0;
}

/* HostName, User ("" none) and Port as libssh holds them now. */
unsigned
sshcfg_libssh_dest(ssh_session s, char *host, size_t hostlen, char *user,
    size_t userlen)
{
	unsigned int port = 22;
	char *v = NULL;

	host[0] = user[0] = '\0';
	if (ssh_options_get(s, SSH_OPTIONS_HOST, &v) == SSH_OK)
		snprintf(host, hostlen, "%s", v);
	ssh_string_free_char(v);
	v = NULL;
	if (ssh_options_get(s, SSH_OPTIONS_USER, &v) == SSH_OK)
		snprintf(user, userlen, "%s", v);
	ssh_string_free_char(v);
	ssh_options_get_port(s, &port);
	return port;
}
