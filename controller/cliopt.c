/*
 * The options, declared once (like tmux's args): clitab_options[], each
 * entry with its usage text and how the parser stores it (a kind of
 * clitab_parse and a field of struct cli, or a setter here), and the code
 * that stores one for cli.c. The subcommands that take them are in
 * clitab.c.
 */
#include "cliopt.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentdir.h"
#include "array.h"
#include "bastion.h"
#include "clistate.h"
#include "clitab.h"
#include "bootstrap.h"
#include "err.h"
#include "lastrun.h"
#include "pace.h"
#include "sshopt.h"
#include "topview.h"

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

static int
cliopt_inventory(struct cli *cli, const struct cli_arg *a)
{
	/* $MUSTER_INVENTORY over the config file. */
	if (!a->from_conf || getenv("MUSTER_INVENTORY") == NULL)
		cli->inventory = a->arg;
	return 0;
}

static int
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

static int
cliopt_agent_dir(struct cli *cli, const struct cli_arg *a)
{
	char why[160];

	if (!agentdir_ok(a->arg, why, sizeof(why))) {
		snprintf(a->err, a->errlen, "--agent-dir%s: '%s': %s",
		    a->from_conf ? " in the config file" : "", a->arg, why);
		return MERR_PARSE;
	}
	cli->agent_dir = a->arg;
	cli->agent_dir_origin = a->from_conf ?
	    "agent-dir in the config file" :
	    "--agent-dir";
	return 0;
}

static int
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

static int
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

static int
cliopt_gather(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_GATHER, false);
}

static int
cliopt_gather_all(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_GATHER, true);
}

static int
cliopt_live_gather(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_LIVE, false);
}

static int
cliopt_diff(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	return cliopt_mode(cli, OUTPUT_DIFF, false);
}

static int
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

static int
cliopt_ask_become_pass(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	cli->run.ask_become_pass = cli->run.become = true;
	return 0;
}

static int
cliopt_recursive(struct cli *cli, const struct cli_arg *a)
{
	(void)a;
	cli->push.recursive = cli->pull.recursive = true;
	return 0;
}

/* The live view's own sort names (topview.c), so the two cannot drift. */
static int
cliopt_sort(struct cli *cli, const struct cli_arg *a)
{
	if (topview_sort_parse(a->arg) >= 0) {
		cli->watch.sort = a->arg;
		return 0;
	}
	snprintf(a->err, a->errlen,
	    "--sort: one of host, cpu, load, mem, disk, net; got '%s'",
	    a->arg);
	return MERR_PARSE;
}

static int
cliopt_help(struct cli *cli, const struct cli_arg *a)
{
	(void)cli;
	clitab_command_usage(stdout, a->cmd);
	exit(0);
}

#define REQ true
#define NOARG false

/*
 * How the parser stores each option (clitab_parse in clitab.h). OFF's
 * comparison, never evaluated, makes the build fail when the field is not
 * a T, so an entry cannot write the wrong type.
 */
/* clang-format off */
#define OFF(f, T) \
	(offsetof(struct cli, f) + 0 * sizeof(&((struct cli *)0)->f == (T *)0))
#define FIELD(f, T) .off = OFF(f, T)
#define P_FLAG(f) { .kind = CK_FLAG, FIELD(f, bool) }
#define P_STRING(f) { .kind = CK_STRING, FIELD(f, const char *) }
#define P_LIST(v, n, c) { .kind = CK_LIST, FIELD(v, char **), \
	.off2 = OFF(n, size_t), .cap = OFF(c, size_t) }
#define P_INT(f, l, h, fl, e) { .kind = CK_INT, FIELD(f, int), \
	.lo = (l), .hi = (h), .flags = (fl), .expect = (e) }
#define P_SECONDS(f, l, fl, e) { .kind = CK_SECONDS, FIELD(f, double), \
	.lo = (l), .flags = (fl), .expect = (e) }
#define P_BYTES(f) { .kind = CK_BYTES, FIELD(f, size_t), \
	.expect = "expected bytes (K, M, G allowed)" }
#define P_ID(f) { .kind = CK_ID, FIELD(f, int64_t), \
	.expect = "expected a numeric id" }
#define P_HOSTS(f, pct) { .kind = CK_HOSTS, FIELD(f, unsigned), \
	.off2 = OFF(pct, bool), \
	.expect = "expected a number of hosts (1 or more) or a " \
	    "percentage (1% to 100%)" }
