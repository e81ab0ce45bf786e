#include "clitab.h"

#include <string.h>

#include "bastion.h"
#include "pace.h"

enum {
	SEC_HIDDEN, /* documented in a man page only */
	SEC_HOSTS,
	SEC_CONNECT,
	SEC_COMMAND,
	SEC_ROLL,
	SEC_OUTPUT,
	SEC_FILES,
	SEC_KEYS,
	SEC_WATCH,
	SEC_COUNT
};

static const char *const clitab_sections[SEC_COUNT] = {
	[SEC_HOSTS] = "Host selection (at least one of -w, -i):",
	[SEC_CONNECT] = "Connection:",
	[SEC_COMMAND] = "Command:",
	[SEC_ROLL] = "Rolling work:",
	[SEC_OUTPUT] = "Output:",
	[SEC_FILES] = "Push and pull:",
	[SEC_KEYS] = "Keys install:",
	[SEC_WATCH] = "Watch:",
};

#define REQ true
#define NOARG false

const struct clitab_option clitab_options[CO_COUNT] = {
	[CO_HOSTS] = { "hosts", 'w', REQ, "LIST", SEC_HOSTS,
	    "[user@]host[:port],... with ranges: web[01-20],\n"
	    "n[1-9/2]; a!b a&b a^b; @group; ^FILE" },
	[CO_INVENTORY] = { "inventory", 'i', REQ, "FILE", SEC_HOSTS,
	    "Ansible inventory, INI or YAML\n"
	    "(default $MUSTER_INVENTORY)" },
	[CO_GROUP] = { "group", 'g', REQ, "GROUP", SEC_HOSTS,
	    "only this inventory group (repeatable)" },
	[CO_EXCLUDE] = { "exclude", 'x', REQ, "LIST", SEC_HOSTS,
	    "drop these hosts" },
	[CO_HOSTFILE] = { "hostfile", OPT_HOSTFILE, REQ, "FILE", SEC_HOSTS,
	    "hosts from FILE, one -w expression a line" },
	[CO_LIST_HOSTS] = { "list-hosts", OPT_LIST_HOSTS, NOARG, NULL,
	    SEC_HOSTS, "print the selected hosts and exit" },
	[CO_RERUN] = { "rerun", OPT_RERUN, REQ, "STATUS,...", SEC_HOSTS,
	    "the hosts the last run, push or pull left in\n"
	    "STATUS: failed, unreachable, timeout, hostkey,\n"
	    "auth, become, skipped, ok; notok: all but ok" },
	[CO_CONFIG] = { "config", OPT_CONFIG, REQ, "FILE", SEC_CONNECT,
	    "muster's config file (default $MUSTER_CONFIG,\n"
	    "else ~/.config/muster/config over\n"
	    "/etc/muster/config)" },
	[CO_IDENTITY] = { "identity", 'k', REQ, "FILE", SEC_CONNECT,
	    "private key (default ~/.config/muster/id_ed25519),\n"
	    "then ssh-agent and ~/.ssh identities; '-k -' reads\n"
	    "it from stdin, $MUSTER_IDENTITY_DATA may hold one" },
	[CO_LOGIN] = { "login", 'l', REQ, "USER", SEC_CONNECT,
	    "log in as USER where the host list and inventory\n"
	    "name no user (before ssh_config's User)" },
	[CO_KNOWN_HOSTS] = { "known-hosts", OPT_KNOWN_HOSTS, REQ, "FILE",
	    SEC_CONNECT, "host keys (default ~/.ssh/known_hosts)" },
	[CO_ACCEPT_NEW] = { "accept-new", OPT_ACCEPT_NEW, NOARG, NULL,
	    SEC_CONNECT,
	    "record unknown host keys (changed keys are\n"
	    "always refused)" },
	[CO_SSH_CONFIG] = { "ssh-config", 'F', REQ, "FILE", SEC_CONNECT,
	    "ssh_config (default ~/.ssh/config)" },
	[CO_SSH_OPTION] = { "ssh-option", 'o', REQ, "OPT=VAL", SEC_CONNECT,
	    "an ssh option over ssh_config (repeatable): User,\n"
	    "Port, HostName, Ciphers, MACs, KexAlgorithms,\n"
	    "HostKeyAlgorithms, PubkeyAcceptedAlgorithms,\n"
	    "Compression" },
	[CO_JUMP] = { "jump", 'J', REQ, "LIST", SEC_CONNECT,
	    "reach the hosts through these bastions\n"
	    "([user@]host[:port],..., as ssh -J)" },
	[CO_JUMP_CHANNELS] = { "jump-channels", OPT_JUMP_CHANNELS, REQ, "N",
	    SEC_CONNECT,
	    "hosts per bastion connection (default " CLI_STR(
		BASTION_CHANNELS_DEFAULT) ";\n"
					  "0: one `ssh -W` per host instead)" },
	[CO_FANOUT] = { "fanout", 'f', REQ, "N", SEC_CONNECT,
	    "concurrent connection set-ups (default " CLI_STR(
		CLI_FANOUT_DEFAULT) ")" },
	[CO_CONNECT_TIMEOUT] = { "connect-timeout", OPT_CONNECT_TIMEOUT, REQ,
	    "S", SEC_CONNECT,
	    "deadline per connection step (default " CLI_STR(
		CLI_CONNECT_TIMEOUT_DEFAULT) ")" },
	[CO_MAX_STARTUPS] = { "max-startups", OPT_MAX_STARTUPS, REQ, "N",
	    SEC_CONNECT,
	    "unauthenticated connections at once (default " CLI_STR(
		PACE_MAX_STARTUPS_DEFAULT) ",\n"
					   "well under sshd's MaxStartups 10; 0: no limit)" },
	[CO_CONNECT_RATE] = { "connect-rate", OPT_CONNECT_RATE, REQ, "R",
	    SEC_CONNECT,
	    "new connections per second (default " CLI_STR(
		PACE_RATE_DEFAULT) ")" },
	[CO_NO_DAEMON] = { "no-daemon", OPT_NO_DAEMON, NOARG, NULL,
	    SEC_CONNECT, "connect directly even when `muster daemon` runs" },
	[CO_COMMAND] = { "command", 'c', REQ, "CMD", SEC_COMMAND,
	    "command line; repeat to run several at once" },
	[CO_TIMEOUT] = { "timeout", 't', REQ, "S", SEC_COMMAND,
	    "kill the command's process group after S seconds" },
	[CO_COMMAND_TIMEOUT] = { "command-timeout", 'u', REQ, "S", SEC_COMMAND,
	    "the same as -t (clush's and pdsh's -u)" },
	[CO_STDIN] = { "stdin", OPT_STDIN, NOARG, NULL, SEC_COMMAND,
	    "send muster's stdin to every command (read once);\n"
	    "without it, commands read /dev/null" },
	[CO_TTY] = { "tty", OPT_TTY, NOARG, NULL, SEC_COMMAND,
	    "run the command on a pseudo-terminal (stdout and\n"
	    "stderr then arrive as one stream)" },
	[CO_BECOME] = { "become", OPT_BECOME, NOARG, NULL, SEC_COMMAND,
	    "run the command through sudo (sudo -n: no prompt)" },
	[CO_BECOME_USER] = { "become-user", OPT_BECOME_USER, REQ, "USER",
	    SEC_COMMAND,
	    "as USER (default root); implies --become\n"
	    "(push, pull: the agent runs as USER, sudo -n)" },
	[CO_ASK_BECOME_PASS] = { "ask-become-pass", OPT_ASK_BECOME_PASS, NOARG,
	    NULL, SEC_COMMAND,
	    "ask once for the sudo password (or take it from\n"
	    "$MUSTER_BECOME_PASS); implies --become" },
	[CO_MAX_EXIT] = { "max-exit", 'S', NOARG, NULL, SEC_COMMAND,
	    "exit with the largest exit code of the commands\n"
	    "(as pdsh and clush -S)" },
	[CO_BATCH] = { "batch", OPT_BATCH, REQ, "N|N%", SEC_ROLL,
	    "work on N hosts (N% of them) at a time; the\n"
	    "next starts when one is done" },
	[CO_MAX_FAIL] = { "max-fail", OPT_MAX_FAIL, REQ, "N|N%", SEC_ROLL,
	    "start no more hosts once N (N% of them) failed;\n"
	    "the rest are skipped (exit status 5)" },
	[CO_GATHER] = { "gather", 'b', NOARG, NULL, SEC_OUTPUT,
	    "identical outputs once, with their host set" },
	[CO_GATHER_ALL] = { "gather-all", 'B', NOARG, NULL, SEC_OUTPUT,
	    "like -b, with stderr gathered into stdout" },
	[CO_LIVE_GATHER] = { "live-gather", 'L', NOARG, NULL, SEC_OUTPUT,
	    "like -b, but each output group is printed as it\n"
	    "forms and joining hosts as they finish" },
	[CO_DIFF] = { "diff", OPT_DIFF, NOARG, NULL, SEC_OUTPUT,
	    "the most common output in full, every other as a\n"
	    "unified diff against it" },
	[CO_JSON] = { "json", OPT_JSON, NOARG, NULL, SEC_OUTPUT,
	    "one JSON object per host per line (watch: per\n"
	    "sample and event; daemon --status: one object)" },
	[CO_RAW] = { "raw", OPT_RAW, NOARG, NULL, SEC_OUTPUT,
	    "do not escape control characters" },
	[CO_MAX_OUTPUT] = { "max-output", OPT_MAX_OUTPUT, REQ, "BYTES",
	    SEC_OUTPUT,
	    "per host and stream kept for -b/--json\n"
	    "(default 64M; K, M, G suffixes are binary)" },
	[CO_MAX_TOTAL_OUTPUT] = { "max-total-output", OPT_MAX_TOTAL_OUTPUT,
	    REQ, "BYTES", SEC_OUTPUT,
	    "kept for -b/--json across all hosts (default 1G)" },
	[CO_OUTDIR] = { "outdir", OPT_OUTDIR, REQ, "DIR", SEC_OUTPUT,
	    "also write each host's stdout to DIR/HOST" },
	[CO_ERRDIR] = { "errdir", OPT_ERRDIR, REQ, "DIR", SEC_OUTPUT,
	    "also write each host's stderr to DIR/HOST" },
	[CO_VERBOSE] = { "verbose", 'v', NOARG, NULL, SEC_OUTPUT,
	    "connection timings on stderr; -vv, -vvv: more" },
	[CO_RECURSIVE] = { "recursive", 'r', NOARG, NULL, SEC_FILES,
	    "a directory tree (files, directories, symlinks)" },
	[CO_MKDIR] = { "mkdir", OPT_MKDIR, NOARG, NULL, SEC_FILES,
	    "push: create missing parent directories" },
	[CO_MODE] = { "mode", OPT_MODE, REQ, "OCTAL", SEC_FILES,
	    "push: mode of the file (default: the source's)" },
	[CO_OWNER] = { "owner", OPT_OWNER, REQ, "UID", SEC_FILES,
	    "push: numeric owner to set (needs privilege)" },
	[CO_GROUP_ID] = { "group-id", OPT_GROUP, REQ, "GID", SEC_FILES,
	    "push: numeric group to set" },
	[CO_NO_PROGRESS] = { "no-progress", OPT_NO_PROGRESS, NOARG, NULL,
	    SEC_FILES, "push: no progress line on a terminal" },
	[CO_PASSWORD_FILE] = { "password-file", OPT_PASSWORD_FILE, REQ, "F",
	    SEC_KEYS,
	    "the login password, first line of F (mode 0600);\n"
	    "else $MUSTER_PASSWORD, else asked once" },
	[CO_INTERVAL] = { "interval", OPT_INTERVAL, REQ, "S", SEC_WATCH,
	    "seconds between samples (default 5, min 0.25)" },
	[CO_DURATION] = { "duration", OPT_DURATION, REQ, "S", SEC_WATCH,
	    "stop after S seconds, S > 0 (default: until ^C)" },
	[CO_SORT] = { "sort", OPT_SORT, REQ, "COL", SEC_WATCH,
	    "live view order: host cpu load mem disk net" },
	[CO_PROMETHEUS] = { "prometheus", OPT_PROMETHEUS, REQ, "A:P",
	    SEC_WATCH, "serve /metrics on address A, port P" },
	[CO_ALERT] = { "alert", OPT_ALERT, REQ, "EXPR", SEC_WATCH,
	    "e.g. 'load1>8', 'disk_used_pct>90' (repeatable)" },
	[CO_ALERT_EXEC] = { "alert-exec", OPT_ALERT_EXEC, REQ, "CMD",
	    SEC_WATCH,
	    "run CMD when an alert fires or clears (details\n"
	    "in MUSTER_ALERT_* environment variables)" },
	[CO_STATUS] = { "status", OPT_STATUS, NOARG, NULL, SEC_HIDDEN, NULL },
	[CO_STOP] = { "stop", OPT_STOP, NOARG, NULL, SEC_HIDDEN, NULL },
	[CO_FOREGROUND] = { "foreground", OPT_FOREGROUND, NOARG, NULL,
	    SEC_HIDDEN, NULL },
	[CO_HELP] = { "help", 'h', NOARG, NULL, SEC_HIDDEN, NULL },
};

