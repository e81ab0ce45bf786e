/* `muster run`: one command (or several, concurrently) on every selected
 * host over its agent channel. */
#ifndef MUSTER_RUN_H
#define MUSTER_RUN_H

#include <stddef.h>

#include "conn.h"
#include "hostlist.h"
#include "output.h"

/* Exit statuses of the muster command (documented in README). */
enum muster_exit {
	EXIT_ALL_OK = 0,
	EXIT_CMD_FAILED = 1,	/* some command exited non-zero, was killed or timed out */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3,	/* some host could not be reached, verified or authenticated */
	EXIT_INTERNAL = 4,
};

struct run_options {
	char **commands;	/* shell command lines, run concurrently */
	size_t ncommands;
	double timeout;		/* per command, seconds; 0 = none */
	int fanout;		/* concurrent connection set-ups */
	enum output_mode mode;
	bool raw;
	size_t max_output;	/* per host per stream in gather/json */
	char *owned_command;	/* joined from argv, freed with the options */
};

/* Runs the whole job; returns a muster_exit status. */
int run_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct run_options *opts);

#endif
