/* Command-line parsing for the subcommands that select hosts. */
#ifndef MUSTER_CLI_H
#define MUSTER_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "clitab.h"
#include "hostlist.h"
#include "pull.h"
#include "push.h"
#include "run.h"
#include "watch.h"

struct cli {
	/* host selection */
	char **wlists, **xlists, **groups, **hostfiles;
	size_t nw, nx, ng, nh;
	const char *inventory;
	bool list_hosts;	/* --list-hosts: print the selection, exit */
	/* ssh */
	const char *identity;
	const char *known_hosts;
	const char *ssh_config;
	bool accept_new;
	double connect_timeout;
	int verbose;		/* -v count: the log level */
	bool no_daemon;		/* --no-daemon: never use a running daemon */
	enum cli_cmd cmd;
	bool json;
	int fanout;
	int max_startups;	/* unauthenticated set-ups at once (0: any) */
	double connect_rate;	/* new connections per second (0: any) */
	/* keys install */
	const char *password_file;
	/* run */
	struct run_options run;
	/* push, pull */
	struct push_options push;
	struct pull_options pull;
	/* watch */
	struct watch_options watch;
	/* daemon */
	bool daemon_status, daemon_stop, daemon_foreground;
};

/*
 * Parse the arguments of a subcommand that selects hosts (argv[0] is its
 * word in clitab_commands: run, push, pull, watch, daemon, install).
 * Usage errors, among them an option the subcommand's entry does not
 * list, are written to err and return MERR_PARSE.
 */
int cli_parse(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
/* The same, for run only (argv[0] must be "run"). */
int cli_parse_run(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
void cli_free(struct cli *cli);
/* Build the host set from -w/--hostfile/-i/-g/-x (select/selection.h). */
int cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen);
void cli_usage(FILE *f);
/* A byte count: digits with an optional K, M or G (powers of 1024; a
 * following "iB" or "B" is allowed). MERR_PARSE when malformed or too
 * large. */
int cli_parse_size(const char *arg, size_t *out);

#endif
