/*
 * cli_negate (clineg.h): what an off switch (--no-json, clitab_options[].neg)
 * does to the parsed options: the state its option's absence leaves. A
 * config file's defaults come before the command line, so the command line
 * can always turn off what the file turned on.
 */
#include "clineg.h"

#include <stdio.h>

#include "err.h"

/* A mode option off: lines again, if that mode was the one chosen. */
static void
cli_mode_off(struct cli *cli, enum output_mode mode, bool merged)
{
	if (cli->run.mode == mode && cli->run.merge_stderr == merged) {
		cli->run.mode = OUTPUT_LINES;
		cli->run.merge_stderr = false;
	}
}

void
cli_negate(struct cli *cli, int opt)
{
	switch (opt) {
	case CO_ACCEPT_NEW: cli->accept_new = false; break;
	case CO_STDIN: cli->run.want_stdin = false; break;
	case CO_TTY: cli->run.tty = false; break;
	case CO_BECOME:
		cli->run.become = cli->run.ask_become_pass = false;
		cli->run.become_user = NULL;
		break;
	case CO_MAX_EXIT: cli->run.exit_largest = false; break;
	case CO_GATHER: cli_mode_off(cli, OUTPUT_GATHER, false); break;
	case CO_GATHER_ALL: cli_mode_off(cli, OUTPUT_GATHER, true); break;
	case CO_LIVE_GATHER:
		cli_mode_off(cli, OUTPUT_LIVE, cli->run.merge_stderr);
		break;
	case CO_DIFF:
		cli_mode_off(cli, OUTPUT_DIFF, cli->run.merge_stderr);
		break;
	case CO_JSON: cli->json = false; break;
	case CO_RAW: cli->run.raw = false; break;
	case CO_RECURSIVE:
		cli->push.recursive = cli->pull.recursive = false;
		break;
	case CO_MKDIR: cli->push.mkdir = false; break;
	default: break; /* clitab gives no other option an off switch */
	}
}

int
cli_negate_foreign(const struct clitab_command *cmd, int opt, char *err,
    size_t errlen)
{
	snprintf(err, errlen,
	    "--%s is not an option of %s (see muster %s --help)",
	    clitab_options[opt].neg, cmd->name, cmd->name);
	return MERR_PARSE;
}
