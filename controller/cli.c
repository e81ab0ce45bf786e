#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "array.h"
#include "err.h"
#include "bootstrap.h"
#include "identity.h"
#include "inventory.h"
#include "lastrun.h"
#include "selection.h"
#include "bastion.h"
#include "pace.h"
#include "sshopt.h"
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
	int i;

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
	memset(&longopts[CO_COUNT], 0, sizeof(longopts[CO_COUNT]));
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

static int
push_str(char ***v, size_t *n, size_t *cap, const char *s)
{
	int r;

	if ((r = ARRAY_RESERVE(*v, *cap, *n + 1, 4)) != 0)
		return r;
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
cli_parse_size(const char *arg, size_t *out)
{
	unsigned long long v, mult = 1;
	char *end;

	if (*arg < '0' || *arg > '9')
		return MERR_PARSE;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno == ERANGE)
		return MERR_PARSE;
	switch (*end) {
	case 'K':
	case 'k':
		mult = 1ULL << 10;
		end++;
		break;
	case 'M':
	case 'm':
		mult = 1ULL << 20;
		end++;
		break;
	case 'G':
	case 'g':
		mult = 1ULL << 30;
		end++;
		break;
	default: break;
	}
	if (mult > 1) {
		/* 64MiB and 64MB both mean 2^26 here, as in the help. */
		end += *end == 'i' ? 1 : 0;
		end += *end == 'B' || *end == 'b' ? 1 : 0;
	}
	if (*end != '\0' || v > SIZE_MAX / mult)
		return MERR_PARSE;
	*out = (size_t)(v * mult);
	return 0;
}

static int
parse_id(const char *opt, const char *arg, int64_t *out, char *err,
    size_t errlen)
{
	char *end;
	long l;

	errno = 0;
	l = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || l < 0 || l > 0x7fffffffL ||
	    errno == ERANGE) {
		snprintf(err, errlen, "%s: expected a numeric id, got '%s'",
		    opt, arg);
		return MERR_PARSE;
	}
	*out = l;
	return 0;
}

/* --batch, --max-fail: N, or N% of the hosts. */
static int
parse_count(const char *opt, const char *arg, unsigned *n, bool *pct,
    char *err, size_t errlen)
{
	char *end;
	unsigned long l;

	errno = 0;
	l = strtoul(arg, &end, 10);
	*pct = *end == '%';
	if (*pct)
		end++;
	if (end == arg || *end != '\0' || arg[0] < '0' || arg[0] > '9' ||
	    errno == ERANGE || l < 1 || l > (*pct ? 100 : 10000000)) {
		snprintf(err, errlen,
		    "%s: expected a number of hosts (1 or "
		    "more) or a percentage (1%% to 100%%), got '%s'",
		    opt, arg);
		return MERR_PARSE;
	}
	*n = (unsigned)l;
	return 0;
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
	    opt == CO_COMMAND || opt == CO_ALERT || opt == CO_SSH_OPTION;
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
	case CO_SSH_OPTION:
		for (i = 0; i < cli->nssh_options; i++)
			free(cli->ssh_options[i]);
		cli->nssh_options = 0;
		break;
	default: break;
	}
}

