/*
 * What cli.c (the parse loop) and cliopt.c (the option table, and one
 * option stored in a struct cli as its entry says) share, and the byte
 * count parser the table uses (the unit tests call it too).
 */
#ifndef MUSTER_CLIOPT_H
#define MUSTER_CLIOPT_H

#include <stdbool.h>
#include <stddef.h>

struct cli;
struct clitab_command;

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
/* A byte count: digits with an optional K, M or G (powers of 1024; a
 * following "iB" or "B" is allowed). MERR_PARSE when malformed or too
 * large. */
int cli_parse_size(const char *arg, size_t *out);

#endif
