/*
 * The off switches (--no-json, clitab_options[].neg): what each does to the
 * parsed options (clineg.c). A config file's defaults come before the
 * command line, so the command line can always turn off what the file
 * turned on.
 */
#ifndef MUSTER_CLINEG_H
#define MUSTER_CLINEG_H

#include <stddef.h>

#include "clistate.h"

/* An option's off switch (clitab_options[opt].neg) given. */
void cli_negate(struct cli *cli, int opt);
/* The usage error for an off switch cmd does not take (MERR_PARSE). */
int cli_negate_foreign(const struct clitab_command *cmd, int opt, char *err,
    size_t errlen);

#endif