#define P_SET(fn) { .kind = CK_SETTER, .set = (fn) }
/* clang-format on */

const struct clitab_option clitab_options[CO_COUNT] = {
	[CO_HOSTS] = { "hosts", 'w', REQ, "LIST", SEC_HOSTS,
	    "[user@]host[:port],... with ranges: web[01-20],\n"
	    "n[1-9/2]; a!b a&b a^b; @group; ^FILE",
	    P_LIST(wlists, nw, cap.w) },
	[CO_INVENTORY] = { "inventory", 'i', REQ, "FILE", SEC_HOSTS,
	    "Ansible inventory, INI or YAML\n"
	    "(default $MUSTER_INVENTORY)",
	    P_SET(cliopt_inventory) },
	[CO_GROUP] = { "group", 'g', REQ, "GROUP", SEC_HOSTS,
	    "only this inventory group (repeatable)",
	    P_LIST(groups, ng, cap.g) },
	[CO_EXCLUDE] = { "exclude", 'x', REQ, "LIST", SEC_HOSTS,
	    "drop these hosts", P_LIST(xlists, nx, cap.x) },
	[CO_HOSTFILE] = { "hostfile", OPT_HOSTFILE, REQ, "FILE", SEC_HOSTS,
	    "hosts from FILE, one -w expression a line",
	    P_LIST(hostfiles, nh, cap.h) },
	[CO_LIST_HOSTS] = { "list-hosts", OPT_LIST_HOSTS, NOARG, NULL,
	    SEC_HOSTS, "print the selected hosts and exit",
	    P_FLAG(list_hosts) },
	[CO_RERUN] = { "rerun", OPT_RERUN, REQ, "STATUS,...", SEC_HOSTS,
	    "the hosts the last run, push or pull left in\n"
	    "STATUS: failed, unreachable, timeout, hostkey,\n"
	    "auth, become, skipped, ok; notok: all but ok",
	    P_SET(cliopt_rerun) },
	[CO_CONFIG] = { "config", OPT_CONFIG, REQ, "FILE", SEC_CONNECT,
	    "muster's config file (default $MUSTER_CONFIG,\n"
	    "else ~/.config/muster/config over\n"
	    "/etc/muster/config)",
	    { .kind = CK_NONE } },
	[CO_IDENTITY] = { "identity", 'k', REQ, "FILE", SEC_CONNECT,
	    "private key (default ~/.config/muster/id_ed25519),\n"
	    "then ssh-agent and ~/.ssh identities; '-k -' reads\n"
	    "it from stdin, $MUSTER_IDENTITY_DATA may hold one",
	    P_STRING(identity) },
	[CO_LOGIN] = { "login", 'l', REQ, "USER", SEC_CONNECT,
	    "log in as USER where the host list and inventory\n"
	    "name no user (before ssh_config's User)",
	    P_SET(cliopt_login) },
	[CO_KNOWN_HOSTS] = { "known-hosts", OPT_KNOWN_HOSTS, REQ, "FILE",
	    SEC_CONNECT, "host keys (default ~/.ssh/known_hosts)",
	    P_STRING(known_hosts) },
	[CO_ACCEPT_NEW] = { "accept-new", OPT_ACCEPT_NEW, NOARG, NULL,
	    SEC_CONNECT,
	    "record unknown host keys (changed keys are\n"
	    "always refused)",
	    P_FLAG(accept_new), "no-accept-new" },
	[CO_SSH_CONFIG] = { "ssh-config", 'F', REQ, "FILE", SEC_CONNECT,
	    "ssh_config (default ~/.ssh/config)", P_STRING(ssh_config) },
	[CO_SSH_OPTION] = { "ssh-option", 'o', REQ, "OPT=VAL", SEC_CONNECT,
	    "an ssh option over ssh_config (repeatable): User,\n"
	    "Port, HostName, Ciphers, MACs, KexAlgorithms,\n"
	    "HostKeyAlgorithms, PubkeyAcceptedAlgorithms,\n"
	    "Compression",
	    P_SET(cliopt_ssh_option) },
	[CO_JUMP] = { "jump", 'J', REQ, "LIST", SEC_CONNECT,
	    "reach the hosts through these bastions\n"
	    "([user@]host[:port],..., as ssh -J)",
	    P_STRING(jump) },
	[CO_JUMP_CHANNELS] = { "jump-channels", OPT_JUMP_CHANNELS, REQ, "N",
	    SEC_CONNECT,
	    "hosts per bastion connection (default " CLI_STR(
		BASTION_CHANNELS_DEFAULT) ";\n"
					  "0: one `ssh -W` per host instead)",
	    P_INT(jump_channels, 0, 10000, 0,
		"expected a number from 0 (one ssh -W per host) to 10000") },
	[CO_RELAY] = { "relay", OPT_RELAY, REQ, "HOST", SEC_CONNECT,
	    "reach every host through a relay on HOST\n"
	    "([user@]host[:port]), or on the last of a list\n"
	    "(HOST1,HOST2: a relay behind a relay): its hosts'\n"
	    "keys are checked against known_hosts, never\n"
	    "accepted new",
	    P_STRING(relay) },
	[CO_FANOUT] = { "fanout", 'f', REQ, "N", SEC_CONNECT,
	    "concurrent connection set-ups (default " CLI_STR(
		CLI_FANOUT_DEFAULT) ")",
	    P_INT(fanout, 1, 100000, 0,
		"expected a number from 1 to 100000") },
	[CO_CONNECT_TIMEOUT] = { "connect-timeout", OPT_CONNECT_TIMEOUT, REQ,
	    "S", SEC_CONNECT,
	    "deadline per connection step (default " CLI_STR(
		CLI_CONNECT_TIMEOUT_DEFAULT) ")",
	    P_SECONDS(connect_timeout, 0, CP_ABOVE, "expected seconds") },
	[CO_MAX_STARTUPS] = { "max-startups", OPT_MAX_STARTUPS, REQ, "N",
	    SEC_CONNECT,
	    "unauthenticated connections at once (default " CLI_STR(
		PACE_MAX_STARTUPS_DEFAULT) ",\n"
					   "well under sshd's MaxStartups 10; 0: no limit)",
	    P_INT(max_startups, 0, 100000, 0,
		"expected a number from 0 (no limit) to 100000") },
	[CO_CONNECT_RATE] = { "connect-rate", OPT_CONNECT_RATE, REQ, "R",
	    SEC_CONNECT,
	    "new connections per second (default " CLI_STR(
		PACE_RATE_DEFAULT) ")",
	    P_SECONDS(connect_rate, 0, 0,
		"expected connections per second (0: no limit)") },
	[CO_NO_DAEMON] = { "no-daemon", OPT_NO_DAEMON, NOARG, NULL,
	    SEC_CONNECT, "connect directly even when `muster daemon` runs",
	    P_FLAG(no_daemon) },
	[CO_AGENT_DIR] = { "agent-dir", OPT_AGENT_DIR, REQ, "DIR", SEC_CONNECT,
	    "run the agent from DIR (/PATH or ~/PATH) and\n"
	    "nowhere else; an inventory's agent_dir= wins",
	    P_SET(cliopt_agent_dir) },
	[CO_COMMAND] = { "command", 'c', REQ, "CMD", SEC_COMMAND,
	    "command line; repeat to run several at once",
	    P_LIST(run.commands, run.ncommands, cap.commands) },
	[CO_TIMEOUT] = { "timeout", 't', REQ, "S", SEC_COMMAND,
	    "kill the command's process group after S seconds",
	    P_SECONDS(run.timeout, 0, 0, "expected seconds") },
	[CO_COMMAND_TIMEOUT] = { "command-timeout", 'u', REQ, "S", SEC_COMMAND,
	    "the same as -t (clush's and pdsh's -u)",
	    P_SECONDS(run.timeout, 0, 0, "expected seconds") },
	[CO_STDIN] = { "stdin", OPT_STDIN, NOARG, NULL, SEC_COMMAND,
	    "send muster's stdin to every command (read once);\n"
	    "without it, commands read /dev/null",
	    P_FLAG(run.want_stdin), "no-stdin" },
	[CO_TTY] = { "tty", OPT_TTY, NOARG, NULL, SEC_COMMAND,
	    "run the command on a pseudo-terminal (stdout and\n"
	    "stderr then arrive as one stream)",
	    P_FLAG(run.tty), "no-tty" },
	[CO_BECOME] = { "become", OPT_BECOME, NOARG, NULL, SEC_COMMAND,
	    "run the command through sudo (sudo -n: no prompt)",
	    P_FLAG(run.become), "no-become" },
	[CO_BECOME_USER] = { "become-user", OPT_BECOME_USER, REQ, "USER",
	    SEC_COMMAND,
	    "as USER (default root); implies --become\n"
	    "(push, pull: the agent runs as USER, sudo -n)",
	    P_SET(cliopt_become_user) },
	[CO_ASK_BECOME_PASS] = { "ask-become-pass", OPT_ASK_BECOME_PASS, NOARG,
	    NULL, SEC_COMMAND,
	    "ask once for the sudo password (or take it from\n"
	    "$MUSTER_BECOME_PASS); implies --become",
	    P_SET(cliopt_ask_become_pass) },
	[CO_MAX_EXIT] = { "max-exit", 'S', NOARG, NULL, SEC_COMMAND,
	    "exit with the largest exit code of the commands\n"
	    "(as pdsh and clush -S)",
	    P_FLAG(run.exit_largest), "no-max-exit" },
	[CO_BATCH] = { "batch", OPT_BATCH, REQ, "N|N%", SEC_ROLL,
	    "work on N hosts (N% of them) at a time; the\n"
	    "next starts when one is done",
	    P_HOSTS(batch, batch_pct) },
	[CO_MAX_FAIL] = { "max-fail", OPT_MAX_FAIL, REQ, "N|N%", SEC_ROLL,
	    "start no more hosts once N (N% of them) failed;\n"
	    "the rest are skipped (exit status 5)",
	    P_HOSTS(max_fail, max_fail_pct) },
	[CO_GATHER] = { "gather", 'b', NOARG, NULL, SEC_OUTPUT,
	    "identical outputs once, with their host set",
	    P_SET(cliopt_gather), "no-gather" },
	[CO_GATHER_ALL] = { "gather-all", 'B', NOARG, NULL, SEC_OUTPUT,
	    "like -b, with stderr gathered into stdout",
	    P_SET(cliopt_gather_all), "no-gather-all" },
	[CO_LIVE_GATHER] = { "live-gather", 'L', NOARG, NULL, SEC_OUTPUT,
	    "like -b, but each output group is printed as it\n"
	    "forms and joining hosts as they finish",
	    P_SET(cliopt_live_gather), "no-live-gather" },
	[CO_DIFF] = { "diff", OPT_DIFF, NOARG, NULL, SEC_OUTPUT,
	    "the most common output in full, every other as a\n"
	    "unified diff against it",
	    P_SET(cliopt_diff), "no-diff" },
	[CO_JSON] = { "json", OPT_JSON, NOARG, NULL, SEC_OUTPUT,
	    "one JSON object per host per line (watch: per\n"
	    "sample and event; daemon --status: one object)",
	    P_FLAG(json), "no-json" },
	[CO_RAW] = { "raw", OPT_RAW, NOARG, NULL, SEC_OUTPUT,
	    "do not escape control characters", P_FLAG(run.raw), "no-raw" },
	[CO_MAX_OUTPUT] = { "max-output", OPT_MAX_OUTPUT, REQ, "BYTES",
	    SEC_OUTPUT,
	    "per host and stream kept for -b/--json\n"
	    "(default 64M; K, M, G suffixes are binary)",
	    P_BYTES(run.max_output) },
	[CO_MAX_TOTAL_OUTPUT] = { "max-total-output", OPT_MAX_TOTAL_OUTPUT,
	    REQ, "BYTES", SEC_OUTPUT,
	    "kept for -b/--json across all hosts (default 1G)",
	    P_BYTES(run.max_total_output) },
	[CO_OUTDIR] = { "outdir", OPT_OUTDIR, REQ, "DIR", SEC_OUTPUT,
	    "also write each host's stdout to DIR/HOST",
	    P_STRING(run.outdir) },
	[CO_ERRDIR] = { "errdir", OPT_ERRDIR, REQ, "DIR", SEC_OUTPUT,
	    "also write each host's stderr to DIR/HOST",
	    P_STRING(run.errdir) },
	[CO_VERBOSE] = { "verbose", 'v', NOARG, NULL, SEC_OUTPUT,
	    "connection timings on stderr; -vv, -vvv: more",
	    { .kind = CK_COUNT, FIELD(verbose, int) } },
	[CO_RECURSIVE] = { "recursive", 'r', NOARG, NULL, SEC_FILES,
	    "a directory tree (files, directories, symlinks)",
	    P_SET(cliopt_recursive), "no-recursive" },
	[CO_MKDIR] = { "mkdir", OPT_MKDIR, NOARG, NULL, SEC_FILES,
	    "push: create missing parent directories", P_FLAG(push.mkdir),
	    "no-mkdir" },
	[CO_MODE] = { "mode", OPT_MODE, REQ, "OCTAL", SEC_FILES,
	    "push: mode of the file (default: the source's)",
	    P_INT(push.mode, 0, 07777, CP_OCTAL,
		"expected octal permission bits like 0644") },
	[CO_OWNER] = { "owner", OPT_OWNER, REQ, "UID", SEC_FILES,
	    "push: numeric owner to set (needs privilege)", P_ID(push.uid) },
	[CO_GROUP_ID] = { "group-id", OPT_GROUP, REQ, "GID", SEC_FILES,
	    "push: numeric group to set", P_ID(push.gid) },
	[CO_NO_PROGRESS] = { "no-progress", OPT_NO_PROGRESS, NOARG, NULL,
	    SEC_FILES, "push: no progress line on a terminal",
	    { .kind = CK_CLEAR, FIELD(push.progress, bool) } },
	[CO_PASSWORD_FILE] = { "password-file", OPT_PASSWORD_FILE, REQ, "F",
	    SEC_KEYS,
	    "the login password, first line of F (mode 0600);\n"
	    "else $MUSTER_PASSWORD, else asked once",
	    P_STRING(password_file) },
	[CO_INTERVAL] = { "interval", OPT_INTERVAL, REQ, "S", SEC_WATCH,
	    "seconds between samples (default 5, min 0.25)",
	    P_SECONDS(watch.interval, 0.25, 0,
		"expected seconds, at least 0.25") },
	[CO_DURATION] = { "duration", OPT_DURATION, REQ, "S", SEC_WATCH,
	    "stop after S seconds, S > 0 (default: until ^C)",
	    P_SECONDS(watch.duration, 0, CP_ABOVE,
		"expected seconds, more than 0") },
	[CO_SORT] = { "sort", OPT_SORT, REQ, "COL", SEC_WATCH,
	    "live view's first order: host cpu load mem\n"
	    "disk net (keys P M L N change it)",
	    P_SET(cliopt_sort) },
	[CO_PROMETHEUS] = { "prometheus", OPT_PROMETHEUS, REQ, "A:P",
	    SEC_WATCH, "serve /metrics on address A, port P",
	    P_STRING(watch.prometheus) },
	[CO_ALERT] = { "alert", OPT_ALERT, REQ, "EXPR", SEC_WATCH,
	    "a rule, e.g. 'load1>8', 'disk_used_pct>90 for 5m\n"
	    "severity=page' (repeatable)",
	    P_LIST(watch.alerts, watch.nalerts, cap.alerts) },
	[CO_ALERT_EXEC] = { "alert-exec", OPT_ALERT_EXEC, REQ, "CMD",
	    SEC_WATCH,
	    "run CMD when an alert fires or resolves, or a host\n"
	    "goes down or comes back (details in MUSTER_ALERT_*\n"
	    "environment variables)",
	    P_STRING(watch.alert_exec) },
	[CO_ALERTMANAGER] = { "alertmanager", OPT_ALERTMANAGER, REQ, "URL",
	    SEC_WATCH,
	    "post alerts and hosts down to Alertmanager at\n"
	    "http://HOST:PORT (repeatable)",
	    P_LIST(watch.alertmanagers, watch.nalertmanagers,
		cap.alertmanagers) },
	[CO_STATUS] = { "status", OPT_STATUS, NOARG, NULL, SEC_HIDDEN, NULL,
	    P_FLAG(daemon_status) },
	[CO_STOP] = { "stop", OPT_STOP, NOARG, NULL, SEC_HIDDEN, NULL,
	    P_FLAG(daemon_stop) },
	[CO_FOREGROUND] = { "foreground", OPT_FOREGROUND, NOARG, NULL,
	    SEC_HIDDEN, NULL, P_FLAG(daemon_foreground) },
	[CO_HELP] = { "help", 'h', NOARG, NULL, SEC_HIDDEN, NULL,
	    P_SET(cliopt_help) },
};