/* Every subcommand that reaches hosts selects them the same way. */
#define SELECT                                                        \
	(CO_BIT(CO_HOSTS) | CO_BIT(CO_INVENTORY) | CO_BIT(CO_GROUP) | \
	    CO_BIT(CO_EXCLUDE) | CO_BIT(CO_HOSTFILE) |                \
	    CO_BIT(CO_LIST_HOSTS) | CO_BIT(CO_HELP))
/* What conn.c and the host key check read, for every job that connects
 * through conn_config; the daemon and keys install set up their own
 * connections and honour only part of it. */
#define SSH                                                  \
	(CO_BIT(CO_IDENTITY) | CO_BIT(CO_KNOWN_HOSTS) |      \
	    CO_BIT(CO_ACCEPT_NEW) | CO_BIT(CO_SSH_CONFIG) |  \
	    CO_BIT(CO_FANOUT) | CO_BIT(CO_CONNECT_TIMEOUT) | \
	    CO_BIT(CO_LOGIN) | CO_BIT(CO_CONFIG))
#define PACED (SSH | CO_BIT(CO_MAX_STARTUPS) | CO_BIT(CO_CONNECT_RATE))
#define FLEET                                                         \
	(SELECT | PACED | CO_BIT(CO_NO_DAEMON) | CO_BIT(CO_VERBOSE) | \
	    CO_BIT(CO_SSH_OPTION) | CO_BIT(CO_JUMP) |                 \
	    CO_BIT(CO_JUMP_CHANNELS))
