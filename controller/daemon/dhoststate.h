/*
 * The states of a host the daemon holds (daemon.c, struct dhost) and the
 * transitions between them, as connstate.h is for one conn. The states
 * are one X-macro list, so the enum, the names `muster daemon --status`
 * shows and the identifiers of the diagram below cannot drift apart; the
 * allowed transitions are one table, and tests/unit/test_dhoststate.c
 * checks that this diagram draws exactly that table.
 *
 * State diagram:
 *   NEW -> WAITING -> CONNECTING -> READY -> BACKOFF -> WAITING
 *   CONNECTING -> BACKOFF
 *   WAITING -> BACKOFF           (no memory for a conn: retried later)
 *   CONNECTING -> RELEASED       (host key or authentication refused)
 *   READY -> RELEASED
 *   ANY -> STOPPED               (ANY: every state but RELEASED, STOPPED)
 *
 * NEW is a host just named (by the command line or a client's Attach).
 * WAITING waits for the fan-out (pace.c) to let it start; CONNECTING has a
 * conn on its way; READY lends the conn's channel to clients; BACKOFF
 * waits out a doubling delay (backoff.c) after the conn ended, or until a
 * client names the host again. RELEASED is let go for good (freed; named
 * again, it is a new host); STOPPED is the daemon stopping. Both are
 * final. At -vv each transition is logged with the time spent in the
 * state it leaves.
 */
#ifndef MUSTER_DHOSTSTATE_H
#define MUSTER_DHOSTSTATE_H

#include <stdbool.h>

/* X(identifier, name in --status and traces) */
#define DHOST_STATES(X)             \
	X(NEW, "new")               \
	X(WAITING, "waiting")       \
	X(CONNECTING, "connecting") \
	X(READY, "ready")           \
	X(BACKOFF, "backoff")       \
	X(RELEASED, "released")     \
	X(STOPPED, "stopped")

enum dhost_state {
#define DHOSTSTATE_ENUM(id, name) DH_##id,
	DHOST_STATES(DHOSTSTATE_ENUM)
#undef DHOSTSTATE_ENUM
	    DH_COUNT
};

/* "connecting": for --status and traces. */
const char *dhoststate_name(enum dhost_state st);
/* "CONNECTING": the identifier, as the diagram above spells it. */
const char *dhoststate_id(enum dhost_state st);
/* Whether the diagram has an arrow from one state to the other. */
bool dhoststate_allowed(enum dhost_state from, enum dhost_state to);
/* RELEASED and STOPPED: no arrow leaves them. */
bool dhoststate_final(enum dhost_state st);

#endif
