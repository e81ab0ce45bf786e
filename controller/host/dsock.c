#include "dsock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
		n = snprintf(out, outlen, "%s/.cache/muster/daemon.sock",
		    home);
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
		return e == ENOENT || e == ECONNREFUSED ?
		    MERR_NOTFOUND :
		    MERR_CONNECT;
	}
	if (dsock_peer_ok(s, NULL, NULL) != 0) {
		close(s);
		return MERR_AUTH;
	}
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	*fd = s;
	return 0;
}

/*
 * The socket's directory must be ours and writable by nobody else: then
 * nobody else can plant a socket, a symlink or the log where the daemon
 * looks, and what lstat says below stays true until bind (tmux and
 * ssh-agent make the same demand of theirs). Its parents are the user's
 * business, as for ~/.ssh.
 */
static int
check_dir(const char *path, char *err, size_t errlen)
{
	char dir[4096], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (lstat(dir, &st) != 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return MERR_SYS;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
		    "%s, the daemon socket's directory, "
		    "is not a directory%s",
		    dir,
		    S_ISLNK(st.st_mode) ?
			" (a symbolic link; name the directory itself)" :
			"");
		return MERR_INVAL;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen,
		    "%s, the daemon socket's directory, "
		    "belongs to uid %u, not to us: use a directory of our own",
		    dir, (unsigned)st.st_uid);
		return MERR_INVAL;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen,
		    "%s, the daemon socket's directory, is "
		    "writable by others (mode %03o): use a private directory "
		    "(0700)",
		    dir, (unsigned)(st.st_mode & 07777));
		return MERR_INVAL;
	}
	return 0;
}

/* Two daemons starting at once must not both find the socket stale and
 * each remove the other's: the probe-unlink-bind sequence runs under a
 * lock next to the socket. Once the first one listens, the second one's
 * probe finds it alive. */
static int
lock_start(const char *path, int *lockfd, char *err, size_t errlen)
{
	char lpath[4096];
	int fd, i;

	if (snprintf(lpath, sizeof(lpath), "%s.lock", path) >=
	    (int)sizeof(lpath))
		return MERR_LIMIT;
	if ((fd = open(lpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		 0600)) < 0) {
		snprintf(err, errlen, "%s: %s", lpath, strerror(errno));
		return MERR_SYS;
	}
	/* Held only while a daemon starts: a few seconds of waiting cover
	 * a busy machine; a lock held longer is not a daemon's. */
	for (i = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; i++) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || i == 50) {
			snprintf(err, errlen, "%s: %s", lpath,
			    errno == EWOULDBLOCK ?
				"held by another process starting a "
				"daemon" :
				strerror(errno));
			close(fd);
			return MERR_EXISTS;
		}
		usleep(100 * 1000);
	}
	*lockfd = fd;
	return 0;
}

/*
 * What is at path now: nothing (0), our own dead daemon's socket (0, after
 * removing it), or something we must leave alone. A symlink is never
 * followed nor removed, a socket of another user never touched, and a
 * socket whose daemon is alive but does not accept (a full backlog, a
 * stopped process) is not stolen.
 */
static int
clear_stale(const char *path, const struct sockaddr_un *sa, char *err,
    size_t errlen)
{
	struct stat st;
	int s, r, e;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MERR_SYS;
	}
	if (S_ISLNK(st.st_mode)) {
		snprintf(err, errlen,
		    "%s is a symbolic link; not following "
		    "it (remove it if it is yours)",
		    path);
		return MERR_EXISTS;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return MERR_EXISTS;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s belongs to uid %u, not to us", path,
		    (unsigned)st.st_uid);
		return MERR_EXISTS;
	}
	/* Non-blocking: a live daemon that is not accepting must not hang
	 * this probe, nor lose its socket. */
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return MERR_SYS;
	}
	r = connect(s, (const struct sockaddr *)sa, sizeof(*sa));
	e = errno;
	close(s);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS) {
		snprintf(err, errlen, "a daemon already serves %s", path);
		return MERR_EXISTS;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen,
		    "cannot tell whether a daemon serves %s: "
		    "%s",
		    path, strerror(e));
		return MERR_SYS;
	}
	/* Nobody listens: a dead daemon's socket. */
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove stale %s: %s", path,
		    strerror(errno));
		return MERR_SYS;
	}
	return 0;
}

int
dsock_listen(const char *path, int *fd, struct dsock_bound *bound, char *err,
    size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int s = -1, lockfd = -1, r;

	if (fill_addr(path, &sa) != 0) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return MERR_LIMIT;
	}
	if (make_parent(path) != 0) {
		snprintf(err, errlen, "cannot create the directory of %s: %s",
		    path, strerror(errno));
		return MERR_SYS;
	}
	if ((r = check_dir(path, err, errlen)) != 0 ||
	    (r = lock_start(path, &lockfd, err, errlen)) != 0 ||
	    (r = clear_stale(path, &sa, err, errlen)) != 0)
		goto out;
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		 0)) < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		r = MERR_SYS;
		goto out;
	}
	/* Created 0600 from the start: no window where others may connect. */
	old = umask(0177);
	r = bind(s, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r != 0 || listen(s, 64) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path,
		    strerror(errno));
		close(s);
		r = MERR_SYS;
		goto out;
	}
	if (bound != NULL) {
		/* Under the lock: nobody else has replaced it yet. */
		memset(bound, 0, sizeof(*bound));
		if (lstat(path, &st) == 0) {
			bound->dev = st.st_dev;
			bound->ino = st.st_ino;
		}
	}
	*fd = s;
	r = 0;
out:
	if (lockfd >= 0)
		close(lockfd);
	return r;
}

int
dsock_peer_ok(int fd, unsigned *uid, int *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
	    len != sizeof(cred))
		return MERR_SYS;
	if (uid != NULL)
		*uid = (unsigned)cred.uid;
	if (pid != NULL)
		*pid = (int)cred.pid;
	return cred.uid == geteuid() ? 0 : MERR_AUTH;
}

void
dsock_unlink(const char *path, const struct dsock_bound *bound)
{
	struct stat st;

	/* A small window remains between the lstat and the unlink; a
	 * daemon starting in it finds its socket gone and its clients go
	 * direct, which is safe. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == bound->dev && st.st_ino == bound->ino)
		unlink(path);
}
