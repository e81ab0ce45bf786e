#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "inventory.h"

enum {
	OPT_CONNECT_TIMEOUT = 256,
	OPT_KNOWN_HOSTS,
	OPT_ACCEPT_NEW,
	OPT_JSON,
	OPT_RAW,
	OPT_MAX_OUTPUT,
};

static const struct option run_longopts[] = {
	{ "hosts", required_argument, NULL, 'w' },
	{ "exclude", required_argument, NULL, 'x' },
	{ "inventory", required_argument, NULL, 'i' },
	{ "group", required_argument, NULL, 'g' },
	{ "fanout", required_argument, NULL, 'f' },
	{ "timeout", required_argument, NULL, 't' },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "identity", required_argument, NULL, 'k' },
	{ "known-hosts", required_argument, NULL, OPT_KNOWN_HOSTS },
	{ "accept-new", no_argument, NULL, OPT_ACCEPT_NEW },
	{ "config", required_argument, NULL, 'F' },
	{ "gather", no_argument, NULL, 'b' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "command", required_argument, NULL, 'c' },
	{ "max-output", required_argument, NULL, OPT_MAX_OUTPUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

void
cli_usage(FILE *f)
{
	fputs(
"usage: muster run [options] -- COMMAND [ARG...]\n"
"       muster run [options] -c COMMAND [-c COMMAND...]\n"
"       muster keys init [-k FILE]\n"
"       muster version\n"
"\n"
"Host selection (at least one of -w, -i):\n"
"  -w, --hosts LIST        [user@]host[:port],... with ranges: web[01-20]\n"
"  -i, --inventory FILE    INI inventory ([group] sections, user= port=)\n"
"                          (default $MUSTER_INVENTORY)\n"
"  -g, --group GROUP       only this inventory group (repeatable)\n"
"  -x, --exclude LIST      drop these hosts\n"
"Connection:\n"
"  -k, --identity FILE     private key (default keys/id_ed25519), then\n"
"                          ssh-agent and ~/.ssh identities\n"
"      --known-hosts FILE  host keys (default ~/.ssh/known_hosts)\n"
"      --accept-new        record unknown host keys (changed keys are\n"
"                          always refused)\n"
"  -F, --config FILE       ssh_config (default ~/.ssh/config)\n"
"  -f, --fanout N          concurrent connection set-ups (default 256)\n"
"      --connect-timeout S deadline per connection step (default 10)\n"
"Command:\n"
"  -c, --command CMD       command line; repeat to run several at once\n"
"  -t, --timeout S         kill the command's process group after S seconds\n"
"Output:\n"
"  (default)               'host: line' as lines arrive\n"
"  -b, --gather            identical outputs once, with their host set\n"
"      --json              one JSON object per host per line\n"
"      --raw               do not escape control characters\n"
"      --max-output BYTES  per host and stream kept for -b/--json\n"
"                          (default 64 MiB)\n"
"  -v, --verbose           report connection timings on stderr\n"
"\n"
"Exit status: 0 all ok, 1 a command failed or timed out, 2 usage error,\n"
"3 a host was unreachable or refused (host key, authentication).\n", f);
}

static int
push_str(char ***v, size_t *n, const char *s)
{
	char **p = realloc(*v, (*n + 1) * sizeof(**v));

	if (p == NULL)
		return MERR_NOMEM;
	*v = p;
	(*v)[(*n)++] = (char *)s;
	return 0;
}

static int
parse_seconds(const char *s, double *out)
{
	char *end;
	double d = strtod(s, &end);

	/* Written so that NaN fails too; the bound keeps milliseconds in
	 * the protocol's 32 bits. */
	if (end == s || *end != '\0' || !(d >= 0 && d <= 4000000))
		return MERR_PARSE;
	*out = d;
	return 0;
}

static char *
join_args(int argc, char **argv)
{
	size_t len = 1;
	char *s;
	int i;

	for (i = 0; i < argc; i++)
		len += strlen(argv[i]) + 1;
	if ((s = calloc(1, len)) == NULL)
		return NULL;
	/* Like ssh: the words form one command line for the remote shell. */
	for (i = 0; i < argc; i++) {
		if (i > 0)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

int
cli_parse_run(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen)
{
	char *end;
	long l;
	int c, r = 0;

	memset(cli, 0, sizeof(*cli));
	cli->connect_timeout = 10;
	cli->run.fanout = 256;
	cli->run.mode = OUTPUT_LINES;
	cli->run.max_output = 64u * 1024 * 1024;
	cli->inventory = getenv("MUSTER_INVENTORY");
	/* 0, not 1: glibc then re-initialises fully, including the '+'. */
	optind = 0;
	/* '+': stop at the first non-option, which starts the command. */
	while ((c = getopt_long(argc, argv, "+w:x:i:g:f:t:k:F:bc:vh",
	    run_longopts, NULL)) != -1) {
		switch (c) {
		case 'w': r = push_str(&cli->wlists, &cli->nw, optarg); break;
		case 'x': r = push_str(&cli->xlists, &cli->nx, optarg); break;
		case 'g': r = push_str(&cli->groups, &cli->ng, optarg); break;
		case 'i': cli->inventory = optarg; break;
		case 'k': cli->identity = optarg; break;
		case 'F': cli->ssh_config = optarg; break;
		case OPT_KNOWN_HOSTS: cli->known_hosts = optarg; break;
		case OPT_ACCEPT_NEW: cli->accept_new = true; break;
		case 'b': cli->run.mode = OUTPUT_GATHER; break;
		case OPT_JSON: cli->run.mode = OUTPUT_JSON; break;
		case OPT_RAW: cli->run.raw = true; break;
		case 'v': cli->verbose = true; break;
		case 'c':
			r = push_str(&cli->run.commands, &cli->run.ncommands,
			    optarg);
			break;
		case 'f':
			l = strtol(optarg, &end, 10);
			if (*end != '\0' || l < 1 || l > 100000) {
				snprintf(err, errlen, "--fanout: expected a "
				    "number from 1 to 100000, got '%s'", optarg);
				return MERR_PARSE;
			}
			cli->run.fanout = (int)l;
			break;
		case 't':
			if (parse_seconds(optarg, &cli->run.timeout) != 0) {
				snprintf(err, errlen, "--timeout: expected "
				    "seconds, got '%s'", optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_seconds(optarg, &cli->connect_timeout) != 0 ||
			    cli->connect_timeout == 0) {
				snprintf(err, errlen, "--connect-timeout: "
				    "expected seconds, got '%s'", optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_MAX_OUTPUT:
			errno = 0;
			l = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || l < 0 ||
			    errno == ERANGE) {
				snprintf(err, errlen, "--max-output: expected "
				    "bytes, got '%s'", optarg);
				return MERR_PARSE;
			}
			cli->run.max_output = (size_t)l;
			break;
		case 'h':
			cli_usage(stdout);
			exit(0);
		default:
			snprintf(err, errlen, "unknown or incomplete option "
			    "(see muster run --help)");
			return MERR_PARSE;
		}
		if (r != 0)
			return r;
	}
	if (optind < argc) {
		char *cmd = join_args(argc - optind, argv + optind);

		if (cmd == NULL || push_str(&cli->run.commands,
		    &cli->run.ncommands, cmd) != 0)
			return MERR_NOMEM;
		cli->run.owned_command = cmd;
	}
	if (cli->run.ncommands == 0) {
		snprintf(err, errlen, "no command given (muster run [options] "
		    "-- COMMAND)");
		return MERR_PARSE;
	}
	if (cli->nw == 0 && cli->inventory == NULL) {
		snprintf(err, errlen, "no hosts selected: give -w LIST or "
		    "-i INVENTORY");
		return MERR_PARSE;
	}
	if (cli->ng > 0 && cli->inventory == NULL) {
		snprintf(err, errlen, "-g needs an inventory (-i FILE)");
		return MERR_PARSE;
	}
	return 0;
}

void
cli_free(struct cli *cli)
{
	free(cli->wlists);
	free(cli->xlists);
	free(cli->groups);
	free(cli->run.commands);
	free(cli->run.owned_command);
}

static const struct host_spec *
find_host(const struct host_set *set, const char *name)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

int
cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen)
{
	struct inventory inv;
	struct host_set excl, named;
	size_t i;
	int r = 0;

	host_set_init(&excl);
	host_set_init(&named);
	memset(&inv, 0, sizeof(inv));
	if (cli->inventory != NULL) {
		if ((r = inventory_load(cli->inventory, &inv, err,
		    errlen)) != 0)
			goto out;
		if (cli->ng == 0 && cli->nw == 0)
			r = inventory_select(&inv, "all", hosts, err, errlen);
		for (i = 0; r == 0 && i < cli->ng; i++)
			r = inventory_select(&inv, cli->groups[i], hosts, err,
			    errlen);
		if (r != 0)
			goto out;
	}
	for (i = 0; i < cli->nw; i++)
		if ((r = hostlist_expand(cli->wlists[i], &named, err,
		    errlen)) != 0)
			goto out;
	/* A host named with -w takes its user and port from the inventory
	 * when the command line does not give them. */
	for (i = 0; i < named.n; i++) {
		const struct host_spec *w = &named.v[i];
		const struct host_spec *known = cli->inventory != NULL ?
		    find_host(&inv.all, w->name) : NULL;

		if ((r = host_set_add(hosts, w->name, w->user ? w->user :
		    known ? known->user : NULL, w->port ? w->port : known ?
		    known->port : 0)) != 0)
			goto out;
	}
	for (i = 0; i < cli->nx; i++)
		if ((r = hostlist_expand(cli->xlists[i], &excl, err,
		    errlen)) != 0)
			goto out;
	host_set_exclude(hosts, &excl);
	if (hosts->n == 0) {
		snprintf(err, errlen, "the selection contains no hosts");
		r = MERR_INVAL;
	}
 out:
	host_set_free(&excl);
	host_set_free(&named);
	if (cli->inventory != NULL)
		inventory_free(&inv);
	return r;
}
