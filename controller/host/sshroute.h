/*
 * The route ssh_config asks for, and the directives muster cannot honour.
 *
 * muster opens the TCP connection itself and hands libssh the socket, so
 * every ssh_config directive that decides how a host is reached is ours
 * to honour or to refuse: never to drop. This module reads the same files
 * libssh reads (the -F file, or ~/.ssh/config and then /etc/ssh/ssh_config;
 * Include followed, relative to ~/.ssh or /etc/ssh) for one host and says
 *
 *   - the route: direct, a ProxyCommand or a ProxyJump list (the first of
 *     the two that applies wins, "none" meaning direct, as in OpenSSH),
 *     with the file:line it came from;
 *   - or, with an error naming the directive and its file:line, that a
 *     directive changing the route or the identity applies which muster
 *     does not implement (BindAddress, HostKeyAlias, IdentitiesOnly ...).
 *
 * A Match block whose criteria cannot be evaluated here (exec, canonical,
 * final, user) counts as applying for the refused directives: fail closed.
 * The caller cross-checks the route with what libssh parsed.
 */
#ifndef MUSTER_SSHROUTE_H
#define MUSTER_SSHROUTE_H

#include <stddef.h>

#include "hostlist.h"

enum sshroute_kind {
	SSHROUTE_DIRECT,
	SSHROUTE_COMMAND, /* value: the ProxyCommand, unexpanded */
	SSHROUTE_JUMP,	  /* value: [user@]host[:port][,...] */
};

struct sshroute {
	enum sshroute_kind kind;
	char value[1024];
	char where[512]; /* "FILE:LINE", "" for direct */
};

/*
 * The route to HOST (the name as given, before any HostName) under the
 * ssh_config CONFIG (NULL: the user's and the system's). 0, or MERR_INVAL
 * with "FILE:LINE: Directive ... " in err when a directive muster cannot
 * honour applies, MERR_PARSE when a file cannot be read (err says which).
 */
int sshroute_lookup(const char *config, const char *host,
    struct sshroute *route, char *err, size_t errlen);

/* The route an inventory gave spec (HOST_ROUTE_JUMP or _COMMAND). */
void sshroute_from_spec(const struct host_spec *spec, struct sshroute *route);

/* "ProxyCommand", "ProxyJump", "direct": for messages. */
const char *sshroute_kind_str(enum sshroute_kind kind);

#endif
