/*
 * Where the daemon's Unix socket lives and how both ends open it. The
 * socket is the user's alone: its directory is 0700, the socket 0600, and
 * the daemon checks each peer's uid (SO_PEERCRED) as well.
 */
#ifndef MUSTER_DSOCK_H
#define MUSTER_DSOCK_H

#include <stddef.h>
#include <sys/types.h>

/* $MUSTER_DAEMON_SOCKET, else $XDG_RUNTIME_DIR/muster/daemon.sock, else
 * ~/.cache/muster/daemon.sock. */
int dsock_path(char *out, size_t outlen);
/* The socket file as bound, for dsock_unlink. */
struct dsock_bound {
	dev_t dev;
	ino_t ino;
};

/* Bind and listen (non-blocking), creating the directory (0700). A
 * directory not ours or writable by others is MERR_INVAL. A stale socket
 * of ours left by a dead daemon is replaced; a live daemon's socket, a
 * symlink, another user's file are MERR_EXISTS and left alone. bound
 * (may be NULL) identifies the new socket file. */
int dsock_listen(const char *path, int *fd, struct dsock_bound *bound,
    char *err, size_t errlen);
/* Remove the socket at path if it still is the one dsock_listen bound
 * (same device and inode): a daemon started meanwhile in its place, after
 * someone removed ours, keeps its socket. */
void dsock_unlink(const char *path, const struct dsock_bound *bound);
/* Connect (non-blocking afterwards). MERR_NOTFOUND when no daemon runs. */
int dsock_connect(const char *path, int *fd);
/* The peer runs as our uid (SO_PEERCRED); its uid and pid are stored
 * where asked (either may be NULL). */
int dsock_peer_ok(int fd, unsigned *uid, int *pid);

#endif
