/* Command-line parsing for the subcommands that select hosts. */
#ifndef MUSTER_CLI_H
#define MUSTER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clistate.h"

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
/* Build the host set from -w/--hostfile/-i/-g/-x (select/selection.h). */
int cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen);
void cli_usage(FILE *f);

#endif
