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
group_setup(void **state)
{
	/* The environment must not pick an inventory for us. */
	unsetenv("MUSTER_INVENTORY");
	return 0;
}
