/*
 * Unit tests for the command table (clitab.c) as cli_parse applies it:
 * every option a subcommand's entry lists is accepted, every other one is
 * refused with a message naming it, and each subcommand's --help lists
 * exactly the options of its entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_args.h"
#include "clitab.h"
#include "err.h"

/* An argument each option's own checks accept. */
static char *
valid_arg(int opt)
{
	switch (opt) {
	case CO_MODE: return "0644";
	case CO_OWNER:
	case CO_GROUP_ID: return "0";
	case CO_SORT: return "cpu";
	case CO_BECOME_USER: return "root";
	case CO_MAX_OUTPUT:
	case CO_MAX_TOTAL_OUTPUT: return "1M";
	case CO_RERUN: return "failed";
	case CO_SSH_OPTION: return "Compression=yes";
	case CO_LOGIN: return "deploy";
	case CO_AGENT_DIR: return "~/.local/muster";
	default: return "5";
	}
}

/*
 * Parse `WORD -i inv OPTION [ARG] OPERANDS...` for command c. The daemon's
 * --status and --stop take no hosts, so -i (not -w) selects them: it is
 * read only later, by cli_hosts.
 */
static int
parse_with(const struct clitab_command *c, int opt, struct cli *cli)
{
	const struct clitab_option *o = &clitab_options[opt];
	char name[64], *argv[12];
	int argc = 0;

	snprintf(name, sizeof(name), "--%s", o->name);
	argv[argc++] = (char *)c->word;
	argv[argc++] = "-i";
	argv[argc++] = "inv";
	argv[argc++] = name;
	if (o->has_arg)
		argv[argc++] = valid_arg(opt);
	switch (c->cmd) {
	case CLI_RUN:
		argv[argc++] = "--";
		argv[argc++] = "true";
		break;
	case CLI_PUSH:
	case CLI_PULL:
		argv[argc++] = "a";
		argv[argc++] = "b";
		break;
	default: break;
	}
	argv[argc] = NULL;
	getopt_reset();
	errmsg[0] = '\0';
	return cli_parse(argc, argv, cli, errmsg, sizeof(errmsg));
}

static bool
parsed_by_cli(const struct clitab_command *c)
{
	return (c->options & CO_BIT(CO_HOSTS)) != 0;
}

static void
test_own_options_accepted(void **state)
{
	struct cli cli;
	size_t i;
	int opt, n = 0;

	(void)state;
	for (i = 0; i < clitab_ncommands; i++) {
		const struct clitab_command *c = &clitab_commands[i];

		if (!parsed_by_cli(c))
			continue;
		for (opt = 0; opt < CO_COUNT; opt++) {
			/* --help prints and exits. */
			if ((c->options & CO_BIT(opt)) == 0 || opt == CO_HELP)
				continue;
			if (parse_with(c, opt, &cli) != 0)
				fail_msg("muster %s --%s refused: %s", c->name,
				    clitab_options[opt].name, errmsg);
			assert_int_equal(cli.cmd, c->cmd);
			cli_free(&cli);
			n++;
		}
	}
	/* run's, push's, pull's, watch's, daemon's and keys install's. */
	assert_true(n > 100);
}

static void
test_foreign_options_refused(void **state)
{
	char want[256];
	struct cli cli;
	size_t i;
	int opt, per_command;

	(void)state;
	for (i = 0; i < clitab_ncommands; i++) {
		const struct clitab_command *c = &clitab_commands[i];

		if (!parsed_by_cli(c))
			continue;
		per_command = 0;
		for (opt = 0; opt < CO_COUNT; opt++) {
			if ((c->options & CO_BIT(opt)) != 0)
				continue;
			if (parse_with(c, opt, &cli) != MERR_PARSE)
				fail_msg("muster %s --%s accepted", c->name,
				    clitab_options[opt].name);
			snprintf(want, sizeof(want),
			    "--%s is not an option of "
			    "%s (see muster %s --help)",
			    clitab_options[opt].name, c->name, c->name);
			if (strcmp(errmsg, want) != 0)
				fail_msg("muster %s --%s: '%s'", c->name,
				    clitab_options[opt].name, errmsg);
			cli_free(&cli);
			per_command++;
		}
		/* Every subcommand has options that are not its own. */
		assert_true(per_command > 0);
	}
}

/* The example, and the short spelling named as given. */
static void
test_foreign_examples(void **state)
{
	char *push[] = { "push", "--sort", "cpu", "--timeout", "5",
		"--command", "ls", "-w", "a", "f", "/f", NULL };
	char *push_short[] = { "push", "-w", "a", "-t", "5", "f", "/f", NULL };
	char *install[] = { "install", "-w", "a", "--connect-rate", "5",
		NULL };
	char *daemon[] = { "daemon", "--stdin", "-w", "a", NULL };

	(void)state;
	parse_cmd_refused(push);
	assert_string_equal(errmsg,
	    "--sort is not an option of push (see "
	    "muster push --help)");
	parse_cmd_refused(push_short);
	assert_string_equal(errmsg,
	    "-t is not an option of push (see "
	    "muster push --help)");
	parse_cmd_refused(install);
	assert_string_equal(errmsg,
	    "--connect-rate is not an option of keys "
	    "install (see muster keys install --help)");
	parse_cmd_refused(daemon);
	assert_string_equal(errmsg,
	    "--stdin is not an option of daemon "
	    "(see muster daemon --help)");
}

/* Each subcommand's --help shows the options of its entry, no other. */
static void
test_help_matches_table(void **state)
{
	char *text, needle[64];
	size_t i, len;
	int opt;
	FILE *f;

	(void)state;
	for (i = 0; i < clitab_ncommands; i++) {
		const struct clitab_command *c = &clitab_commands[i];

		assert_non_null(f = open_memstream(&text, &len));
		clitab_command_usage(f, c);
		fclose(f);
		for (opt = 0; opt < CO_COUNT; opt++) {
			const struct clitab_option *o = &clitab_options[opt];
			bool listed;

			if (o->help == NULL) /* documented by the man page */
				continue;
			snprintf(needle, sizeof(needle), "--%s%s", o->name,
			    o->has_arg ? " " : "");
			listed = strstr(text, needle) != NULL;
			if (!o->has_arg) {
				snprintf(needle, sizeof(needle), "--%s ",
				    o->name);
				listed = strstr(text, needle) != NULL;
				snprintf(needle, sizeof(needle), "--%s\n",
				    o->name);
				listed = listed || strstr(text, needle);
			}
			if (listed != ((c->options & CO_BIT(opt)) != 0))
				fail_msg("muster %s --help %s --%s", c->name,
				    listed ? "shows" : "misses", o->name);
		}
		free(text);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_options_accepted),
		cmocka_unit_test(test_foreign_options_refused),
		cmocka_unit_test(test_foreign_examples),
		cmocka_unit_test(test_help_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
