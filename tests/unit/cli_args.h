/*
 * What the tests of the command line (test_cli_*.c, test_cli_table.c,
 * test_config.c) share: getopt put back to its initial state between
 * parses, argv's length, and cli_parse_run with its error in errmsg.
 */
#ifndef MUSTER_TEST_CLI_ARGS_H
#define MUSTER_TEST_CLI_ARGS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "output.h"
#include "err.h"
#include "hostlist.h"
#include "inventory.h"

extern char errmsg[512];

/*
 * Put glibc's getopt back to its initial state. cli_parse_run sets
 * optind = 1, which glibc does not treat as a restart: the position inside
 * a cluster of short options ("-Xb" after an error at X) and the ordering
 * taken from the first optstring survive into the next call. optind = 0
 * forces a full re-initialisation; the "+" keeps the ordering cli asks
 * for, which glibc only reads when it initialises.
 */
void getopt_reset(void);

size_t argc_of(char **argv);

/* Parse argv (NULL-terminated, argv[0] = "run"); the caller frees cli. */
int parse(char **argv, struct cli *cli);

/* Parse argv of any subcommand (argv[0] names it); the caller frees cli. */
int parse_cmd(char **argv, struct cli *cli);

/* parse_cmd refuses argv as a usage error; the message stays in errmsg. */
void parse_cmd_refused(char **argv);

/* parse_cmd refuses argv with a message that contains want. */
void parse_cmd_fails(char **argv, const char *want);

/* The same for a run command line (parse). */
void parse_fails(char **argv, const char *want);

/* parse accepts the run command line argv with output mode `mode`. */
void parse_mode_is(char **argv, enum output_mode mode);

int group_setup(void **state);

#endif
