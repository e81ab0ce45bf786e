/*
 * What cli.c (the parse loop), cliopt.c (one option applied to a struct
 * cli) and clitab.c (the option table naming each option's kind and
 * setter) share. Nothing outside these three includes it.
 */
#ifndef MUSTER_CLI_INT_H
#define MUSTER_CLI_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"

/* One option as getopt returned it. */
struct cli_arg {
	const struct clitab_command *cmd; /* the subcommand parsed */
	int opt;			  /* its CO_ index */
	const char *arg;		  /* its argument, or NULL */
	bool from_conf;			  /* it came from the config file */
	char *err;			  /* for a usage error */
	size_t errlen;
};

/* Store a's option in cli as its table entry says; MERR_PARSE with err
 * written when the argument is malformed or out of bounds. */
int cliopt_apply(struct cli *cli, const struct cli_arg *a);
/* Append s to the list *v of *n entries (*cap allocated). */
int cliopt_push(char ***v, size_t *n, size_t *cap, const char *s);

/* The setters of the options no kind describes (CK_SETTER). */
int cliopt_inventory(struct cli *, const struct cli_arg *);
int cliopt_login(struct cli *, const struct cli_arg *);
int cliopt_ssh_option(struct cli *, const struct cli_arg *);
int cliopt_rerun(struct cli *, const struct cli_arg *);
int cliopt_gather(struct cli *, const struct cli_arg *);
int cliopt_gather_all(struct cli *, const struct cli_arg *);
int cliopt_live_gather(struct cli *, const struct cli_arg *);
int cliopt_diff(struct cli *, const struct cli_arg *);
int cliopt_become_user(struct cli *, const struct cli_arg *);
int cliopt_ask_become_pass(struct cli *, const struct cli_arg *);
int cliopt_recursive(struct cli *, const struct cli_arg *);
int cliopt_sort(struct cli *, const struct cli_arg *);
int cliopt_help(struct cli *, const struct cli_arg *);

#endif
