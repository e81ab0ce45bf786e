/* A host behind a relay: the controller's settings for it; see relayhost.h. */
#include "relayhost.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <openssl/evp.h>

#include "err.h"
#include "sshcfg.h"
#include "sshopt.h"
#include "sshroute.h"

#define AGENT_REPLY_MAX (256u << 10)
#define AGENT_KEYS_MAX 1024
#define AGENT_WAIT_MS 5000

/* SSH agent protocol (draft-miller-ssh-agent): the two messages we use. */
#define SSH_AGENTC_REQUEST_IDENTITIES 11
#define SSH_AGENT_IDENTITIES_ANSWER 12

struct relayhost_agent {
	bool asked;
	char why[256]; /* why the agent could not be asked; "" if it was */
	char **b64;    /* each key's public blob, base64 */
	size_t n;
};

void
relayhost_agent_free(struct relayhost_agent *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n; i++)
		free(a->b64[i]);
	free(a->b64);
	free(a);
}

/* All of len bytes, within the agent's deadline. */
static int
agent_io(int fd, unsigned char *p, size_t len, bool out)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	ssize_t n;

	while (len > 0) {
		if (poll(&pfd, 1, AGENT_WAIT_MS) <= 0)
			return MERR_TIMEOUT;
		n = out ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MERR_EOF;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* The identities answer's blobs into a, base64 (as a .pub file has them). */
static int
agent_parse(struct relayhost_agent *a, const unsigned char *p, size_t len)
{
	uint32_t nkeys, i, blen, clen;
	size_t off = 5;

	if (len < 5 || p[0] != SSH_AGENT_IDENTITIES_ANSWER)
		return MERR_PARSE;
	nkeys = get32(p + 1);
	if (nkeys > AGENT_KEYS_MAX ||
	    (a->b64 = calloc(nkeys ? nkeys : 1, sizeof(*a->b64))) == NULL)
		return nkeys > AGENT_KEYS_MAX ? MERR_LIMIT : MERR_NOMEM;
	for (i = 0; i < nkeys; i++) {
		if (len - off < 4 || (blen = get32(p + off)) > len - off - 4)
			return MERR_PARSE;
		off += 4;
		if ((a->b64[a->n] = malloc(4 * ((blen + 2) / 3) + 1)) == NULL)
			return MERR_NOMEM;
		EVP_EncodeBlock((unsigned char *)a->b64[a->n], p + off,
		    (int)blen);
		a->n++;
		off += blen;
		if (len - off < 4 || (clen = get32(p + off)) > len - off - 4)
			return MERR_PARSE;
		off += 4 + clen;
	}
	return 0;
}

/* Ask $SSH_AUTH_SOCK for its keys once; a->why says why not. */
static void
agent_ask(struct relayhost_agent *a)
{
	static const unsigned char req[5] = { 0, 0, 0, 1,
		SSH_AGENTC_REQUEST_IDENTITIES };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *sock = getenv("SSH_AUTH_SOCK");
	unsigned char hdr[4], *body = NULL;
	uint32_t len;
	int fd = -1;

	a->asked = true;
	if (sock == NULL || *sock == '\0') {
		snprintf(a->why, sizeof(a->why), "SSH_AUTH_SOCK is not set");
		return;
	}
	if (strlen(sock) >= sizeof(sun.sun_path)) {
		snprintf(a->why, sizeof(a->why), "SSH_AUTH_SOCK is too long");
		return;
	}
	memcpy(sun.sun_path, sock, strlen(sock) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		snprintf(a->why, sizeof(a->why), "ssh-agent %s: %s", sock,
		    strerror(errno));
		goto out;
	}
	if (agent_io(fd, (unsigned char *)req, sizeof(req), true) != 0 ||
	    agent_io(fd, hdr, sizeof(hdr), false) != 0 ||
	    (len = get32(hdr)) > AGENT_REPLY_MAX ||
	    (body = malloc(len ? len : 1)) == NULL ||
	    agent_io(fd, body, len, false) != 0 ||
	    agent_parse(a, body, len) != 0)
		snprintf(a->why, sizeof(a->why),
		    "ssh-agent %s: no list of keys", sock);
out:
	free(body);
	if (fd >= 0)
		close(fd);
}

/* The base64 public blob of the key at path: its .pub, or path itself
 * when that is a public key or certificate file. */
static int
pub_b64(const char *path, char **out)
{
	char pub[4200], line[16384], *b, *e;
	FILE *f = NULL;
	size_t i;

	*out = NULL;
	snprintf(pub, sizeof(pub), "%s.pub", path);
	for (i = 0; i < 2 && f == NULL; i++)
		f = fopen(i == 0 ? pub : path, "re");
	if (f == NULL)
		return MERR_INVAL;
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		return MERR_INVAL;
	}
	fclose(f);
	/* "type base64 [comment]" */
	if ((b = strchr(line, ' ')) == NULL || strncmp(line, "-----", 5) == 0)
		return MERR_INVAL;
	b++;
	e = b + strcspn(b, " \t\r\n");
	if (e == b)
		return MERR_INVAL;
	return (*out = strndup(b, (size_t)(e - b))) == NULL ? MERR_NOMEM : 0;
}

