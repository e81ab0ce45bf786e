#include "dsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"

int
dsock_path(char *out, size_t outlen)
{
	const char *env = getenv("MUSTER_DAEMON_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	const char *home = getenv("HOME");
	int n;

	if (env != NULL && env[0] != '\0')
		n = snprintf(out, outlen, "%s", env);
	else if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, outlen, "%s/muster/daemon.sock", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, outlen, "%s/.cache/muster/daemon.sock", home);
	else
		return MERR_NOTFOUND;
	/* sun_path is about 108 bytes. */
	if (n < 0 || (size_t)n >= outlen ||
	    (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return MERR_LIMIT;
	return 0;
}

static int
fill_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return MERR_LIMIT;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* mkdir -p of path's directory, each new component 0700. */
static int
make_parent(const char *path)
{
	char dir[4096], *p;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return MERR_LIMIT;
	if ((p = strrchr(dir, '/')) == NULL || p == dir)
		return 0;
	*p = '\0';
	for (p = dir + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return MERR_SYS;
		*p = '/';
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return MERR_SYS;
	return 0;
}

int
dsock_connect(const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s;

	if (fill_addr(path, &sa) != 0)
		return MERR_LIMIT;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return MERR_SYS;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(s);
		errno = e;
		return e == ENOENT || e == ECONNREFUSED ? MERR_NOTFOUND :
		    MERR_CONNECT;
	}
	if (dsock_peer_ok(s) != 0) {
		close(s);
		return MERR_AUTH;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	*fd = s;
	return 0;
}

int
dsock_listen(const char *path, int *fd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	mode_t old;
	int s, probe, r;

	if (fill_addr(path, &sa) != 0) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return MERR_LIMIT;
	}
	if (make_parent(path) != 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s",
		    path, strerror(errno));
		return MERR_SYS;
	}
	if (dsock_connect(path, &probe) == 0) {
		close(probe);
		snprintf(err, errlen, "a daemon already serves %s", path);
		return MERR_EXISTS;
	}
	/* Nobody answers: whatever is there is a dead daemon's socket. */
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", path,
		    strerror(errno));
		return MERR_SYS;
	}
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return MERR_SYS;
	}
	/* Created 0600 from the start: no window where others may connect. */
	old = umask(0177);
	r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(s, 64) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		close(s);
		return MERR_SYS;
	}
	*fd = s;
	return 0;
}

int
dsock_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return MERR_SYS;
	return cred.uid == geteuid() ? 0 : MERR_AUTH;
}
