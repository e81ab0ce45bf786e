#include "proxycmd.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"

extern char **environ;

int
proxycmd_expand(const char *tmpl, const struct proxycmd_vars *v, char *out,
    size_t outlen, char *err, size_t errlen)
{
	char port[16];
	const char *add;
	size_t n = 0, len;

	snprintf(port, sizeof(port), "%u", v->port);
	for (; *tmpl != '\0'; tmpl++) {
		char one[2] = { *tmpl, '\0' };

		add = one;
		if (*tmpl == '%') {
			switch (*++tmpl) {
			case 'h': add = v->host; break;
			case 'p': add = port; break;
			case 'r': add = v->user; break;
			case 'n': add = v->name; break;
			case '%': add = "%"; break;
			default:
				snprintf(err, errlen, "ProxyCommand: unknown "
				    "escape %%%c (muster expands %%h %%p %%r "
				    "%%n %%%%)", *tmpl != '\0' ? *tmpl : ' ');
				return MERR_PARSE;
			}
		}
		len = strlen(add);
		if (n + len >= outlen) {
			snprintf(err, errlen, "ProxyCommand: longer than %zu "
			    "bytes once expanded", outlen - 1);
			return MERR_LIMIT;
		}
		memcpy(out + n, add, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}

int
proxycmd_spawn(const char *cmd, int *fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int sv[2], sr;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return MERR_SYS;
	if (posix_spawnattr_init(&attr) != 0) {
		close(sv[0]);
		close(sv[1]);
		errno = ENOMEM;
		return MERR_SYS;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		posix_spawnattr_destroy(&attr);
		close(sv[0]);
		close(sv[1]);
		errno = ENOMEM;
		return MERR_SYS;
	}
	sigemptyset(&none);
	sigfillset(&all);
	/* Its own process group, so that killing it reaches what the shell
	 * started (nc, ssh -W ...); our ignored SIGPIPE and blocked mask must
	 * not survive exec. */
	if ((sr = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (sr = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (sr = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (sr = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, sv[1], 0)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, sv[1], 1)) != 0 ||
	    /* Not every library's descriptors are close-on-exec: the
	     * command must not hold another host's connection open. */
	    (sr = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (sr = posix_spawn(pid, "/bin/sh", &fa, &attr, argv,
	    environ)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
		close(sv[0]);
		close(sv[1]);
		errno = sr;
		return MERR_SYS;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	*fd = sv[0];
	return 0;
}

int
proxycmd_ended(pid_t pid, int *status)
{
	pid_t r;

	while ((r = waitpid(pid, status, WNOHANG)) < 0 && errno == EINTR)
		;
	if (r < 0) {
		/* Reaped by another waiter (libev's, under watch). */
		*status = -1;
		return 1;
	}
	return r == pid;
}

int
proxycmd_kill(pid_t pid)
{
	int status = -1;

	/* SIGKILL: the command only carries bytes, there is nothing to
	 * flush, and the wait below must not depend on its goodwill. */
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return status;
}
