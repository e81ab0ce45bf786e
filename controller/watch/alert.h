/*
 * `muster watch --alert EXPR [--alert-exec CMD]`: threshold rules on the
 * metrics of each Sample, per-host firing state, and running a command on
 * every change. Rules see one sample at a time; there is no "for 5m"
 * smoothing yet.
 */
#ifndef MUSTER_ALERT_H
#define MUSTER_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "muster.pb-c.h"

enum alert_metric {
	AM_CPU_PCT,
	AM_CPU_IOWAIT_PCT,
	AM_CPU_STEAL_PCT,
	AM_LOAD1,
	AM_LOAD5,
	AM_LOAD15,
	AM_MEM_AVAILABLE_PCT,
	AM_MEM_USED_PCT,
	AM_SWAP_USED_PCT,
	AM_DISK_USED_PCT,  /* max over file systems, or one mount */
	AM_INODE_USED_PCT, /* likewise */
	AM_PROCS,
	AM_NET_RX_BYTES_PER_S, /* sum over interfaces */
	AM_NET_TX_BYTES_PER_S,
	AM_DISK_READ_BYTES_PER_S,
	AM_DISK_WRITE_BYTES_PER_S,
};

enum alert_op { AO_GT, AO_GE, AO_LT, AO_LE, AO_EQ, AO_NE };

/* Longest expression alert_parse accepts. */
#define ALERT_EXPR_MAX 4096

struct alert_rule {
	enum alert_metric metric;
	enum alert_op op;
	double threshold;
	char *mount; /* disk_used_pct[/var]: that mount only; else NULL */
	char *text;  /* canonical form, "disk_used_pct[/var] > 90" */
};

/*
 * Parse "METRIC OP NUMBER", blanks allowed between the parts, OP one of
 * > >= < <= == !=, NUMBER a finite decimal ("90", "-1.5", "1e9").
 * disk_used_pct and inode_used_pct take an optional "[/mount]" (blanks
 * inside the brackets are trimmed). On error the result is MERR_PARSE
 * (MERR_LIMIT past ALERT_EXPR_MAX, MERR_NOMEM) and err says what was
 * expected at which 1-based position, listing the metric names when the
 * metric is unknown; rule is then untouched. Free with alert_rule_free.
 */
int alert_parse(const char *expr, struct alert_rule *rule, char *err,
    size_t errlen);
void alert_rule_free(struct alert_rule *rule);

/* Comma-separated names of every metric, for help texts. */
const char *alert_metric_names(void);

/*
 * The rule's metric in s, into *value. Returns 1 when the rule holds, 0
 * when not, MERR_NOTFOUND when s does not give the metric: no such mount,
 * no file system with a size (or inode count), no network interface, no
 * swap for swap_used_pct, zero memory total, or a NaN from the agent.
 * Percentages are used/total * 100 (df's Use% also counts root-reserved
 * blocks as used, so it reads a little higher).
 */
int alert_eval(const struct alert_rule *r, const Muster__Sample *s,
    double *value);

/* A file system's use the way df shows it: used / (used + available to
 * users), falling back to used / total when the agent sent no avail. */
double alert_disk_used_pct(const Muster__DiskUsage *d);

enum alert_change { ALERT_NONE, ALERT_FIRED, ALERT_CLEARED };

const char *alert_change_str(enum alert_change c); /* firing, cleared */

/* Per (rule, host). Zeroed is "not firing". */
struct alert_state {
	bool firing;
};

/*
 * Feed alert_eval's result. Only transitions are reported: FIRED when a
 * rule starts to hold, CLEARED when it stops, NONE otherwise. A negative
 * result (metric absent) changes nothing, and the caller should not call
 * this when a host goes down: a firing alert stays firing while the host
 * is unreachable (reachability is muster_up's business, not the rule's),
 * and is cleared by the first sample after reconnecting that does not
 * hold.
 */
enum alert_change alert_update(struct alert_state *st, int holds);

/*
 * Start cmd with /bin/sh -c. The details travel only in the environment,
 * never in the command string, so host names and rule texts cannot inject
 * shell syntax: MUSTER_ALERT_HOST, MUSTER_ALERT_RULE (canonical text),
 * MUSTER_ALERT_STATE (firing or cleared), MUSTER_ALERT_VALUE, and
 * MUSTER_ALERT_TIME (unix seconds). stdin is /dev/null, stdout goes to our
 * stderr so it cannot corrupt JSON lines on stdout, stderr is inherited,
 * descriptors above 2 are closed, signal mask and dispositions are reset,
 * and the command gets its own process group (kill(-pid, ...) reaches all
 * of it). posix_spawn makes this safe with other threads running (httpd).
 * The caller reaps *pid (ev_child). MERR_INVAL for change ALERT_NONE,
 * MERR_SYS with errno when the shell cannot be started.
 */
int alert_exec(const char *cmd, const char *host,
    const struct alert_rule *rule, enum alert_change change, double value,
    pid_t *pid);

#endif
