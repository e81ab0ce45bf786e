#include "connstate.h"

#include <stddef.h>

static const char *const connstate_names[] = {
#define CONNSTATE_NAME(id, name) name,
	CONN_STATES(CONNSTATE_NAME)
#undef CONNSTATE_NAME
};

static const char *const connstate_ids[] = {
#define CONNSTATE_ID(id, name) #id,
	CONN_STATES(CONNSTATE_ID)
#undef CONNSTATE_ID
};

/* The arrows of the diagram in conn.h, but those into DONE. */
static const struct {
	enum conn_state from, to;
} connstate_edges[] = {
	{ CS_INIT, CS_RESOLVE },
	{ CS_INIT, CS_HELLO }, /* through the daemon */
	{ CS_RESOLVE, CS_TCP },
	{ CS_RESOLVE, CS_JUMP }, /* through a bastion */
	{ CS_JUMP, CS_TCP },
	{ CS_TCP, CS_HANDSHAKE },
	{ CS_HANDSHAKE, CS_AUTH_KEY },
	{ CS_HANDSHAKE, CS_AUTH_AUTO },
	{ CS_AUTH_KEY, CS_AUTH_AUTO }, /* the key was refused */
	{ CS_AUTH_KEY, CS_CHAN_OPEN },
	{ CS_AUTH_AUTO, CS_CHAN_OPEN },
	{ CS_CHAN_OPEN, CS_CHAN_EXEC },
	{ CS_CHAN_EXEC, CS_MARKER },
	{ CS_MARKER, CS_HELLO },
	{ CS_MARKER, CS_UPLOAD },
	{ CS_MARKER, CS_CHAN_OPEN }, /* the fast start failed: probe */
	{ CS_UPLOAD, CS_CHAN_OPEN }, /* start the uploaded agent */
	{ CS_HELLO, CS_READY },
};

const char *
connstate_name(enum conn_state st)
{
	if ((unsigned)st >= CS_COUNT)
		return "?";
	return connstate_names[st];
}

const char *
connstate_id(enum conn_state st)
{
	if ((unsigned)st >= CS_COUNT)
		return "?";
	return connstate_ids[st];
}

bool
connstate_allowed(enum conn_state from, enum conn_state to)
{
	size_t i;

	if ((unsigned)from >= CS_COUNT || (unsigned)to >= CS_COUNT ||
	    from == CS_DONE)
		return false;
	if (to == CS_DONE)
		return true;
	for (i = 0; i < sizeof(connstate_edges) / sizeof(connstate_edges[0]);
	     i++)
		if (connstate_edges[i].from == from &&
		    connstate_edges[i].to == to)
			return true;
	return false;
}
