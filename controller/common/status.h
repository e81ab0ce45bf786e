/*
 * How a host ended and how the muster command exits: the vocabulary shared
 * by the per-host state machine, the jobs and the output layer. Kept apart
 * so that reaching a host does not pull in the presentation layer, nor a
 * job the run job's header.
 */
#ifndef MUSTER_STATUS_H
#define MUSTER_STATUS_H

enum host_status {
	HS_OK, /* ran, exited 0 */
	/* ran, exited non-zero or by a signal, or failed on the agent */
	HS_FAILED,
	HS_UNREACHABLE, /* connect, ssh or bootstrap failure */
	HS_TIMEOUT,	/* connect deadline or command timeout */
	HS_HOSTKEY,	/* host key unknown or changed */
	HS_AUTH,	/* no key accepted */
	HS_BECOME,	/* --become: sudo refused, the command did not run */
	HS_SKIPPED,	/* never started: --max-fail cut the run short */
	HS_REFUSED,	/* authenticated, but the host would not run the
				 * agent: a nologin shell, ForceCommand, a
				 * restricted shell */
};
/* The status's name as output and JSON show it ("ok", "unreachable" ...). */
const char *host_status_str(enum host_status st);
/* The status a name of host_status_str stands for; -1 when none does. */
int host_status_parse(const char *name, enum host_status *st);
#define HS_COUNT (HS_SKIPPED + 1)

/* Exit statuses of the muster command (documented in README). */
enum muster_exit {
	EXIT_ALL_OK = 0,
	/* some command exited non-zero, was killed or timed out */
	EXIT_CMD_FAILED = 1,
	EXIT_USAGE = 2,
	/* some host could not be reached, verified or authenticated */
	EXIT_UNREACHABLE = 3,
	EXIT_INTERNAL = 4,
	EXIT_CUT_SHORT =
	    5, /* --max-fail stopped the run: hosts were skipped */
};

#endif
