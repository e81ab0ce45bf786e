/*
 * The held host's state table (dhoststate.h): names, identifiers and the
 * arrows of the diagram.
 */
#include "dhoststate.h"

#include <stddef.h>

static const char *const dhoststate_names[] = {
#define DHOSTSTATE_NAME(id, name) name,
	DHOST_STATES(DHOSTSTATE_NAME)
#undef DHOSTSTATE_NAME
};

static const char *const dhoststate_ids[] = {
#define DHOSTSTATE_ID(id, name) #id,
	DHOST_STATES(DHOSTSTATE_ID)
#undef DHOSTSTATE_ID
};

/* The arrows of the diagram in dhoststate.h, but those into STOPPED. */
static const struct {
	enum dhost_state from, to;
} dhoststate_edges[] = {
	{ DH_NEW, DH_WAITING },
	{ DH_WAITING, DH_CONNECTING },
	{ DH_WAITING, DH_BACKOFF }, /* no memory for a conn */
	{ DH_CONNECTING, DH_READY },
	{ DH_CONNECTING, DH_BACKOFF },
	{ DH_CONNECTING, DH_RELEASED },
	{ DH_READY, DH_BACKOFF },
	{ DH_READY, DH_RELEASED },
	{ DH_BACKOFF, DH_WAITING },
};

const char *
dhoststate_name(enum dhost_state st)
{
	if ((unsigned)st >= DH_COUNT)
		return "?";
	return dhoststate_names[st];
}

const char *
dhoststate_id(enum dhost_state st)
{
	if ((unsigned)st >= DH_COUNT)
		return "?";
	return dhoststate_ids[st];
}

bool
dhoststate_final(enum dhost_state st)
{
	return st == DH_RELEASED || st == DH_STOPPED;
}

bool
dhoststate_allowed(enum dhost_state from, enum dhost_state to)
{
	size_t i;

	if ((unsigned)from >= DH_COUNT || (unsigned)to >= DH_COUNT ||
	    dhoststate_final(from))
		return false;
	if (to == DH_STOPPED)
		return true;
	for (i = 0; i < sizeof(dhoststate_edges) / sizeof(dhoststate_edges[0]);
	     i++)
		if (dhoststate_edges[i].from == from &&
		    dhoststate_edges[i].to == to)
			return true;
	return false;
}
