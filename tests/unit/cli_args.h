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

int group_setup(void **state);

#endif