/* The key at path (what) must be in the agent the relay uses. */
static int
check_in_agent(struct relayhost_agent *a, const char *relay, const char *what,
    const char *path, char *err, size_t errlen)
{
	char *b64 = NULL;
	size_t i;
	int r;

	if (!a->asked)
		agent_ask(a);
	if ((r = pub_b64(path, &b64)) != 0) {
		snprintf(err, errlen,
		    "%s %s: no public key beside it (%s.pub) to check that it "
		    "is in your ssh-agent, which relay %s uses for this host "
		    "(a private key never goes to a gateway)",
		    what, path, path, relay);
		return r == MERR_NOMEM ? r : MERR_INVAL;
	}
	for (i = 0; i < a->n; i++)
		if (a->b64[i] != NULL && strcmp(a->b64[i], b64) == 0)
			break;
	free(b64);
	if (i < a->n)
		return 0;
	snprintf(err, errlen,
	    "%s %s is not in your ssh-agent%s%s%s: relay %s authenticates "
	    "this host with the forwarded agent only (a private key never "
	    "goes to a gateway); ssh-add %s",
	    what, path, a->why[0] ? " (" : "", a->why, a->why[0] ? ")" : "",
	    relay, path);
	return MERR_INVAL;
}

/* What libssh applies to a session it opens: the relay's libssh would
 * not get the controller's value. */
static const char *const session_directives[] = {
	"Ciphers",
	"MACs",
	"KexAlgorithms",
	"HostKeyAlgorithms",
	"PubkeyAcceptedAlgorithms",
	"PubkeyAcceptedKeyTypes",
	"HostbasedAcceptedAlgorithms",
	"Compression",
	"RekeyLimit",
	"AddressFamily",
	"IdentityAgent",
};

static bool
is_session_directive(const char *key)
{
	size_t i;

	for (i = 0;
	     i < sizeof(session_directives) / sizeof(session_directives[0]);
	     i++)
		if (strcasecmp(key, session_directives[i]) == 0)
			return true;
	return false;
}

/* ssh_config's directives other than destination and identity. */
static int
check_others(const struct conn_config *cfg, const char *relay,
    const char *host, const struct sshcfg_others *o, char *err, size_t errlen)
{
	const struct sshcfg_other *d;
	size_t i;

	if (o->overflow) {
		snprintf(err, errlen,
		    "ssh_config sets more than %d kinds of directive for %s, "
		    "which is behind relay %s: too many to check",
		    SSHCFG_MAX_OTHER, host, relay);
		return MERR_LIMIT;
	}
	for (i = 0; i < o->n; i++) {
		d = &o->v[i];
		if (strcasecmp(d->key, "IdentitiesOnly") == 0 && !d->in_match)
			continue; /* its value is checked by the caller */
		if (is_session_directive(d->key) ||
		    (cfg->known_hosts == NULL &&
			(strcasecmp(d->key, "UserKnownHostsFile") == 0 ||
			    strcasecmp(d->key, "GlobalKnownHostsFile") ==
				0))) {
			snprintf(err, errlen,
			    "%s: %s%s applies to %s, which is behind relay "
			    "%s: the relay opens that session and would not "
			    "apply it; move it to a block for hosts not "
			    "behind a relay%s",
			    d->from, d->key,
			    d->in_match ?
				" (in a Match block muster cannot "
				"evaluate)" :
				"",
			    host, relay,
			    strcasecmp(d->key, "UserKnownHostsFile") == 0 ||
				    strcasecmp(d->key,
					"GlobalKnownHostsFile") == 0 ?
				" (or name the file with --known-hosts, "
				"which the relay is sent)" :
				"");
			return MERR_INVAL;
		}
	}
	return 0;
}

