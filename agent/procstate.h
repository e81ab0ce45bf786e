/*
 * The life of one command (proc.c) as states, and the transitions between
 * them. The states are one X-macro list, so the enum, the names in traces
 * and the identifiers of the diagram in proc.h cannot drift apart; the
 * allowed transitions are one table, and tests/unit/test_procstate.c
 * checks that the diagram in proc.h draws exactly that table.
 */
#ifndef MUSTER_AGENT_PROCSTATE_H
#define MUSTER_AGENT_PROCSTATE_H

#include <stdbool.h>

/* X(identifier, name in messages) */
#define PROC_STATES(X)                              \
	X(RUNNING, "running")                       \
	X(TERM_SENT, "SIGTERM sent")                \
	X(KILL_SENT, "SIGKILL sent")                \
	X(EXITED, "exited, output draining")        \
	X(EXITED_TERM, "exited, group got SIGTERM") \
	X(LINGER, "killed, output lingering")       \
	X(DONE, "done")

enum proc_state {
#define PROCSTATE_ENUM(id, name) PS_##id,
	PROC_STATES(PROCSTATE_ENUM)
#undef PROCSTATE_ENUM
	    PS_COUNT
};

/* "SIGTERM sent": for messages and traces. */
const char *procstate_name(enum proc_state st);
/* "TERM_SENT": the identifier, as the diagram in proc.h spells it. */
const char *procstate_id(enum proc_state st);
/* Whether the diagram has an arrow from one state to the other. DONE is
 * final; no state goes to itself. */
bool procstate_allowed(enum proc_state from, enum proc_state to);

#endif
