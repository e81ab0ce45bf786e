#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clineg.h"
#include "cliopt.h"
#include "err.h"
#include "bootstrap.h"
#include "identity.h"
#include "inventory.h"
#include "selection.h"
#include "bastion.h"
#include "pace.h"
#include "utf8.h"

void
cli_usage(FILE *f)
{
	clitab_usage(f);
}

/* getopt's tables, made from clitab_options: every option is known to
 * the parser, so that one a subcommand does not take can be named. */
static void
cli_getopt_tables(const struct clitab_command *c, struct option *longopts,
    char *shortopts)
{
	int i, n;

	if (c->options_first)
		*shortopts++ = '+';
	for (i = 0; i < CO_COUNT; i++) {
		const struct clitab_option *o = &clitab_options[i];

		longopts[i].name = o->name;
		longopts[i].has_arg = o->has_arg ?
		    required_argument :
		    no_argument;
		longopts[i].flag = NULL;
		longopts[i].val = o->val;
		if (o->val < 256) {
			*shortopts++ = (char)o->val;
			if (o->has_arg)
				*shortopts++ = ':';
		}
	}
	/* The off switches follow, then the terminating zero entry. */
	memset(&longopts[CO_COUNT], 0, (CO_COUNT + 1) * sizeof(*longopts));
	for (i = 0, n = CO_COUNT; i < CO_COUNT; i++)
		if (clitab_options[i].neg != NULL) {
			longopts[n].name = clitab_options[i].neg;
			longopts[n++].val = OPT_NEG + i;
		}
	*shortopts = '\0';
}

