#include "procstate.h"

#include <stddef.h>

static const char *const procstate_names[] = {
#define PROCSTATE_NAME(id, name) name,
	PROC_STATES(PROCSTATE_NAME)
#undef PROCSTATE_NAME
};

static const char *const procstate_ids[] = {
#define PROCSTATE_ID(id, name) #id,
	PROC_STATES(PROCSTATE_ID)
#undef PROCSTATE_ID
};

/* The arrows of the diagram in proc.h. */
static const struct {
	enum proc_state from, to;
} procstate_edges[] = {
	{ PS_RUNNING, PS_TERM_SENT },	  /* cancel or timeout */
	{ PS_RUNNING, PS_KILL_SENT },	  /* shutdown's kill */
	{ PS_RUNNING, PS_EXITED },	  /* reaped */
	{ PS_TERM_SENT, PS_KILL_SENT },	  /* grace over, or shutdown's kill */
	{ PS_TERM_SENT, PS_EXITED_TERM }, /* reaped */
	{ PS_KILL_SENT, PS_LINGER },	  /* reaped */
	{ PS_EXITED, PS_EXITED_TERM },	  /* cancel or timeout */
	{ PS_EXITED, PS_DONE },		  /* pipes closed */
	{ PS_EXITED_TERM, PS_DONE },	  /* pipes closed, or grace over */
	{ PS_LINGER, PS_DONE },		  /* pipes closed, or linger over */
};

const char *
procstate_name(enum proc_state st)
{
	if ((unsigned)st >= PS_COUNT)
		return "?";
	return procstate_names[st];
}

const char *
procstate_id(enum proc_state st)
{
	if ((unsigned)st >= PS_COUNT)
		return "?";
	return procstate_ids[st];
}

bool
procstate_allowed(enum proc_state from, enum proc_state to)
{
	size_t i;

	if ((unsigned)from >= PS_COUNT || (unsigned)to >= PS_COUNT)
		return false;
	for (i = 0; i < sizeof(procstate_edges) / sizeof(procstate_edges[0]);
	     i++)
		if (procstate_edges[i].from == from &&
		    procstate_edges[i].to == to)
			return true;
	return false;
}
