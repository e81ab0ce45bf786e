/* Command-line parsing for the subcommands that select hosts. */
#ifndef MUSTER_CLI_H
#define MUSTER_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "hostlist.h"
#include "run.h"

struct cli {
	/* host selection */
	char **wlists, **xlists, **groups;
	size_t nw, nx, ng;
	const char *inventory;
	/* ssh */
	const char *identity;
	const char *known_hosts;
	const char *ssh_config;
	bool accept_new;
	double connect_timeout;
	bool verbose;
	/* run */
	struct run_options run;
};

/*
 * Parse `muster run` arguments (argv[0] is "run"). Usage errors are
 * written to err and return MERR_PARSE.
 */
int cli_parse_run(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
void cli_free(struct cli *cli);
/* Build the host set from -w/-i/-g/-x. */
int cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen);
void cli_usage(FILE *f);

#endif