/* push and pull: the agent itself runs as the user, through sudo -n. */
#define BECOME (CO_BIT(CO_BECOME) | CO_BIT(CO_BECOME_USER))
/* Jobs that end, host by host: they can roll and be run again. */
#define ROLL (CO_BIT(CO_BATCH) | CO_BIT(CO_MAX_FAIL) | CO_BIT(CO_RERUN))

const struct clitab_command clitab_commands[] = {
	{ "run", "run", CLI_RUN, "run",
	    "[options] -- COMMAND [ARG...]\n"
	    "[options] -c COMMAND [-c COMMAND...]",
	    "run commands on every host",
	    FLEET | BECOME | ROLL | CO_BIT(CO_COMMAND) | CO_BIT(CO_TIMEOUT) |
		CO_BIT(CO_COMMAND_TIMEOUT) | CO_BIT(CO_MAX_EXIT) |
		CO_BIT(CO_STDIN) | CO_BIT(CO_TTY) |
		CO_BIT(CO_ASK_BECOME_PASS) | CO_BIT(CO_GATHER) |
		CO_BIT(CO_GATHER_ALL) | CO_BIT(CO_LIVE_GATHER) |
		CO_BIT(CO_DIFF) | CO_BIT(CO_JSON) | CO_BIT(CO_RAW) |
		CO_BIT(CO_MAX_OUTPUT) | CO_BIT(CO_MAX_TOTAL_OUTPUT) |
		CO_BIT(CO_OUTDIR) | CO_BIT(CO_ERRDIR),
	    true },
	{ "push", "push", CLI_PUSH, "push", "[options] [-r] SRC DEST",
	    "copy a file or tree to every host",
	    FLEET | BECOME | ROLL | CO_BIT(CO_RECURSIVE) | CO_BIT(CO_MKDIR) |
		CO_BIT(CO_MODE) | CO_BIT(CO_OWNER) | CO_BIT(CO_GROUP_ID) |
		CO_BIT(CO_NO_PROGRESS) | CO_BIT(CO_JSON),
	    false },
	{ "pull", "pull", CLI_PULL, "pull", "[options] [-r] REMOTE LOCALDIR",
	    "copy a file or tree from every host into LOCALDIR/HOST",
	    FLEET | BECOME | ROLL | CO_BIT(CO_RECURSIVE) | CO_BIT(CO_JSON),
	    false },
	{ "watch", "watch", CLI_WATCH, "watch",
	    "[options] [--interval S] [--json] [--prometheus ADDR:PORT]",
	    "sample load, memory, disk and network of every host",
	    FLEET | CO_BIT(CO_INTERVAL) | CO_BIT(CO_DURATION) |
		CO_BIT(CO_SORT) | CO_BIT(CO_JSON) | CO_BIT(CO_PROMETHEUS) |
		CO_BIT(CO_ALERT) | CO_BIT(CO_ALERT_EXEC),
	    false },
	{ "daemon", "daemon", CLI_DAEMON, "daemon",
	    "[options] [HOSTS...] | --status [--json] | --stop",
	    "keep agents connected for later commands",
	    SELECT | PACED | CO_BIT(CO_STATUS) | CO_BIT(CO_STOP) |
		CO_BIT(CO_JUMP_CHANNELS) | CO_BIT(CO_FOREGROUND) |
		CO_BIT(CO_JSON) | CO_BIT(CO_VERBOSE),
	    false },
	{ "keys init", "init", CLI_KEYS_INIT, "keys", "[-k FILE]",
	    "make muster's own key pair",
	    CO_BIT(CO_IDENTITY) | CO_BIT(CO_HELP), false },
	{ "keys install", "install", CLI_KEYS_INSTALL, "keys",
	    "[options] [--password-file FILE]",
	    "install the key on every host, logging in with a password",
	    SELECT | SSH | CO_BIT(CO_JSON) | CO_BIT(CO_PASSWORD_FILE), false },
	{ "help", "help", CLI_HELP, NULL, "[SUBCOMMAND]",
	    "the manual page, or this text", 0, false },
	{ "version", "version", CLI_VERSION, NULL, "",
	    "the version, protocol, agent build and its machine", 0, false },
};

