#include "proxycmd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "spawnattr.h"
#include "sshfile.h"

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
				snprintf(err, errlen,
				    "ProxyCommand: unknown "
				    "escape %%%c (muster expands %%h %%p %%r "
				    "%%n %%%%)",
				    *tmpl != '\0' ? *tmpl : ' ');
				return MERR_PARSE;
			}
		}
		len = strlen(add);
		if (n + len >= outlen) {
			snprintf(err, errlen,
			    "ProxyCommand: longer than %zu "
			    "bytes once expanded",
			    outlen - 1);
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
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };

	return proxycmd_spawn_argv("/bin/sh", argv, fd, pid);
}

/* Characters a ProxyJump hop may hold: [user@]host[:port], IPv6 in []. */
static bool
hop_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("._-@:[]%", s[i]) == NULL)
			return false;
	return true;
}

/*
 * The ssh_config every ssh of a ProxyJump reads (-F is handed on to the
 * hops of its -J): our known_hosts and strictness first (the first value
 * obtained wins), then the operator's own configuration. One file per
 * process, rewritten when the options change, removed at exit.
 */
static char wrap_path[64];
static char *wrap_key;

static void
proxycmd_wrap_remove(void)
{
	if (wrap_path[0] != '\0')
		unlink(wrap_path);
}

static bool
bad_path(const char *p)
{
	return p != NULL && strpbrk(p, "\"\r\n") != NULL;
}

