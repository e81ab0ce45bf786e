#include "bastionstate.h"

#include <stddef.h>

static const char *const bastionstate_names[] = {
#define BASTIONSTATE_NAME(id, name) name,
	BASTION_STATES(BASTIONSTATE_NAME)
#undef BASTIONSTATE_NAME
};

static const char *const bastionstate_ids[] = {
#define BASTIONSTATE_ID(id, name) #id,
	BASTION_STATES(BASTIONSTATE_ID)
#undef BASTIONSTATE_ID
};

/* The arrows of the diagram in bastion.h, but those into DONE. */
static const struct {
	enum bastion_state from, to;
} bastionstate_edges[] = {
	{ BS_INIT, BS_CONNECT }, { BS_CONNECT, BS_UP },
	{ BS_UP, BS_FULL }, /* the cap, or a refused channel */
};

const char *
bastionstate_name(enum bastion_state st)
{
	if ((unsigned)st >= BS_COUNT)
		return "?";
	return bastionstate_names[st];
}

const char *
bastionstate_id(enum bastion_state st)
{
	if ((unsigned)st >= BS_COUNT)
		return "?";
	return bastionstate_ids[st];
}

bool
bastionstate_allowed(enum bastion_state from, enum bastion_state to)
{
	size_t i;

	if ((unsigned)from >= BS_COUNT || (unsigned)to >= BS_COUNT ||
	    from == BS_DONE)
		return false;
	if (to == BS_DONE)
		return true;
	for (i = 0;
	     i < sizeof(bastionstate_edges) / sizeof(bastionstate_edges[0]);
	     i++)
		if (bastionstate_edges[i].from == from &&
		    bastionstate_edges[i].to == to)
			return true;
	return false;
}