/* What each subcommand takes after its options. */
static int
take_operands(int argc, char **argv, struct cli *cli, char *err, size_t errlen)
{
	int rest = argc - optind;

	switch (cli->cmd) {
	case CLI_RUN:
		/* Words after the options replace the config's commands. */
		if (rest > 0 && (cli->cmdline_lists & CO_BIT(CO_COMMAND)) == 0)
			cli->run.ncommands = 0;
		if (rest > 0) {
			char *cmd = join_args(rest, argv + optind);

			if (cmd == NULL ||
			    push_str(&cli->run.commands, &cli->run.ncommands,
				&cli->cap.commands, cmd) != 0) {
				free(cmd);
				return MERR_NOMEM;
			}
			cli->run.owned_command = cmd;
		}
		/* --list-hosts shows a command's targets before it is
		 * written. */
		if (cli->run.ncommands == 0 && !cli->list_hosts) {
			snprintf(err, errlen,
			    "no command given (muster run "
			    "[options] -- COMMAND)");
			return MERR_PARSE;
		}
		return 0;
	case CLI_KEYS_INSTALL:
		if (rest != 0) {
			snprintf(err, errlen,
			    "keys install takes no operands "
			    "(select hosts with -w, -i, -g)");
			return MERR_PARSE;
		}
		return 0;
	case CLI_DAEMON:
		/* Operands are host lists, as with -w. */
		for (; optind < argc; optind++)
			if (push_str(&cli->wlists, &cli->nw, &cli->cap.w,
				argv[optind]) != 0)
				return MERR_NOMEM;
		if ((cli->daemon_status || cli->daemon_stop) &&
		    (cli->nw > 0 || cli->ng > 0)) {
			snprintf(err, errlen,
			    "--status and --stop take no "
			    "hosts");
			return MERR_PARSE;
		}
		return 0;
	case CLI_WATCH:
		if (rest != 0) {
			snprintf(err, errlen,
			    "watch takes no operands "
			    "(select hosts with -w, -i, -g)");
			return MERR_PARSE;
		}
		return 0;
	case CLI_PUSH:
	case CLI_PULL:
		if (rest != 2) {
			snprintf(err, errlen,
			    "%s needs two operands: %s "
			    "(got %d)",
			    cli->cmd == CLI_PUSH ? "push" : "pull",
			    cli->cmd == CLI_PUSH ?
				"SRC DEST" :
				"REMOTE LOCALDIR",
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
	case CLI_KEYS_INIT: /* not parsed here: no hosts */
	case CLI_HELP:
	case CLI_VERSION: break;
	}
	return MERR_PARSE;
}

/*
 * argv[1 .. nconf] are the config file's options (all "--name=value"),
 * the command line follows.
 */
static int
cli_parse_args(int argc, char **argv, struct cli *cli, size_t nconf, char *err,
    size_t errlen)
{
	struct option longopts[CO_COUNT + 1];
	char shortopts[2 * CO_COUNT + 2];
	const struct clitab_command *cmd;
	char *end, *line;
	long l;
	int c, opt, longindex, r = 0;
	unsigned mask;
	bool from_conf;

	/* keys init, help and version have parsers of their own. */
	if ((cmd = clitab_by_word(argv[0])) == NULL ||
	    (cmd->options & CO_BIT(CO_HOSTS)) == 0) {
		snprintf(err, errlen, "unknown command '%s'", argv[0]);
		return MERR_PARSE;
	}
	cli->cmd = cmd->cmd;
	cli_getopt_tables(cmd, longopts, shortopts);
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
	/* 0, not 1: glibc then re-initialises fully, including the '+'. */
	optind = 0;
	/* run: '+' stops at the first word of the command; push and pull
	 * take their options anywhere, like cp. */
	for (;;) {
		longindex = -1;
		if ((c = getopt_long(argc, argv, shortopts, longopts,
			 &longindex)) == -1)
			break;
		opt = longindex >= 0 ? longindex : clitab_by_val(c);
		if (opt >= 0 && (cmd->options & CO_BIT(opt)) == 0)
			return cli_foreign(cmd, opt, longindex >= 0, err,
			    errlen);
		/* The file's options are all long, and come first. */
		from_conf = longindex >= 0 && (size_t)optind <= nconf + 1;
		cli->conf_at = from_conf ? optind - 2 : -1;
		if (!from_conf && opt >= 0 && cli_list_opt(opt) &&
		    (cli->cmdline_lists & CO_BIT(opt)) == 0) {
			cli->cmdline_lists |= CO_BIT(opt);
			cli_list_reset(cli, opt);
		}
		switch (c) {
		case 'w':
			r = push_str(&cli->wlists, &cli->nw, &cli->cap.w,
			    optarg);
			break;
		case 'x':
			r = push_str(&cli->xlists, &cli->nx, &cli->cap.x,
			    optarg);
			break;
		case 'g':
			r = push_str(&cli->groups, &cli->ng, &cli->cap.g,
			    optarg);
			break;
		case 'i':
			/* $MUSTER_INVENTORY over the config file. */
			if (!from_conf || getenv("MUSTER_INVENTORY") == NULL)
				cli->inventory = optarg;
			break;
		case OPT_CONFIG: break; /* read before: cli_parse_configured */
		case 'l':
			if (!bootstrap_user_ok(optarg)) {
				snprintf(err, errlen,
				    "-l: '%s' is not a plain "
				    "user name",
				    optarg);
				return MERR_PARSE;
			}
			cli->login = optarg;
			break;
		case 'o':
			if ((r = sshopt_parse(optarg, &line, err, errlen)) !=
			    0)
				return r;
			if ((r = push_str(&cli->ssh_options,
				 &cli->nssh_options, &cli->cap.ssh_options,
				 line)) != 0)
				free(line);
			break;
		case 'S': cli->run.exit_largest = true; break;
		case 'B':
			cli->run.mode = OUTPUT_GATHER;
			cli->run.merge_stderr = true;
			cli->json = false;
			break;
		case OPT_BATCH:
			r = parse_count("--batch", optarg, &cli->batch,
			    &cli->batch_pct, err, errlen);
			break;
		case OPT_MAX_FAIL:
			r = parse_count("--max-fail", optarg, &cli->max_fail,
			    &cli->max_fail_pct, err, errlen);
			break;
		case OPT_RERUN:
			if ((r = lastrun_statuses(optarg, &mask, err,
				 errlen)) == 0)
				cli->rerun = optarg;
			break;
		case OPT_HOSTFILE:
			r = push_str(&cli->hostfiles, &cli->nh, &cli->cap.h,
			    optarg);
			break;
		case OPT_LIST_HOSTS: cli->list_hosts = true; break;
		case 'k': cli->identity = optarg; break;
		case 'F': cli->ssh_config = optarg; break;
		case 'J': cli->jump = optarg; break;
		case OPT_KNOWN_HOSTS: cli->known_hosts = optarg; break;
		case OPT_ACCEPT_NEW: cli->accept_new = true; break;
		case 'b':
			cli->run.mode = OUTPUT_GATHER;
			cli->run.merge_stderr = false;
			cli->json = false;
			break;
		case OPT_JSON: cli->json = true; break;
		case OPT_RAW: cli->run.raw = true; break;
		case 'v': cli->verbose++; break;
		case OPT_NO_DAEMON: cli->no_daemon = true; break;
		case OPT_STATUS: cli->daemon_status = true; break;
		case OPT_STOP: cli->daemon_stop = true; break;
		case OPT_FOREGROUND: cli->daemon_foreground = true; break;
		case OPT_PASSWORD_FILE: cli->password_file = optarg; break;
		case 'L':
			cli->run.mode = OUTPUT_LIVE;
			cli->json = false;
			break;
		case OPT_DIFF:
			cli->run.mode = OUTPUT_DIFF;
			cli->json = false;
			break;
		case OPT_OUTDIR: cli->run.outdir = optarg; break;
		case OPT_ERRDIR: cli->run.errdir = optarg; break;
		case OPT_STDIN: cli->run.want_stdin = true; break;
		case OPT_TTY: cli->run.tty = true; break;
		case OPT_BECOME: cli->run.become = true; break;
		case OPT_BECOME_USER:
			if (*optarg == '\0' || *optarg == '-') {
				snprintf(err, errlen,
				    "--become-user: expected a "
				    "user name, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->run.become_user = optarg;
			cli->run.become = true;
			break;
		case OPT_ASK_BECOME_PASS:
			cli->run.ask_become_pass = cli->run.become = true;
			break;
		case 'r':
			cli->push.recursive = cli->pull.recursive = true;
			break;
		case OPT_MKDIR: cli->push.mkdir = true; break;
		case OPT_NO_PROGRESS: cli->push.progress = false; break;
		case OPT_PROMETHEUS: cli->watch.prometheus = optarg; break;
		case OPT_ALERT_EXEC: cli->watch.alert_exec = optarg; break;
		case OPT_ALERT:
			r = push_str(&cli->watch.alerts, &cli->watch.nalerts,
			    &cli->cap.alerts, optarg);
			break;
		case OPT_SORT:
			if (strcmp(optarg, "host") != 0 &&
			    strcmp(optarg, "cpu") != 0 &&
			    strcmp(optarg, "load") != 0 &&
			    strcmp(optarg, "mem") != 0 &&
			    strcmp(optarg, "disk") != 0 &&
			    strcmp(optarg, "net") != 0) {
				snprintf(err, errlen,
				    "--sort: one of host, "
				    "cpu, load, mem, disk, net; got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->watch.sort = optarg;
			break;
		case OPT_INTERVAL:
			if (parse_seconds(optarg, &cli->watch.interval) != 0 ||
			    cli->watch.interval < 0.25) {
				snprintf(err, errlen,
				    "--interval: expected "
				    "seconds, at least 0.25, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_DURATION:
			/* 0 would be read as "no duration" and never end;
			 * leaving the option out is the way to say that. */
			if (parse_seconds(optarg, &cli->watch.duration) != 0 ||
			    cli->watch.duration <= 0) {
				snprintf(err, errlen,
				    "--duration: expected "
				    "seconds, more than 0, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case 'c':
			r = push_str(&cli->run.commands, &cli->run.ncommands,
			    &cli->cap.commands, optarg);
			break;
		case OPT_MODE:
			errno = 0;
			l = strtol(optarg, &end, 8);
			if (end == optarg || *end != '\0' || l < 0 ||
			    l > 07777) {
				snprintf(err, errlen,
				    "--mode: expected octal "
				    "permission bits like 0644, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->push.mode = (int)l;
			break;
		case OPT_OWNER:
			r = parse_id("--owner", optarg, &cli->push.uid, err,
			    errlen);
			break;
		case OPT_GROUP:
			r = parse_id("--group-id", optarg, &cli->push.gid, err,
			    errlen);
			break;
		case 'f':
			l = strtol(optarg, &end, 10);
			if (*end != '\0' || l < 1 || l > 100000) {
				snprintf(err, errlen,
				    "--fanout: expected a "
				    "number from 1 to 100000, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->fanout = (int)l;
			break;
		case 't':
		case 'u':
			if (parse_seconds(optarg, &cli->run.timeout) != 0) {
				snprintf(err, errlen,
				    "%s: expected seconds, "
				    "got '%s'",
				    c == 't' ? "--timeout" :
					       "--command-timeout",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_MAX_STARTUPS:
			l = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || l < 0 ||
			    l > 100000) {
				snprintf(err, errlen,
				    "--max-startups: expected "
				    "a number from 0 (no limit) to 100000, got "
				    "'%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->max_startups = (int)l;
			break;
		case OPT_JUMP_CHANNELS:
			l = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || l < 0 ||
			    l > 10000) {
				snprintf(err, errlen,
				    "--jump-channels: expected a number from "
				    "0 (one ssh -W per host) to 10000, got "
				    "'%s'",
				    optarg);
				return MERR_PARSE;
			}
			cli->jump_channels = (int)l;
			break;
		case OPT_CONNECT_RATE:
			if (parse_seconds(optarg, &cli->connect_rate) != 0) {
				snprintf(err, errlen,
				    "--connect-rate: expected "
				    "connections per second (0: no limit), got "
				    "'%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_CONNECT_TIMEOUT:
			if (parse_seconds(optarg, &cli->connect_timeout) !=
				0 ||
			    cli->connect_timeout == 0) {
				snprintf(err, errlen,
				    "--connect-timeout: "
				    "expected seconds, got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_MAX_OUTPUT:
			if (cli_parse_size(optarg, &cli->run.max_output) !=
			    0) {
				snprintf(err, errlen,
				    "--max-output: expected "
				    "bytes (K, M, G allowed), got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case OPT_MAX_TOTAL_OUTPUT:
			if (cli_parse_size(optarg,
				&cli->run.max_total_output) != 0) {
				snprintf(err, errlen,
				    "--max-total-output: "
				    "expected bytes (K, M, G allowed), got '%s'",
				    optarg);
				return MERR_PARSE;
			}
			break;
		case 'h': clitab_command_usage(stdout, cmd); exit(0);
		default:
			snprintf(err, errlen,
			    "unknown or incomplete option "
			    "(see muster %s --help)",
			    cmd->name);
			return MERR_PARSE;
		}
		if (r != 0)
			return r;
	}
	cli->conf_at = -1;
	if (cli->run.become && cli->run.become_user == NULL)
		cli->run.become_user = "root";
	if (cli->run.become && !bootstrap_user_ok(cli->run.become_user)) {
		snprintf(err, errlen,
		    "--become-user: '%s' is not a plain user "
		    "name",
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
	if ((r = take_operands(argc, argv, cli, err, errlen)) != 0)
		return r;
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
	if (cli->cmd == CLI_DAEMON) {
		if (cli->ng > 0 && cli->inventory == NULL) {
			snprintf(err, errlen,
			    "-g needs an inventory (-i FILE)");
			return MERR_PARSE;
		}
		return 0;
	}
	if (cli->nw == 0 && cli->nh == 0 && cli->inventory == NULL &&
	    cli->rerun == NULL) {
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
	struct option longopts[CO_COUNT + 1];
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
	for (i = 0; i < cli->nssh_options; i++)
		free(cli->ssh_options[i]);
	free(cli->ssh_options);
	free(cli->merged);
	config_free(&cli->conf);
}