static int
wrap_config(const struct proxycmd_jump_opts *o, char *err, size_t errlen)
{
	char key[4096], user[1024];
	FILE *f;
	int fd;

	snprintf(key, sizeof(key), "%s\n%s\n%d\n%s",
	    o->ssh_config ? o->ssh_config : "", o->known_hosts, o->accept_new,
	    o->identity_path ? o->identity_path : "");
	if (wrap_key != NULL && strcmp(wrap_key, key) == 0)
		return 0;
	/* Quoted in the file: a quote or a line break would end the value. */
	if (bad_path(o->ssh_config) || bad_path(o->known_hosts) ||
	    bad_path(o->identity_path)) {
		snprintf(err, errlen,
		    "ProxyJump: a path holds a quote or a "
		    "line break");
		return MERR_INVAL;
	}
	if (wrap_path[0] == '\0')
		atexit(proxycmd_wrap_remove);
	else
		unlink(wrap_path);
	snprintf(wrap_path, sizeof(wrap_path), "/tmp/muster-jump.XXXXXX");
	if ((fd = mkostemp(wrap_path, O_CLOEXEC)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		snprintf(err, errlen, "ProxyJump: cannot write %s: %s",
		    wrap_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		wrap_path[0] = '\0';
		return MERR_SYS;
	}
	fprintf(f,
	    "# muster: the ssh of a ProxyJump (removed at exit)\n"
	    "Host *\n    BatchMode yes\n    ClearAllForwardings yes\n"
	    "    StrictHostKeyChecking %s\n    UserKnownHostsFile \"%s\"\n",
	    o->accept_new ? "accept-new" : "yes", o->known_hosts);
	if (o->identity_path != NULL)
		fprintf(f, "    IdentityFile \"%s\"\n", o->identity_path);
	if (o->ssh_config != NULL) {
		struct stat st;

		/* -F /dev/null: nothing (ssh refuses to include a device). */
		if (stat(o->ssh_config, &st) != 0 || S_ISREG(st.st_mode))
			fprintf(f, "Include \"%s\"\n", o->ssh_config);
	} else {
		if (sshfile_user_path("config", user, sizeof(user)) == 0)
			fprintf(f, "Include \"%s\"\n", user);
		fprintf(f, "Include /etc/ssh/ssh_config\n");
	}
	if (fclose(f) != 0) {
		snprintf(err, errlen, "ProxyJump: cannot write %s: %s",
		    wrap_path, strerror(errno));
		return MERR_SYS;
	}
	free(wrap_key);
	wrap_key = strdup(key);
	return 0;
}

int
proxycmd_jump(const char *jumps, const struct proxycmd_jump_opts *o,
    const char *host, unsigned port, int *fd, pid_t *pid, char *err,
    size_t errlen)
{
	char rest[1024], last[300], dest[320], target[300];
	char *argv[16];
	const char *comma, *p;
	size_t n, i = 0;
	int r;

	if (strlen(jumps) >= sizeof(rest)) {
		snprintf(err, errlen, "ProxyJump: list too long");
		return MERR_LIMIT;
	}
	for (p = jumps;; p = comma + 1) {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (!hop_ok(p, n)) {
			snprintf(err, errlen, "ProxyJump: bad hop \"%.*s\"",
			    (int)(n > 200 ? 200 : n), p);
			return MERR_PARSE;
		}
		if (comma == NULL)
			break;
	}
	if ((r = wrap_config(o, err, errlen)) != 0)
		return r;
	/* The last hop is ssh's destination; those before it its -J. */
	p = strrchr(jumps, ',');
	snprintf(rest, sizeof(rest), "%.*s", p != NULL ? (int)(p - jumps) : 0,
	    jumps);
	snprintf(last, sizeof(last), "%s", p != NULL ? p + 1 : jumps);
	/* user@host:port is only a destination as a URI. */
	snprintf(dest, sizeof(dest), "%s%s",
	    strchr(last, ':') != NULL && last[0] != '[' ? "ssh://" : "", last);
	snprintf(target, sizeof(target), "[%s]:%u", host, port);
	argv[i++] = "ssh";
	argv[i++] = "-T";
	argv[i++] = "-F";
	argv[i++] = wrap_path;
	if (rest[0] != '\0') {
		argv[i++] = "-J";
		argv[i++] = rest;
	}
	argv[i++] = "-W";
	argv[i++] = target;
	argv[i++] = "--";
	argv[i++] = dest;
	argv[i] = NULL;
	if ((r = proxycmd_spawn_argv("/usr/bin/ssh", argv, fd, pid)) != 0)
		snprintf(err, errlen, "ProxyJump: cannot start ssh: %s",
		    strerror(errno));
	return r;
}

int
proxycmd_spawn_argv(const char *path, char *const argv[], int *fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
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
	/* Its own process group, so that killing it reaches what the shell
	 * started (nc, ssh -W ...). */
	if ((sr = spawnattr_own_group(&attr)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, sv[1], 0)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, sv[1], 1)) != 0 ||
	    /* Not every library's descriptors are close-on-exec: the
	     * command must not hold another host's connection open. */
	    (sr = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (sr = posix_spawn(pid, path, &fa, &attr, argv, environ)) != 0) {
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

int
proxycmd_start(const struct sshroute *route, const struct proxycmd_vars *v,
    const struct proxycmd_jump_opts *o, int *fd, pid_t *pid, char *err,
    size_t errlen)
{
	char cmd[2048], why[768];
	int r;

	if (route->kind == SSHROUTE_JUMP)
		r = proxycmd_jump(route->value, o, v->host, v->port, fd, pid,
		    why, sizeof(why));
	else if ((r = proxycmd_expand(route->value, v, cmd, sizeof(cmd), why,
		      sizeof(why))) == 0 &&
	    (r = proxycmd_spawn(cmd, fd, pid)) != 0)
		snprintf(why, sizeof(why),
		    "cannot start the ProxyCommand: "
		    "%s",
		    strerror(errno));
	if (r != 0)
		snprintf(err, errlen, "%.400s: %s", route->where, why);
	return r;
}

void
proxycmd_failed(pid_t pid, const struct sshroute *route, const char *what,
    char *err, size_t errlen)
{
	int status;

	if (!proxycmd_ended(pid, &status))
		status = proxycmd_kill(pid);
	if (status != -1 && WIFEXITED(status))
		snprintf(err, errlen,
		    "%s %.300s (%.400s) exited with status "
		    "%d: %s",
		    route->kind == SSHROUTE_JUMP ?
			"ssh for ProxyJump" :
			"ProxyCommand",
		    route->value, route->where, WEXITSTATUS(status), what);
	else
		snprintf(err, errlen, "via %s %.300s (%.400s): %s",
		    sshroute_kind_str(route->kind), route->value, route->where,
		    what);
}
