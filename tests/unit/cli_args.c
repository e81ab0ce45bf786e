/* Command lines parsed for the tests (cli_args.h). */
#include "cli_args.h"

char errmsg[512];

void
getopt_reset(void)
{
	static char *dummy[] = { "reset", NULL };

	optind = 0;
	opterr = 0;
	assert_int_equal(getopt(1, dummy, "+"), -1);
}

size_t
argc_of(char **argv)
{
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

int
parse(char **argv, struct cli *cli)
{
	getopt_reset();
	errmsg[0] = '\0';
	return cli_parse_run((int)argc_of(argv), argv, cli, errmsg,
	    sizeof(errmsg));
}

int
parse_cmd(char **argv, struct cli *cli)
{
	getopt_reset();
	errmsg[0] = '\0';
	return cli_parse((int)argc_of(argv), argv, cli, errmsg,
	    sizeof(errmsg));
}

void
parse_cmd_refused(char **argv)
{
	struct cli cli;

	assert_int_equal(parse_cmd(argv, &cli), MERR_PARSE);
	cli_free(&cli);
}

static void
errmsg_mentions(const char *want)
{
	if (strstr(errmsg, want) == NULL)
		fail_msg("error '%s' does not mention '%s'", errmsg, want);
}

void
parse_cmd_fails(char **argv, const char *want)
{
	parse_cmd_refused(argv);
	errmsg_mentions(want);
}

void
parse_fails(char **argv, const char *want)
{
	struct cli cli;

	assert_int_equal(parse(argv, &cli), MERR_PARSE);
	errmsg_mentions(want);
	cli_free(&cli);
}

void
parse_mode_is(char **argv, enum output_mode mode)
{
	struct cli cli;

	assert_int_equal(parse(argv, &cli), 0);
	assert_int_equal(cli.run.mode, mode);
	cli_free(&cli);
}

int
group_setup(void **state)
{
	/* The environment must not pick an inventory for us. */
	unsetenv("MUSTER_INVENTORY");
	return 0;
}
