/*
 * The subcommands and their options, declared once (like tmux's
 * cmd_entry): cli.c parses from these tables, the usage text and each
 * subcommand's --help are printed from them, main.c dispatches on them.
 * An option given to a subcommand whose entry does not list it is a usage
 * error, never silently ignored.
 */
#ifndef MUSTER_CLITAB_H
#define MUSTER_CLITAB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum cli_cmd {
	CLI_RUN,
	CLI_PUSH,
	CLI_PULL,
	CLI_WATCH,
	CLI_KEYS_INSTALL, /* `muster keys install`, parsed as "install" */
	CLI_DAEMON,
	CLI_KEYS_INIT,
	CLI_HELP,
	CLI_VERSION,
};

/* One bit per option in clitab_options[]; the order is the usage text's. */
/* clang-format off */
enum clitab_opt {
	CO_HOSTS, CO_INVENTORY, CO_GROUP, CO_EXCLUDE, CO_HOSTFILE, CO_LIST_HOSTS,
	CO_RERUN, CO_CONFIG,
	CO_IDENTITY, CO_LOGIN, CO_KNOWN_HOSTS, CO_ACCEPT_NEW, CO_SSH_CONFIG,
	CO_SSH_OPTION, CO_JUMP, CO_JUMP_CHANNELS, CO_FANOUT,
	CO_CONNECT_TIMEOUT, CO_MAX_STARTUPS, CO_CONNECT_RATE, CO_NO_DAEMON,
	CO_COMMAND, CO_TIMEOUT, CO_COMMAND_TIMEOUT, CO_STDIN, CO_TTY,
	CO_BECOME, CO_BECOME_USER, CO_ASK_BECOME_PASS, CO_MAX_EXIT,
	CO_BATCH, CO_MAX_FAIL,
	CO_GATHER, CO_GATHER_ALL, CO_LIVE_GATHER, CO_DIFF, CO_JSON, CO_RAW,
	CO_MAX_OUTPUT,
	CO_MAX_TOTAL_OUTPUT, CO_OUTDIR, CO_ERRDIR, CO_VERBOSE,
	CO_RECURSIVE, CO_MKDIR, CO_MODE, CO_OWNER, CO_GROUP_ID, CO_NO_PROGRESS,
	CO_PASSWORD_FILE,
	CO_INTERVAL, CO_DURATION, CO_SORT, CO_PROMETHEUS, CO_ALERT,
	CO_ALERT_EXEC,
	CO_STATUS, CO_STOP, CO_FOREGROUND, CO_HELP,
	CO_COUNT
};
/* clang-format on */

#define CO_BIT(o) (UINT64_C(1) << (o))

/*
 * Defaults the parser sets and the usage text states, from one place: the
 * man pages are checked against the usage text (t_manpages). The pacer's
 * are PACE_MAX_STARTUPS_DEFAULT and PACE_RATE_DEFAULT (pace.h).
 */
#define CLI_FANOUT_DEFAULT 256
#define CLI_CONNECT_TIMEOUT_DEFAULT 10
#define CLI_STR(x) CLI_STR2(x)
#define CLI_STR2(x) #x
_Static_assert(CO_COUNT <= 64, "clitab_opt bits must fit a uint64_t");

/* getopt values of options without a short letter. */
enum {
	OPT_CONNECT_TIMEOUT = 256,
	OPT_KNOWN_HOSTS,
	OPT_ACCEPT_NEW,
	OPT_JSON,
	OPT_RAW,
	OPT_MAX_OUTPUT,
	OPT_MAX_TOTAL_OUTPUT,
	OPT_MKDIR,
	OPT_MODE,
	OPT_OWNER,
	OPT_GROUP,
	OPT_NO_PROGRESS,
	OPT_INTERVAL,
	OPT_DURATION,
	OPT_SORT,
	OPT_PROMETHEUS,
	OPT_ALERT,
	OPT_ALERT_EXEC,
	OPT_NO_DAEMON,
	OPT_MAX_STARTUPS,
	OPT_CONNECT_RATE,
	OPT_JUMP_CHANNELS,
	OPT_STATUS,
	OPT_STOP,
	OPT_FOREGROUND,
	OPT_PASSWORD_FILE,
	OPT_DIFF,
	OPT_OUTDIR,
	OPT_ERRDIR,
	OPT_HOSTFILE,
	OPT_LIST_HOSTS,
	OPT_STDIN,
	OPT_TTY,
	OPT_BECOME,
	OPT_BECOME_USER,
	OPT_ASK_BECOME_PASS,
	OPT_CONFIG,
	OPT_BATCH,
	OPT_MAX_FAIL,
	OPT_RERUN,
};

struct clitab_option {
	const char *name; /* long name, without "--" */
	int val;	  /* the short letter, or an OPT_* value */
	bool has_arg;
	const char *arg;  /* its placeholder in the usage text */
	int section;	  /* where the usage text lists it; 0: not */
	const char *help; /* lines after the first are indented */
};

struct clitab_command {
	const char *name; /* "run", "keys install" */
	const char *word; /* argv[0] the parser sees: "install" */
	enum cli_cmd cmd;
	const char *man;   /* the page for `muster help`, or NULL */
	const char *usage; /* after the name; one usage per line */
	const char *summary;
	uint64_t options;   /* CO_BIT()s it honours */
	bool options_first; /* options end at the first operand */
};

extern const struct clitab_option clitab_options[CO_COUNT];
extern const struct clitab_command clitab_commands[];
extern const size_t clitab_ncommands;

/*
 * The command named by argv (one word, or two for "keys ..."); *used is
 * how many words it took. NULL when there is none.
 */
const struct clitab_command *clitab_find(int argc, char **argv, int *used);
/* The entry whose word (argv[0] of its parser) is word, or NULL. */
const struct clitab_command *clitab_by_word(const char *word);
/* The option with getopt value val, or -1. */
int clitab_by_val(int val);
/* The whole usage text, every subcommand and option. */
void clitab_usage(FILE *f);
/* One subcommand's usage lines and the options it takes. */
void clitab_command_usage(FILE *f, const struct clitab_command *c);

#endif
