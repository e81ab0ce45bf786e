/*
 * The subcommands and their options, declared once (like tmux's
 * cmd_entry; the options in cliopt.c, the subcommands in clitab.c): cli.c
 * parses from these tables, the usage text and each subcommand's --help
 * are printed from them, main.c dispatches on them.
 * An option given to a subcommand whose entry does not list it is a usage
 * error, never silently ignored.
 */
#ifndef MUSTER_CLITAB_H
#define MUSTER_CLITAB_H

#include <stdbool.h>
#include <stddef.h>
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
	CO_SSH_OPTION, CO_JUMP, CO_JUMP_CHANNELS, CO_RELAY, CO_FANOUT,
	CO_CONNECT_TIMEOUT, CO_MAX_STARTUPS, CO_CONNECT_RATE, CO_NO_DAEMON,
	CO_AGENT_DIR,
	CO_COMMAND, CO_TIMEOUT, CO_COMMAND_TIMEOUT, CO_STDIN, CO_TTY,
	CO_BECOME, CO_BECOME_USER, CO_ASK_BECOME_PASS, CO_MAX_EXIT,
	CO_BATCH, CO_MAX_FAIL,
	CO_GATHER, CO_GATHER_ALL, CO_LIVE_GATHER, CO_DIFF, CO_JSON, CO_RAW,
	CO_MAX_OUTPUT,
	CO_MAX_TOTAL_OUTPUT, CO_OUTDIR, CO_ERRDIR, CO_VERBOSE,
	CO_RECURSIVE, CO_MKDIR, CO_MODE, CO_OWNER, CO_GROUP_ID, CO_NO_PROGRESS,
	CO_PASSWORD_FILE,
	CO_INTERVAL, CO_DURATION, CO_SORT, CO_PROMETHEUS, CO_ALERT,
	CO_ALERT_EXEC, CO_ALERTMANAGER,
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
	OPT_ALERTMANAGER,
	OPT_NO_DAEMON,
	OPT_MAX_STARTUPS,
	OPT_CONNECT_RATE,
	OPT_JUMP_CHANNELS,
	OPT_RELAY,
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
	OPT_AGENT_DIR,
};

/* Where the usage text lists an option (clitab_option.section). */
enum clitab_section {
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

struct cli;
struct cli_arg;

/*
 * How the parser stores an option (like tmux's args, declared beside the
 * option, not in a switch): a kind, the field of struct cli it writes
 * (offsetof) and, for numbers, the bounds; what no kind describes is a
 * small setter. A value out of bounds is refused as "--NAME: EXPECT, got
 * 'ARG'".
 */
enum clitab_kind {
	CK_NONE,    /* read before parsing (--config) */
	CK_FLAG,    /* bool := true */
	CK_CLEAR,   /* bool := false */
	CK_COUNT,   /* int += 1 (-v, -vv) */
	CK_STRING,  /* const char * := the argument */
	CK_INT,	    /* int in [lo, hi], base 10, or 8 with CP_OCTAL */
	CK_ID,	    /* int64_t in [0, 2^31 - 1] */
	CK_SECONDS, /* double in [lo, 4000000] (> lo with CP_ABOVE) */
	CK_BYTES,   /* size_t, with K, M, G (cli_parse_size) */
	CK_HOSTS,   /* unsigned N at off, or N% with the bool at off2 */
	CK_LIST,    /* appended to the char ** at off, of length off2 */
	CK_SETTER,  /* set() does it */
};

enum {
	CP_OCTAL = 1, /* CK_INT: base 8 */
	CP_ABOVE = 2, /* CK_SECONDS: more than lo, not equal */
};

struct clitab_parse {
	enum clitab_kind kind;
	size_t off;  /* the field in struct cli */
	size_t off2; /* CK_HOSTS: its bool; CK_LIST: its length */
	size_t cap;  /* CK_LIST: its allocated length */
	double lo, hi;
	unsigned flags;	    /* CP_* */
	const char *expect; /* what a bad value should have been */
	int (*set)(struct cli *, const struct cli_arg *);
};

struct clitab_option {
	const char *name; /* long name, without "--" */
	int val;	  /* the short letter, or an OPT_* value */
	bool has_arg;
	const char *arg;  /* its placeholder in the usage text */
	int section;	  /* where the usage text lists it; 0: not */
	const char *help; /* lines after the first are indented */
	struct clitab_parse parse;
	/* An on/off option's off switch ("no-json"), so that a default
	 * from the config file can be undone on the command line; NULL:
	 * none. */
	const char *neg;
};

/* getopt values of the off switches: OPT_NEG + the option's index. */
#define OPT_NEG 1024

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

/* Defined with the code that stores them, in cliopt.c. */
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