/* A usage error naming the option as it was spelled, long or short. */
static int
cli_foreign(const struct clitab_command *c, int opt, bool as_long, char *err,
    size_t errlen)
{
	if (as_long)
		snprintf(err, errlen,
		    "--%s is not an option of %s (see muster "
		    "%s --help)",
		    clitab_options[opt].name, c->name, c->name);
	else
		snprintf(err, errlen,
		    "-%c is not an option of %s (see muster "
		    "%s --help)",
		    clitab_options[opt].val, c->name, c->name);
	return MERR_PARSE;
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

void
cli_roll(const struct cli *cli, size_t nhosts, size_t *batch, size_t *max_fail)
{
	*batch = cli->batch_pct ?
	    (nhosts * cli->batch + 99) / 100 :
	    cli->batch;
	*max_fail = cli->max_fail_pct ?
	    (nhosts * cli->max_fail + 99) / 100 :
	    cli->max_fail;
	if (cli->batch > 0 && *batch == 0)
		*batch = 1;
	if (cli->max_fail > 0 && *max_fail == 0)
		*max_fail = 1;
}

/* Options that add to a list: the command line's replace the config
 * file's. */
static bool
cli_list_opt(int opt)
{
	return opt == CO_HOSTS || opt == CO_EXCLUDE || opt == CO_GROUP ||
	    opt == CO_COMMAND || opt == CO_ALERT || opt == CO_ALERTMANAGER ||
	    opt == CO_SSH_OPTION;
}

static void
cli_list_reset(struct cli *cli, int opt)
{
	size_t i;

	switch (opt) {
	case CO_HOSTS: cli->nw = 0; break;
	case CO_EXCLUDE: cli->nx = 0; break;
	case CO_GROUP: cli->ng = 0; break;
	case CO_COMMAND: cli->run.ncommands = 0; break;
	case CO_ALERT: cli->watch.nalerts = 0; break;
	case CO_ALERTMANAGER: cli->watch.nalertmanagers = 0; break;
	case CO_SSH_OPTION:
		for (i = 0; i < cli->nssh_options; i++)
			free(cli->ssh_options[i]);
		cli->nssh_options = 0;
		break;
	default: break;
	}
}

/* run's operands: the words of a command line. */
static int
cli_run_operands(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen)
{
	int rest = argc - optind;
	char *cmd;

	/* Words after the options replace the config's commands. */
	if (rest > 0 && (cli->cmdline_lists & CO_BIT(CO_COMMAND)) == 0)
		cli->run.ncommands = 0;
	if (rest > 0) {
		if ((cmd = join_args(rest, argv + optind)) == NULL ||
		    cliopt_push(&cli->run.commands, &cli->run.ncommands,
			&cli->cap.commands, cmd) != 0) {
			free(cmd);
			return MERR_NOMEM;
		}
		cli->run.owned_command = cmd;
	}
	/* --list-hosts shows a command's targets before it is written. */
	if (cli->run.ncommands == 0 && !cli->list_hosts) {
		snprintf(err, errlen,
		    "no command given (muster run [options] -- COMMAND)");
		return MERR_PARSE;
	}
	return 0;
}

/* push's and pull's: two paths. */
static int
cli_files_operands(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen)
{
	int rest = argc - optind;

	if (rest != 2) {
		snprintf(err, errlen, "%s needs two operands: %s (got %d)",
		    cli->cmd == CLI_PUSH ? "push" : "pull",
		    cli->cmd == CLI_PUSH ? "SRC DEST" : "REMOTE LOCALDIR",
		    rest);
		return MERR_PARSE;
	}
	if (argv[optind][0] == '\0' || argv[optind + 1][0] == '\0') {
		snprintf(err, errlen, "empty path operand");
		return MERR_PARSE;
	}
	cli->push.src = cli->pull.remote = argv[optind];
	cli->push.dest = cli->pull.localdir = argv[optind + 1];
	return 0;
}

/* What each subcommand takes after its options. */
static int
take_operands(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	switch (cli->cmd) {
	case CLI_RUN: return cli_run_operands(argc, argv, cli, err, errlen);
	case CLI_PUSH:
	case CLI_PULL: return cli_files_operands(argc, argv, cli, err, errlen);
	case CLI_KEYS_INSTALL:
	case CLI_WATCH:
		if (argc - optind != 0) {
			snprintf(err, errlen,
			    "%s takes no operands (select hosts with -w, -i, "
			    "-g)",
			    cli->cmd == CLI_WATCH ? "watch" : "keys install");
			return MERR_PARSE;
		}
		return 0;
	case CLI_DAEMON:
		/* Operands are host lists, as with -w. */
		for (; optind < argc; optind++)
			if (cliopt_push(&cli->wlists, &cli->nw, &cli->cap.w,
				argv[optind]) != 0)
				return MERR_NOMEM;
		if ((cli->daemon_status || cli->daemon_stop) &&
		    (cli->nw > 0 || cli->ng > 0)) {
			snprintf(err, errlen,
			    "--status and --stop take no hosts");
			return MERR_PARSE;
		}
		return 0;
	case CLI_KEYS_INIT: /* not parsed here: no hosts */
	case CLI_HELP:
	case CLI_VERSION: break;
	}
	return MERR_PARSE;
}

/* What a subcommand does without the options that change it. */
static void
cli_defaults(struct cli *cli)
{
	cli->connect_timeout = CLI_CONNECT_TIMEOUT_DEFAULT;
	cli->fanout = CLI_FANOUT_DEFAULT;
	cli->max_startups = PACE_MAX_STARTUPS_DEFAULT;
	cli->connect_rate = PACE_RATE_DEFAULT;
	cli->jump_channels = BASTION_CHANNELS_DEFAULT;
	cli->run.mode = OUTPUT_LINES;
	cli->run.max_output = 64u * 1024 * 1024;
	cli->run.max_total_output = 1024u * 1024 * 1024;
	cli->push.mode = -1;
	cli->push.uid = cli->push.gid = -1;
	cli->push.streams = 4;
	cli->push.progress = isatty(STDERR_FILENO);
	cli->run.progress = isatty(STDERR_FILENO);
	cli->watch.interval = 5;
	cli->watch.sort = "host";
	cli->watch.live = isatty(STDOUT_FILENO);
	cli->inventory = getenv("MUSTER_INVENTORY");
}

/* --become and --tty as they are after every option is read. */
static int
cli_check_become(struct cli *cli, char *err, size_t errlen)
{
	if (cli->run.become && cli->run.become_user == NULL)
		cli->run.become_user = "root";
	if (cli->run.become && !bootstrap_user_ok(cli->run.become_user)) {
		snprintf(err, errlen,
		    "--become-user: '%s' is not a plain user name",
		    cli->run.become_user);
		return MERR_PARSE;
	}
	/* sudo reading a password on a terminal flushes its pending input,
	 * and with it what the agent queued behind the password. */
	if (cli->run.tty && cli->run.ask_become_pass) {
		snprintf(err, errlen,
		    "--tty cannot be combined with "
		    "--ask-become-pass (use --become with passwordless sudo)");
		return MERR_PARSE;
	}
	return 0;
}

/* The settings that follow from others, and the host selection. */
static int
cli_finish(struct cli *cli, char *err, size_t errlen)
{
	if (cli->json)
		cli->run.mode = OUTPUT_JSON;
	cli->push.json = cli->pull.json = cli->watch.json = cli->json;
	if (cli->json)
		cli->watch.live = false;
	if (cli->json)
		cli->push.progress = false;
	/* -v writes its own lines on stderr as hosts go. */
	if (cli->verbose > 0)
		cli->run.progress = false;
	cli->run.fanout = cli->push.fanout = cli->pull.fanout =
	    cli->watch.fanout = cli->fanout;
	/* A daemon may start empty: clients name the hosts. */
	if (cli->cmd != CLI_DAEMON && cli->nw == 0 && cli->nh == 0 &&
	    cli->inventory == NULL && cli->rerun == NULL) {
		snprintf(err, errlen,
		    "no hosts selected: give -w LIST, "
		    "--hostfile FILE, -i INVENTORY or --rerun STATUS");
		return MERR_PARSE;
	}
	if (cli->ng > 0 && cli->inventory == NULL) {
		snprintf(err, errlen, "-g needs an inventory (-i FILE)");
		return MERR_PARSE;
	}
	return 0;
}

/*
 * One option getopt returned: refused when the subcommand does not take
 * it, else stored as its table entry says (cliopt.c).
 */
static int
cli_option(struct cli *cli, const struct clitab_command *cmd, int c,
    int longindex, size_t nconf, char *err, size_t errlen)
{
	struct cli_arg a = { cmd, -1, optarg, false, err, errlen };

	if (c >= OPT_NEG) {
		if ((cmd->options & CO_BIT(c - OPT_NEG)) == 0)
			return cli_negate_foreign(cmd, c - OPT_NEG, err,
			    errlen);
		cli_negate(cli, c - OPT_NEG);
		return 0;
	}
	a.opt = longindex >= 0 ? longindex : clitab_by_val(c);
	if (a.opt >= 0 && (cmd->options & CO_BIT(a.opt)) == 0)
		return cli_foreign(cmd, a.opt, longindex >= 0, err, errlen);
	/* The file's options are all long, and come first. */
	a.from_conf = longindex >= 0 && (size_t)optind <= nconf + 1;
	cli->conf_at = a.from_conf ? optind - 2 : -1;
	if (a.opt < 0) {
		snprintf(err, errlen,
		    "unknown or incomplete option (see muster %s --help)",
		    cmd->name);
		return MERR_PARSE;
	}
	if (!a.from_conf && cli_list_opt(a.opt) &&
	    (cli->cmdline_lists & CO_BIT(a.opt)) == 0) {
		cli->cmdline_lists |= CO_BIT(a.opt);
		cli_list_reset(cli, a.opt);
	}
	return cliopt_apply(cli, &a);
}

/*
 * argv[1 .. nconf] are the config file's options (all "--name=value"),
 * the command line follows.
 */
static int
cli_parse_args(int argc, char **argv, struct cli *cli, size_t nconf, char *err,
    size_t errlen)
{
	struct option longopts[2 * CO_COUNT + 1];
	char shortopts[2 * CO_COUNT + 2];
	const struct clitab_command *cmd;
	int c, longindex, r;

	/* keys init, help and version have parsers of their own. */
	if ((cmd = clitab_by_word(argv[0])) == NULL ||
	    (cmd->options & CO_BIT(CO_HOSTS)) == 0) {
		snprintf(err, errlen, "unknown command '%s'", argv[0]);
		return MERR_PARSE;
	}
	cli->cmd = cmd->cmd;
	cli_getopt_tables(cmd, longopts, shortopts);
	cli_defaults(cli);
	/* 0, not 1: glibc then re-initialises fully, including the '+'.
	 * run: '+' stops at the first word of the command; push and pull
	 * take their options anywhere, like cp. */
	optind = 0;
	for (;;) {
		longindex = -1;
		if ((c = getopt_long(argc, argv, shortopts, longopts,
			 &longindex)) == -1)
			break;
		if ((r = cli_option(cli, cmd, c, longindex, nconf, err,
			 errlen)) != 0)
			return r;
	}
	cli->conf_at = -1;
	if ((r = cli_check_become(cli, err, errlen)) != 0 ||
	    (r = take_operands(argc, argv, cli, err, errlen)) != 0)
		return r;
	return cli_finish(cli, err, errlen);
}

int
cli_parse(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	memset(cli, 0, sizeof(*cli));
	cli->conf_at = -1;
	return cli_parse_args(argc, argv, cli, 0, err, errlen);
}

/* --config FILE on the command line, before it is parsed for real. */
static const char *
cli_config_arg(const struct clitab_command *cmd, int argc, char **argv)
{
	struct option longopts[2 * CO_COUNT + 1];
	char shortopts[2 * CO_COUNT + 2], **copy;
	const char *path = NULL;
	int c, saved = opterr;

	/* getopt moves operands of push and pull: a copy takes that. */
	if ((copy = calloc((size_t)argc + 1, sizeof(*copy))) == NULL)
		return NULL;
	memcpy(copy, argv, (size_t)argc * sizeof(*copy));
	cli_getopt_tables(cmd, longopts, shortopts);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, copy, shortopts, longopts, NULL)) != -1)
		if (c == OPT_CONFIG)
			path = optarg;
	opterr = saved;
	optind = 0;
	free(copy);
	return path;
}