const size_t clitab_ncommands = sizeof(clitab_commands) /
    sizeof(clitab_commands[0]);

const struct clitab_command *
clitab_find(int argc, char **argv, int *used)
{
	const char *sp;
	size_t i, len;

	for (i = 0; argc >= 1 && i < clitab_ncommands; i++) {
		const char *name = clitab_commands[i].name;

		if ((sp = strchr(name, ' ')) == NULL) {
			if (strcmp(name, argv[0]) != 0)
				continue;
			*used = 1;
			return &clitab_commands[i];
		}
		len = (size_t)(sp - name);
		if (argc >= 2 && strncmp(name, argv[0], len) == 0 &&
		    argv[0][len] == '\0' && strcmp(sp + 1, argv[1]) == 0) {
			*used = 2;
			return &clitab_commands[i];
		}
	}
	return NULL;
}

const struct clitab_command *
clitab_by_word(const char *word)
{
	size_t i;

	for (i = 0; i < clitab_ncommands; i++)
		if (strcmp(clitab_commands[i].word, word) == 0)
			return &clitab_commands[i];
	return NULL;
}

int
clitab_by_val(int val)
{
	int i;

	for (i = 0; i < CO_COUNT; i++)
		if (clitab_options[i].val == val)
			return i;
	return -1;
}