/* -o options: only the destination ones reach the relay. */
static int
check_options(const struct conn_config *cfg, const char *relay,
    const char *host, char *err, size_t errlen)
{
	const char *o;
	size_t i, n;

	for (i = 0; i < cfg->nssh_options; i++) {
		o = cfg->ssh_options[i];
		n = strcspn(o, " ");
		if ((n == 4 && strncasecmp(o, "User", 4) == 0) ||
		    (n == 4 && strncasecmp(o, "Port", 4) == 0) ||
		    (n == 8 && strncasecmp(o, "HostName", 8) == 0))
			continue;
		snprintf(err, errlen,
		    "-o %.*s: not applied to %s, which is behind relay %s "
		    "(the relay opens that session)",
		    (int)n, o, host, relay);
		return MERR_INVAL;
	}
	return 0;
}

/* HostName, Port and User as a direct connection would read them. */
struct libssh_dest {
	char host[256], user[128];
	unsigned port;
};

static int
resolve_dest(const struct conn_config *cfg, const struct host_spec *h,
    struct host_spec *out, struct libssh_dest *ld, char *err, size_t errlen)
{
	ssh_session s;
	char *host = NULL, *user = NULL;
	unsigned port = 22;
	size_t i;
	int zero = 0, r = 0;

	if ((s = ssh_new()) == NULL)
		return MERR_NOMEM;
	ssh_options_set(s, SSH_OPTIONS_HOST, host_spec_addr(h));
	if (ssh_options_parse_config(s, cfg->ssh_config) < 0) {
		snprintf(err, errlen, "libssh cannot parse %s",
		    cfg->ssh_config ? cfg->ssh_config : "~/.ssh/config");
		r = MERR_PARSE;
		goto out;
	}
	ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	/* What libssh read for the alias, before anything overrides it. */
	ld->port = sshcfg_libssh_dest(s, ld->host, sizeof(ld->host), ld->user,
	    sizeof(ld->user));
	for (i = 0; i < cfg->nssh_options; i++)
		if (sshopt_apply(s, cfg->ssh_options[i]) != 0) {
			snprintf(err, errlen, "-o %s: refused by libssh",
			    cfg->ssh_options[i]);
			r = MERR_INVAL;
			goto out;
		}
	if (h->user != NULL)
		ssh_options_set(s, SSH_OPTIONS_USER, h->user);
	if (h->port != 0)
		ssh_options_set(s, SSH_OPTIONS_PORT, &h->port);
	if (ssh_options_get(s, SSH_OPTIONS_HOST, &host) != SSH_OK) {
		snprintf(err, errlen, "no host name");
		r = MERR_INVAL;
		goto out;
	}
	ssh_options_get_port(s, &port);
	(void)ssh_options_get(s, SSH_OPTIONS_USER, &user);
	if ((out->name = strdup(h->name)) == NULL ||
	    (strcmp(host, h->name) != 0 &&
		(out->addr = strdup(host)) == NULL) ||
	    (user != NULL && (out->user = strdup(user)) == NULL))
		r = MERR_NOMEM;
	/* Explicit, so that the gateway's ssh_config cannot change it. */
	out->port = port;
out:
	ssh_string_free_char(host);
	ssh_string_free_char(user);
	ssh_free(s);
	return r;
}

