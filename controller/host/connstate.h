/*
 * The states of one conn (conn.c) and the transitions between them. The
 * states are one X-macro list, so the enum, the names in traces and the
 * identifiers the diagram in conn.h uses cannot drift apart; the allowed
 * transitions are one table, and tests/unit/test_connstate.c checks that
 * the diagram in conn.h draws exactly that table.
 */
#ifndef MUSTER_CONNSTATE_H
#define MUSTER_CONNSTATE_H

#include <stdbool.h>

/* X(identifier, name in messages) */
#define CONN_STATES(X)                 \
	X(INIT, "init")                \
	X(RESOLVE, "resolve")          \
	X(JUMP, "bastion channel")     \
	X(TCP, "tcp connect")          \
	X(HANDSHAKE, "ssh handshake")  \
	X(AUTH_KEY, "authentication")  \
	X(AUTH_AUTO, "authentication") \
	X(CHAN_OPEN, "channel open")   \
	X(CHAN_EXEC, "exec request")   \
	X(MARKER, "agent start")       \
	X(UPLOAD, "agent upload")      \
	X(HELLO, "agent hello")        \
	X(READY, "ready")              \
	X(DONE, "done")

enum conn_state {
#define CONNSTATE_ENUM(id, name) CS_##id,
	CONN_STATES(CONNSTATE_ENUM)
#undef CONNSTATE_ENUM
	    CS_COUNT
};

/* "tcp connect": for messages and traces. */
const char *connstate_name(enum conn_state st);
/* "TCP": the identifier, as the diagram in conn.h spells it. */
const char *connstate_id(enum conn_state st);
/* Whether the diagram has an arrow from one state to the other. Every
 * state but DONE may go to DONE (a failure or a close); DONE is final. */
bool connstate_allowed(enum conn_state from, enum conn_state to);

#endif
