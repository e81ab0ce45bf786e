/*
 * The operator's ssh-agent, forwarded on one session: a relay's (relay.h).
 * When the far end opens an auth-agent@openssh.com channel (a relay
 * authenticating to a host behind it), a new connection to the local
 * $SSH_AUTH_SOCK carries it, pumped by the loop through bounded buffers.
 * The private keys stay in the local agent; the gateway only gets
 * signatures while the relay's session lasts.
 *
 * libssh's callbacks only move bytes and mark; the owner calls
 * agentfwd_service from its step (never inside a libssh callback) to
 * reap closed channels, and wakes up when kick says bytes are queued on
 * the session.
 */
#ifndef MUSTER_AGENTFWD_H
#define MUSTER_AGENTFWD_H

#include <stdbool.h>

#include <ev.h>
#include <libssh/libssh.h>

struct agentfwd;

/* Serve agent channels on s (sets its session callbacks): MERR_NOTFOUND
 * when $SSH_AUTH_SOCK is not set. kick(arg): bytes were written to the
 * session, step it. */
int agentfwd_new(struct ev_loop *loop, ssh_session s, void (*kick)(void *),
    void *arg, struct agentfwd **out);
/* Reap the agent channels that closed (from the owner's step). */
void agentfwd_service(struct agentfwd *f);
/* Agent channels opened so far (for -vv). */
unsigned agentfwd_opened(const struct agentfwd *f);
/* Before the session goes. */
void agentfwd_free(struct agentfwd *f);

#endif