/* The identities the operator named for h. */
static int
check_identities(const struct conn_config *cfg, const char *relay,
    const struct host_spec *h, const struct sshcfg *sc,
    struct relayhost_agent **agent, char *err, size_t errlen)
{
	char what[400];
	size_t i;
	int r = 0;

	if (sc->identities_only == 1) {
		snprintf(err, errlen,
		    "%s: IdentitiesOnly yes applies to %s, which is behind "
		    "relay %s: the relay offers the keys of your forwarded "
		    "ssh-agent and cannot limit itself to some",
		    sc->identities_only_from, h->name, relay);
		return MERR_INVAL;
	}
	if (*agent == NULL &&
	    (sc->n_identity > 0 || sc->n_certificate > 0 ||
		h->key_file != NULL || cfg->identity_path != NULL) &&
	    (*agent = calloc(1, sizeof(**agent))) == NULL)
		return MERR_NOMEM;
	for (i = 0; r == 0 && i < sc->n_identity; i++)
		r = check_in_agent(*agent, relay, "ssh_config IdentityFile",
		    sc->identity[i], err, errlen);
	for (i = 0; r == 0 && i < sc->n_certificate; i++)
		r = check_in_agent(*agent, relay, "ssh_config CertificateFile",
		    sc->certificate[i], err, errlen);
	if (r == 0 && h->key_file != NULL) {
		snprintf(what, sizeof(what), "the key file (%s)",
		    h->key_origin ? h->key_origin : "inventory");
		r = check_in_agent(*agent, relay, what, h->key_file, err,
		    errlen);
	}
	if (r == 0 && cfg->identity_path != NULL)
		r = check_in_agent(*agent, relay, "the identity (-k)",
		    cfg->identity_path, err, errlen);
	return r;
}

int
relayhost_resolve(const struct conn_config *cfg, const char *relay,
    const struct host_spec *h, struct relayhost_agent **agent,
    struct host_spec *out, char *err, size_t errlen)
{
	struct sshroute route;
	struct sshcfg sc;
	struct sshcfg_others *others;
	struct libssh_dest ld;
	char lhost[256], luser[128];
	int r;

	memset(out, 0, sizeof(*out));
	if (h->agent_dir != NULL) {
		snprintf(err, errlen,
		    "agent_dir %s (%s) is not applied behind relay %s, which "
		    "places agents itself",
		    h->agent_dir,
		    h->agent_dir_origin ? h->agent_dir_origin : "inventory",
		    relay);
		return MERR_INVAL;
	}
	if ((r = sshroute_lookup(cfg->ssh_config, h->name, &route, err,
		 errlen)) != 0)
		return r;
	if (route.kind != SSHROUTE_DIRECT) {
		snprintf(err, errlen,
		    "ssh_config %s: %s %s applies to %s, which is behind "
		    "relay %s: muster starts no proxy behind a relay; drop one "
		    "of the two",
		    route.where, sshroute_kind_str(route.kind), route.value,
		    h->name, relay);
		return MERR_INVAL;
	}
	if ((r = check_options(cfg, relay, h->name, err, errlen)) != 0)
		return r;
	if ((r = resolve_dest(cfg, h, out, &ld, err, errlen)) != 0)
		goto fail;
	if ((others = calloc(1, sizeof(*others))) == NULL) {
		r = MERR_NOMEM;
		goto fail;
	}
	snprintf(lhost, sizeof(lhost), "%s", host_spec_addr(out));
	snprintf(luser, sizeof(luser), "%s", out->user ? out->user : "");
	r = sshcfg_read_all(cfg->ssh_config, h->name, luser, lhost, &sc,
	    others, err, errlen);
	if (r == 0)
		r = sshcfg_check_dest(&sc, h->name, ld.host, ld.port,
		    ld.user[0] ? ld.user : NULL, err, errlen);
	if (r == 0)
		r = check_others(cfg, relay, h->name, others, err, errlen);
	if (r == 0)
		r = check_identities(cfg, relay, h, &sc, agent, err, errlen);
	sshcfg_free(&sc);
	free(others);
	if (r == 0)
		return 0;
fail:
	host_spec_free(out);
	return r;
}
