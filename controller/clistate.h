/*
 * struct cli: what the command line and the config file asked for, as
 * cli.c's parse loop, cliopt.c's option table and clineg.c's off switches
 * store it, and as the jobs read it. A header of its own so that those
 * three write one struct without depending on each other.
 */
#ifndef MUSTER_CLISTATE_H
#define MUSTER_CLISTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clitab.h"
#include "config.h"
#include "hostlist.h"
#include "pull.h"
#include "push.h"
#include "run.h"
#include "watch.h"

struct cli {
	/* host selection */
	char **wlists, **xlists, **groups, **hostfiles;
	size_t nw, nx, ng, nh;
	/* Allocated lengths of the lists cli.c grows (ARRAY_RESERVE). */
	struct {
		size_t w, x, g, h, commands, alerts, alertmanagers,
		    ssh_options;
	} cap;
	const char *inventory;
	const char *rerun; /* --rerun: statuses of the last run */
	bool list_hosts;   /* --list-hosts: print the selection, exit */
	/* ssh */
	const char *identity;
	const char *login;  /* -l: user where none is named */
	char **ssh_options; /* -o, checked: "Name value" each */
	size_t nssh_options;
	const char *known_hosts;
	const char *ssh_config;
	const char *jump;  /* -J: bastions for every host */
	const char *relay; /* --relay: every host through this relay */
	/* --agent-dir: every host's agent there, unless its inventory
	 * names another; and where that came from. */
	const char *agent_dir, *agent_dir_origin;
	bool accept_new;
	double connect_timeout;
	int verbose;	/* -v count: the log level */
	bool no_daemon; /* --no-daemon: never use a running daemon */
	enum cli_cmd cmd;
	bool json;
	int fanout;
	int max_startups;    /* unauthenticated set-ups at once (0: any) */
	double connect_rate; /* new connections per second (0: any) */
	int jump_channels;   /* hosts per bastion connection (0: ssh -W) */
	/* keys install */
	const char *password_file;
	/* run */
	struct run_options run;
	/* push, pull */
	struct push_options push;
	struct pull_options pull;
	/* watch */
	struct watch_options watch;
	/* daemon */
	bool daemon_status, daemon_stop, daemon_foreground;
	/* --batch, --max-fail: a count, or a percentage of the hosts when
	 * the _pct flag is set (cli_roll resolves it) */
	unsigned batch, max_fail;
	bool batch_pct, max_fail_pct;
	/* the config file, and the argv made of it and the command line */
	struct config conf;
	char **merged;
	int conf_at;		/* the config line an error is about, or -1 */
	uint64_t cmdline_lists; /* list options the command line gave */
};

#endif
