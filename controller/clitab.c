#include "clitab.h"

#include <string.h>

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
	    CO_BIT(CO_JUMP_CHANNELS) | CO_BIT(CO_AGENT_DIR) |         \
	    CO_BIT(CO_RELAY))
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
		CO_BIT(CO_ALERT) | CO_BIT(CO_ALERT_EXEC) |
		CO_BIT(CO_ALERTMANAGER),
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

/* The off switches of mask's options, a few to a line. */
static void
clitab_put_negs(FILE *f, uint64_t mask)
{
	int i, col = 0, n;

	for (i = 0; i < CO_COUNT; i++) {
		if (clitab_options[i].neg == NULL || (mask & CO_BIT(i)) == 0)
			continue;
		if (col == 0)
			fprintf(f,
			    "Off switches (undo an option the config "
			    "file turns on):\n");
		n = (int)strlen(clitab_options[i].neg) + 3;
		if (col > 0 && col + n > 78) {
			fputc('\n', f);
			col = 0;
		}
		col += fprintf(f, "%s--%s", col == 0 ? "  " : " ",
		    clitab_options[i].neg);
	}
	if (col > 0)
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
	clitab_put_negs(f, mask);
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
