#include "listhosts.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "err.h"
#include "sshroute.h"
#include "utf8.h"

/* What ssh_config makes of a host, as transport_ssh.c sets it up. */
static int
resolve(const struct host_spec *s, const char *ssh_config, char **user,
    char **addr, unsigned *port)
{
	ssh_session session;
	int zero = 0, r = 0;

	*user = *addr = NULL;
	*port = 22;
	if ((session = ssh_new()) == NULL)
		return MERR_NOMEM;
	ssh_options_set(session, SSH_OPTIONS_HOST, host_spec_addr(s));
	if (ssh_options_parse_config(session, ssh_config) < 0) {
		r = MERR_PARSE;
		goto out;
	}
	ssh_options_set(session, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	if (s->user != NULL)
		ssh_options_set(session, SSH_OPTIONS_USER, s->user);
	if (s->port != 0)
		ssh_options_set(session, SSH_OPTIONS_PORT, &s->port);
	if (ssh_options_get(session, SSH_OPTIONS_USER, user) != SSH_OK)
		*user = NULL;
	if (ssh_options_get(session, SSH_OPTIONS_HOST, addr) != SSH_OK)
		*addr = NULL;
	if (ssh_options_get_port(session, port) != SSH_OK)
		*port = 22;
out:
	ssh_free(session);
	return r;
}

static void
put_field(FILE *f, const char *s, const char *sep)
{
	char shown[1024];

	/* Names were checked when selected; escape anyway: a terminal gets
	 * nothing raw from an inventory. */
	utf8_escape(shown, sizeof(shown), s, strlen(s));
	fprintf(f, "%s%s", shown, sep);
}

int
listhosts_print(FILE *f, const struct host_set *hosts, const char *ssh_config,
    const char *jump, char *err, size_t errlen)
{
	struct sshroute route;
	char rerr[1024], shown[2048];
	char *user, *addr, portbuf[16];
	const char *local = "-";
	struct passwd *pw;
	unsigned port;
	size_t i;
	int r;

	fprintf(f, "HOST\tUSER\tADDRESS\tPORT\tROUTE\n");
	for (i = 0; i < hosts->n; i++) {
		const struct host_spec *s = &hosts->v[i];

		if ((r = resolve(s, ssh_config, &user, &addr, &port)) != 0) {
			snprintf(err, errlen,
			    "ssh configuration %s: cannot be "
			    "read (for host %s)",
			    ssh_config ? ssh_config : "~/.ssh/config",
			    s->name);
			return r;
		}
		snprintf(portbuf, sizeof(portbuf), "%u", port);
		put_field(f, s->name, "\t");
		/* libssh falls back to the local account at connect time. */
		if (user == NULL && (pw = getpwuid(getuid())) != NULL)
			local = pw->pw_name;
		put_field(f, user != NULL ? user : local, "\t");
		put_field(f, addr != NULL ? addr : host_spec_addr(s), "\t");
		put_field(f, portbuf, "\t");
		/* The route the connection would take (transport_ssh's
		 * check_route): -J over ssh_config; a directive muster
		 * cannot honour shows as the failure it would be. */
		if (jump != NULL)
			snprintf(shown, sizeof(shown), "ProxyJump %s (-J)",
			    jump);
		else if (s->route_kind == HOST_ROUTE_RELAY)
			snprintf(shown, sizeof(shown), "relay %s (%s)",
			    s->route, s->route_origin ? s->route_origin : "");
		else if (s->route_kind != HOST_ROUTE_NONE) {
			sshroute_from_spec(s, &route);
			snprintf(shown, sizeof(shown), "%s %s (%s)",
			    sshroute_kind_str(route.kind), route.value,
			    route.where);
		} else if (sshroute_lookup(ssh_config, s->name, &route, rerr,
			       sizeof(rerr)) != 0)
			snprintf(shown, sizeof(shown), "fails: %s", rerr);
		else if (route.kind == SSHROUTE_DIRECT)
			snprintf(shown, sizeof(shown), "direct");
		else
			snprintf(shown, sizeof(shown), "%s %s (%s)",
			    sshroute_kind_str(route.kind), route.value,
			    route.where);
		put_field(f, shown, "\n");
		ssh_string_free_char(user);
		ssh_string_free_char(addr);
	}
	return fflush(f) == 0 ? 0 : MERR_SYS;
}