int
cli_parse_configured(int argc, char **argv, struct cli *cli, char *err,
    size_t errlen)
{
	const struct clitab_command *cmd;
	const struct config_arg *at;
	char msg[1024];
	size_t i, n;
	int r;

	memset(cli, 0, sizeof(*cli));
	cli->conf_at = -1;
	if (argc < 1 || (cmd = clitab_by_word(argv[0])) == NULL ||
	    (cmd->options & CO_BIT(CO_CONFIG)) == 0)
		return cli_parse_args(argc, argv, cli, 0, err, errlen);
	if ((r = config_load(&cli->conf, cmd, cli_config_arg(cmd, argc, argv),
		 err, errlen)) != 0)
		return r == MERR_NOMEM ? r : MERR_PARSE;
	n = cli->conf.n;
	if ((cli->merged = calloc((size_t)argc + n + 1,
		 sizeof(*cli->merged))) == NULL)
		return MERR_NOMEM;
	cli->merged[0] = argv[0];
	for (i = 0; i < n; i++)
		cli->merged[1 + i] = cli->conf.v[i].arg;
	for (i = 1; i < (size_t)argc; i++)
		cli->merged[n + i] = argv[i];
	r = cli_parse_args(argc + (int)n, cli->merged, cli, n, err, errlen);
	if (r != 0 && cli->conf_at >= 0 && (size_t)cli->conf_at < n) {
		at = &cli->conf.v[cli->conf_at];
		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s:%u: %s", at->file, at->line, msg);
	}
	return r;
}

int
cli_parse_run(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	if (argc < 1 || strcmp(argv[0], "run") != 0) {
		memset(cli, 0, sizeof(*cli));
		snprintf(err, errlen, "not a run command line");
		return MERR_PARSE;
	}
	return cli_parse(argc, argv, cli, err, errlen);
}

void
cli_free(struct cli *cli)
{
	size_t i;

	free(cli->wlists);
	free(cli->xlists);
	free(cli->groups);
	free(cli->hostfiles);
	free(cli->run.commands);
	free(cli->run.owned_command);
	free(cli->watch.alerts);
	free(cli->watch.alertmanagers);
	for (i = 0; i < cli->nssh_options; i++)
		free(cli->ssh_options[i]);
	free(cli->ssh_options);
	free(cli->merged);
	config_free(&cli->conf);
}
