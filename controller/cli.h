/* Command-line parsing for the subcommands that select hosts. */
#ifndef MUSTER_CLI_H
#define MUSTER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clitab.h"
#include "config.h"
#include "hostlist.h"
#include "pull.h"
#include "push.h"
#include "run.h"
#include "watch.h"

struct cli {
	/* host selection */
	char **wlists, **xlists, **groups, **hostfiles;
	size_t nw, nx, ng, nh;
	/* Allocated lengths of the lists cli.c grows (ARRAY_RESERVE). */
	struct {
		size_t w, x, g, h, commands, alerts, alertmanagers,
		    ssh_options;
	} cap;
	const char *inventory;
	const char *rerun; /* --rerun: statuses of the last run */
	bool list_hosts;   /* --list-hosts: print the selection, exit */
	/* ssh */
	const char *identity;
	const char *login;  /* -l: user where none is named */
	char **ssh_options; /* -o, checked: "Name value" each */
	size_t nssh_options;
	const char *known_hosts;
	const char *ssh_config;
	const char *jump; /* -J: bastions for every host */
	bool accept_new;
	double connect_timeout;
	int verbose;	/* -v count: the log level */
	bool no_daemon; /* --no-daemon: never use a running daemon */
	enum cli_cmd cmd;
	bool json;
	int fanout;
	int max_startups;    /* unauthenticated set-ups at once (0: any) */
	double connect_rate; /* new connections per second (0: any) */
	int jump_channels;   /* hosts per bastion connection (0: ssh -W) */
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
	/* --batch, --max-fail: a count, or a percentage of the hosts when
	 * the _pct flag is set (cli_roll resolves it) */
	unsigned batch, max_fail;
	bool batch_pct, max_fail_pct;
	/* the config file, and the argv made of it and the command line */
	struct config conf;
	char **merged;
	int conf_at;		/* the config line an error is about, or -1 */
	uint64_t cmdline_lists; /* list options the command line gave */
};

/*
 * Parse the arguments of a subcommand that selects hosts (argv[0] is its
 * word in clitab_commands: run, push, pull, watch, daemon, install).
 * Usage errors, among them an option the subcommand's entry does not
 * list, are written to err and return MERR_PARSE.
 */
int cli_parse(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
/*
 * The same, with the config file first (config.h): --config FILE from
 * argv, else the default ones. The command line overrides what the file
 * says; a list (-w, -c, -o, ...) given there replaces the file's. An
 * error about a line of the file names it as FILE:LINE.
 */
int cli_parse_configured(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
/* --batch and --max-fail for nhosts hosts (percentages rounded up, at
 * least 1); 0: not set. */
void cli_roll(const struct cli *cli, size_t nhosts, size_t *batch,
    size_t *max_fail);
/* The same, for run only (argv[0] must be "run"). */
int cli_parse_run(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen);
void cli_free(struct cli *cli);
/* An option's off switch (clitab_options[opt].neg) given (clineg.c). */
void cli_negate(struct cli *cli, int opt);
/* The usage error for an off switch cmd does not take (MERR_PARSE). */
int cli_negate_foreign(const struct clitab_command *cmd, int opt, char *err,
    size_t errlen);
/* Build the host set from -w/--hostfile/-i/-g/-x (select/selection.h). */
int cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen);
void cli_usage(FILE *f);
/* A byte count: digits with an optional K, M or G (powers of 1024; a
 * following "iB" or "B" is allowed). MERR_PARSE when malformed or too
 * large. */
int cli_parse_size(const char *arg, size_t *out);

#endif