/* Lines after the first of s start at column indent. */
static void
clitab_put_indented(FILE *f, const char *s, int indent)
{
	for (; *s != '\0'; s++) {
		fputc(*s, f);
		if (*s == '\n')
			fprintf(f, "%*s", indent, "");
	}
}

static void
clitab_put_usage_lines(FILE *f, const struct clitab_command *c,
    const char *first)
{
	const char *u = c->usage, *nl;

	do {
		nl = strchr(u, '\n');
		fprintf(f, "%s muster %s%s%.*s\n", first, c->name,
		    *u != '\0' ? " " : "",
		    nl != NULL ? (int)(nl - u) : (int)strlen(u), u);
		first = "      ";
		u = nl + 1;
	} while (nl != NULL);
}

static void
clitab_put_option(FILE *f, const struct clitab_option *o)
{
	enum { HELP_COLUMN = 26 };
	char left[64];
	int n;

	if (o->val < 256)
		n = snprintf(left, sizeof(left), "  -%c, --%s%s%s", o->val,
		    o->name, o->arg ? " " : "", o->arg ? o->arg : "");
	else
		n = snprintf(left, sizeof(left), "      --%s%s%s", o->name,
		    o->arg ? " " : "", o->arg ? o->arg : "");
	/* A long left column puts its help on the next line. */
	if (n < HELP_COLUMN)
		fprintf(f, "%-*s", HELP_COLUMN, left);
	else
		fprintf(f, "%s\n%*s", left, HELP_COLUMN, "");
	clitab_put_indented(f, o->help, HELP_COLUMN);
	fputc('\n', f);
}

