/*
 * The states of one bastion connection (bastion_pool.c) and the transitions
 * between them: one X-macro list for the enum and the names, one table of
 * arrows, and tests/unit/test_bastionstate.c checks that the diagram in
 * bastion.h draws exactly that table.
 */
#ifndef MUSTER_BASTIONSTATE_H
#define MUSTER_BASTIONSTATE_H

#include <stdbool.h>

/* X(identifier, name in messages) */
#define BASTION_STATES(X)        \
	X(INIT, "init")          \
	X(CONNECT, "connecting") \
	X(UP, "up")              \
	X(FULL, "full")          \
	X(DONE, "done")

enum bastion_state {
#define BASTIONSTATE_ENUM(id, name) BS_##id,
	BASTION_STATES(BASTIONSTATE_ENUM)
#undef BASTIONSTATE_ENUM
	    BS_COUNT
};

/* "connecting": for messages and traces. */
const char *bastionstate_name(enum bastion_state st);
/* "CONNECT": the identifier, as the diagram in bastion.h spells it. */
const char *bastionstate_id(enum bastion_state st);
/* Whether the diagram has an arrow from one state to the other. Every
 * state but DONE may go to DONE; DONE is final. */
bool bastionstate_allowed(enum bastion_state from, enum bastion_state to);

#endif
