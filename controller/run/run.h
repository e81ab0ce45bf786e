/* `muster run`: one command (or several, concurrently) on every selected
 * host over its agent channel. */
#ifndef MUSTER_RUN_H
#define MUSTER_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"
#include "hostlist.h"
#include "output.h"
#include "status.h"

struct run_options {
	char **commands; /* shell command lines, run concurrently */
	size_t ncommands;
	double timeout; /* per command, seconds; 0 = none */
	int fanout;	/* concurrent connection set-ups */
	enum output_mode mode;
	bool raw;
	size_t max_output;	 /* per host per stream in gather/json */
	size_t max_total_output; /* all hosts' captures held at once */
	char *owned_command;	 /* joined from argv, freed with the options */
	const char *outdir; /* --outdir: each host's stdout also in DIR/HOST */
	const char *errdir; /* --errdir: the same for stderr */
	bool want_stdin;    /* --stdin: our stdin goes to every command */
	bool tty;	    /* --tty: a pseudo-terminal on the agent side */
	bool become;	    /* --become: through sudo */
	const char *become_user; /* set (default "root") when become */
	bool ask_become_pass;	 /* ask once, or take $MUSTER_BECOME_PASS */
	bool exit_largest; /* -S: exit with the largest remote exit code */
	bool merge_stderr; /* -B: stderr shown and gathered as stdout */
	bool progress;	   /* -b, --diff on a terminal: a progress line */
};

/* Runs the whole job; returns a muster_exit status. */
int run_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct run_options *opts);

#endif