/* The options of mask, under their section headings. */
static void
clitab_put_options(FILE *f, uint64_t mask)
{
	int s, i, shown;

	for (s = SEC_HIDDEN + 1; s < SEC_COUNT; s++) {
		shown = 0;
		for (i = 0; i < CO_COUNT; i++) {
			if (clitab_options[i].section != s ||
			    (mask & CO_BIT(i)) == 0)
				continue;
			if (shown++ == 0)
				fprintf(f, "%s\n", clitab_sections[s]);
			/* The mode no option selects, where modes are chosen. */
			if (i == CO_GATHER)
				fprintf(f,
				    "  %-24s'host: line' as lines "
				    "arrive\n",
				    "(default)");
			clitab_put_option(f, &clitab_options[i]);
		}
	}
}

void
clitab_usage(FILE *f)
{
	size_t i;

	for (i = 0; i < clitab_ncommands; i++)
		clitab_put_usage_lines(f, &clitab_commands[i],
		    i == 0 ? "usage:" : "      ");
	fputc('\n', f);
	clitab_put_options(f, ~UINT64_C(0));
	fputs(
	    "\n"
	    "Exit status: 0 all ok, 1 a command failed or timed out, 2 usage error,\n"
	    "3 a host was unreachable or refused (host key, authentication, --become),\n"
	    "5 --max-fail stopped the run (hosts were skipped).\n",
	    f);
}

void
clitab_command_usage(FILE *f, const struct clitab_command *c)
{
	clitab_put_usage_lines(f, c, "usage:");
	fprintf(f, "\n%s.\n", c->summary);
	if ((c->options & ~CO_BIT(CO_HELP)) != 0) {
		fputc('\n', f);
		clitab_put_options(f, c->options);
	}
}
