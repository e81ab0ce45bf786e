/*
 * One option applied to a struct cli: the kinds of clitab_parse (flag,
 * number with bounds, list, ...) and the setters of the few options that
 * are none of them.
 */
#include "cli_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "bootstrap.h"
#include "err.h"
#include "lastrun.h"
#include "sshopt.h"

/* The field at off in cli, as a T. */
#define CLI_FIELD(cli, off, T) ((T *)(void *)((char *)(cli) + (off)))

int
cliopt_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	int r;

	if ((r = ARRAY_RESERVE(*v, *cap, *n + 1, 4)) != 0)
		return r;
	(*v)[(*n)++] = (char *)s;
	return 0;
}

static int
cliopt_seconds(const char *s, double *out)
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

/* A whole number in [lo, hi]. */
static int
cliopt_long(const char *s, int base, double lo, double hi, long *out)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(s, &end, base);
	if (end == s || *end != '\0' || errno == ERANGE || l < (long)lo ||
	    l > (long)hi)
		return MERR_PARSE;
	*out = l;
	return 0;
}

/* --batch, --max-fail: N, or N% of the hosts. */
static int
cliopt_hosts(const char *arg, unsigned *n, bool *pct)
{
	char *end;
	unsigned long l;

	errno = 0;
	l = strtoul(arg, &end, 10);
	*pct = *end == '%';
	if (*pct)
		end++;
	if (end == arg || *end != '\0' || arg[0] < '0' || arg[0] > '9' ||
	    errno == ERANGE || l < 1 || l > (*pct ? 100 : 10000000))
		return MERR_PARSE;
	*n = (unsigned)l;
	return 0;
}

/* The kinds that take a value which can be malformed. */
static int
cliopt_value(struct cli *cli, const struct clitab_parse *p, const char *arg)
{
	double d;
	long l;
	int r;

	switch (p->kind) {
	case CK_INT:
		if ((r = cliopt_long(arg, p->flags & CP_OCTAL ? 8 : 10, p->lo,
			 p->hi, &l)) == 0)
			*CLI_FIELD(cli, p->off, int) = (int)l;
		return r;
	case CK_ID:
		if ((r = cliopt_long(arg, 10, 0, 0x7fffffffL, &l)) == 0)
			*CLI_FIELD(cli, p->off, int64_t) = l;
		return r;
	case CK_SECONDS:
		if (cliopt_seconds(arg, &d) != 0 || d < p->lo ||
		    ((p->flags & CP_ABOVE) && d == p->lo))
			return MERR_PARSE;
		*CLI_FIELD(cli, p->off, double) = d;
		return 0;
	case CK_BYTES:
		return cli_parse_size(arg, CLI_FIELD(cli, p->off, size_t));
	case CK_HOSTS:
		return cliopt_hosts(arg, CLI_FIELD(cli, p->off, unsigned),
		    CLI_FIELD(cli, p->off2, bool));
	default: return MERR_PARSE;
	}
}

int
cliopt_apply(struct cli *cli, const struct cli_arg *a)
{
	const struct clitab_option *o = &clitab_options[a->opt];
	const struct clitab_parse *p = &o->parse;

	switch (p->kind) {
	case CK_NONE: return 0;
	case CK_FLAG: *CLI_FIELD(cli, p->off, bool) = true; return 0;
	case CK_CLEAR: *CLI_FIELD(cli, p->off, bool) = false; return 0;
	case CK_COUNT: (*CLI_FIELD(cli, p->off, int))++; return 0;
	case CK_STRING:
		*CLI_FIELD(cli, p->off, const char *) = a->arg;
		return 0;
	case CK_LIST:
		return cliopt_push(CLI_FIELD(cli, p->off, char **),
		    CLI_FIELD(cli, p->off2, size_t),
		    CLI_FIELD(cli, p->cap, size_t), a->arg);
	case CK_SETTER: return p->set(cli, a);
	default: break;
	}
	if (cliopt_value(cli, p, a->arg) != 0) {
		snprintf(a->err, a->errlen, "--%s: %s, got '%s'", o->name,
		    p->expect, a->arg);
		return MERR_PARSE;
	}
	return 0;
}

int
cliopt_inventory(struct cli *cli, const struct cli_arg *a)
{
	/* $MUSTER_INVENTORY over the config file. */
	if (!a->from_conf || getenv("MUSTER_INVENTORY") == NULL)
		cli->inventory = a->arg;
	return 0;
}

int
cliopt_login(struct cli *cli, const struct cli_arg *a)
{
	if (!bootstrap_user_ok(a->arg)) {
		snprintf(a->err, a->errlen,
		    "-l: '%s' is not a plain user name", a->arg);
		return MERR_PARSE;
	}
	cli->login = a->arg;
	return 0;
}

int
cliopt_ssh_option(struct cli *cli, const struct cli_arg *a)
{
	char *line;
	int r;

	if ((r = sshopt_parse(a->arg, &line, a->err, a->errlen)) != 0)
		return r;
	if ((r = cliopt_push(&cli->ssh_options, &cli->nssh_options,
		 &cli->cap.ssh_options, line)) != 0)
		free(line);
	return r;
}

int
cliopt_rerun(struct cli *cli, const struct cli_arg *a)
{
	unsigned mask;
	int r;

	if ((r = lastrun_statuses(a->arg, &mask, a->err, a->errlen)) == 0)
		cli->rerun = a->arg;
	return r;
}

/* The output modes: the last one given wins, and each overrides --json
 * given before it. */
static int
cliopt_mode(struct cli *cli, enum output_mode mode, bool merge_stderr)
{
	cli->run.mode = mode;
	if (mode == OUTPUT_GATHER)
		cli->run.merge_stderr = merge_stderr;
	cli->json = false;
	return 0;
}

int
cliopt_gather(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_GATHER, false);
}

int
cliopt_gather_all(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_GATHER, true);
}

int
cliopt_live_gather(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_LIVE, false);
}

int
cliopt_diff(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_DIFF, false);
}

int
cliopt_become_user(struct cli *cli, const struct cli_arg *a)
{
	if (*a->arg == '\0' || *a->arg == '-') {
		snprintf(a->err, a->errlen,
		    "--become-user: expected a user name, got '%s'", a->arg);
		return MERR_PARSE;
	}
	cli->run.become_user = a->arg;
	cli->run.become = true;
	return 0;
}

int
cliopt_ask_become_pass(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	cli->run.ask_become_pass = cli->run.become = true;
	return 0;
}

int
cliopt_recursive(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	cli->push.recursive = cli->pull.recursive = true;
	return 0;
}

int
cliopt_sort(struct cli *cli, const struct cli_arg *a)
{
	static const char *const cols[] = { "host", "cpu", "load", "mem",
		"disk", "net" };
	size_t i;

	for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (strcmp(a->arg, cols[i]) == 0) {
			cli->watch.sort = a->arg;
			return 0;
		}
	snprintf(a->err, a->errlen,
	    "--sort: one of host, cpu, load, mem, disk, net; got '%s'",
	    a->arg);
	return MERR_PARSE;
}

int
cliopt_help(struct cli *cli, const struct cli_arg *a)
{
	(void)cli;
	clitab_command_usage(stdout, a->cmd);
	exit(0);
}
