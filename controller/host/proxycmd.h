/*
 * A ProxyCommand from ssh_config: the operator's own command, run as
 * OpenSSH runs it (`/bin/sh -c`, its stdin and stdout the connection),
 * whose end of a socketpair then carries the host's SSH session.
 *
 * %h (the host name after HostName), %p (the port), %r (the remote user),
 * %n (the name as given) and %% are expanded; any other %-sequence is an
 * error, as in OpenSSH. The names are not quoted: like OpenSSH, and safe
 * because host and user names holding shell metacharacters are refused
 * where they are read (hostlist.c, inventory.c). The command runs in its
 * own process group with our stderr, and proxycmd_kill ends that group.
 */
#ifndef MUSTER_PROXYCMD_H
#define MUSTER_PROXYCMD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sshroute.h"

struct proxycmd_vars {
	const char *host; /* %h */
	unsigned port;	  /* %p */
	const char *user; /* %r */
	const char *name; /* %n */
};

/* The expanded command in out, or MERR_PARSE/MERR_LIMIT with err. */
int proxycmd_expand(const char *tmpl, const struct proxycmd_vars *v, char *out,
    size_t outlen, char *err, size_t errlen);

/*
 * Start CMD. *fd: our end of the connection (close-on-exec, blocking),
 * *pid: the command's process (and group). 0, or MERR_SYS with errno.
 */
int proxycmd_spawn(const char *cmd, int *fd, pid_t *pid);

/* The same for an argv, no shell (PATH is the program). */
int proxycmd_spawn_argv(const char *path, char *const argv[], int *fd,
    pid_t *pid);

/* What the ssh that carries a ProxyJump is told. */
struct proxycmd_jump_opts {
	const char *ssh_config;	 /* NULL: its defaults */
	const char *known_hosts; /* the bastions' keys are checked here */
	bool accept_new;
	const char *identity_path; /* NULL: its defaults */
};

/*
 * A ProxyJump list ([user@]host[:port],...) as OpenSSH's own ssh -W to
 * [HOST]:PORT, through the hops before the last with -J. Each bastion's
 * key is checked strictly (or accept-new) against known_hosts; the hops
 * must hold only host-name characters (no shell, no options). 0, or an
 * error in err.
 */
int proxycmd_jump(const char *jumps, const struct proxycmd_jump_opts *o,
    const char *host, unsigned port, int *fd, pid_t *pid, char *err,
    size_t errlen);

/*
 * Whether the command ended; *status as waitpid's. Does not wait; reaps
 * the process when it ended (pid is then no longer ours).
 */
int proxycmd_ended(pid_t pid, int *status);

/*
 * End the command's process group and reap it; its wait status (-1: it
 * was reaped elsewhere). A command that had begun to exit keeps its own
 * exit status: a closed connection seen before its exit was reaped still
 * reports how it ended.
 */
int proxycmd_kill(pid_t pid);

/* Start what ROUTE (a ProxyCommand or a ProxyJump) asks for; err names
 * the route's file:line. */
int proxycmd_start(const struct sshroute *route, const struct proxycmd_vars *v,
    const struct proxycmd_jump_opts *o, int *fd, pid_t *pid, char *err,
    size_t errlen);

/* The session over PID's connection failed with WHAT: say how the command
 * ended (reaping it, killing it first when it still runs). */
void proxycmd_failed(pid_t pid, const struct sshroute *route, const char *what,
    char *err, size_t errlen);

#endif
