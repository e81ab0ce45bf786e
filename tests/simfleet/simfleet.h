/*
 * simfleet: thousands of SSH hosts served by one process, for measuring
 * muster at scale on one machine (a test tool: built with the tests,
 * never installed).
 *
 * Each simulated host is one listening socket on its own loopback address
 * (127.0.0.0/8 only), with its own ed25519 host key and its own home
 * directory. A client that authenticates with the one authorized key gets
 * what sshd gives it: exec requests run through /bin/sh -c in the host's
 * home with HOME pointing there, and the "sftp" subsystem runs OpenSSH's
 * sftp-server the same way, so muster's bootstrap uploads and starts the
 * real agent on every simulated host.
 *
 * One libev loop (epoll) carries everything: a listening socket per host,
 * a per-session ssh_event that libev wakes when the session's socket is
 * ready (libssh's own poll over thousands of descriptors would cost O(n)
 * per wake-up), and the pipes of each child. Each direction of a channel
 * is bounded: the child's output is read only while the client's window
 * has room, and what the client sends waits in libssh's channel buffer
 * (whose window then stops growing) while the child's stdin is full.
 *
 * simsess.c holds the sessions, channels and children; simfleet.c the
 * options, the hosts, their keys and the loop.
 */
#ifndef SIMFLEET_H
#define SIMFLEET_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>
#include <libssh/libssh.h>
#include <libssh/server.h>

struct simhost {
	struct simfleet *fleet;
	char addr[16];
	char home[4096];
	ssh_bind bind;
	ev_io accept_w;
};

struct simfleet {
	struct ev_loop *loop;
	struct simhost *hosts;
	size_t nhosts;
	ssh_key *authorized;
	size_t nauthorized;
	const char *user;	 /* NULL: any user name */
	const char *sftp_server; /* NULL: no sftp subsystem */
	/* counters, printed at exit */
	unsigned long accepted, auth_ok, auth_denied, execs, sftps;
	unsigned long live_sessions, live_children;
};

/* Accept one connection on host h's listening socket and start its key
 * exchange; a failure drops that connection only. */
void simsess_accept(struct simhost *h);
/* Signal every child still running (at shutdown). */
void simsess_kill_all(int sig);

#endif
