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

#include <stddef.h>
#include <sys/types.h>

struct proxycmd_vars {
	const char *host;	/* %h */
	unsigned port;		/* %p */
	const char *user;	/* %r */
	const char *name;	/* %n */
};

/* The expanded command in out, or MERR_PARSE/MERR_LIMIT with err. */
int proxycmd_expand(const char *tmpl, const struct proxycmd_vars *v,
    char *out, size_t outlen, char *err, size_t errlen);

/*
 * Start CMD. *fd: our end of the connection (close-on-exec, blocking),
 * *pid: the command's process (and group). 0, or MERR_SYS with errno.
 */
int proxycmd_spawn(const char *cmd, int *fd, pid_t *pid);

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

#endif
