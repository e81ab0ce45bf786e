/*
 * `muster watch --alert RULE`: the rule language (a threshold on one of a
 * Sample's metrics, an optional duration it must hold for, and labels),
 * evaluating a rule on a sample, and the per-(rule, host) state machine
 * inactive -> pending -> firing -> inactive. What is done with a change
 * (print, --alert-exec, Alertmanager) is alertexec.c's and alertmgr.c's.
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

/* Longest "for" duration: a week (a rule meant to wait longer is a
 * typo, and the arithmetic stays far from overflow). */
#define ALERT_FOR_MAX (7 * 86400.0)

struct alert_label {
	char *name;  /* [A-Za-z_][A-Za-z0-9_]*, not __*, instance, rule */
	char *value; /* UTF-8, no control characters, may be empty */
};

struct alert_rule {
	enum alert_metric metric;
	enum alert_op op;
	double threshold;
	double for_s; /* must hold this long before it fires; 0: at once */
	char *mount;  /* disk_used_pct[/var]: that mount only; else NULL */
	char *text;   /* "disk_used_pct[/var] > 90 for 5m": its identity */
	char *spec;   /* text and the labels: parses back to this rule */
	struct alert_label *labels;
	size_t nlabels, labels_cap;
};

/*
 * Parse "METRIC OP NUMBER [for DURATION] [NAME=VALUE ...]", blanks
 * allowed between the parts, OP one of > >= < <= == !=, NUMBER a finite
 * decimal ("90", "-1.5", "1e9"). disk_used_pct and inode_used_pct take
 * an optional "[/mount]" (blanks inside the brackets are trimmed).
 * DURATION is a number with an optional unit s, m, h or d ("90", "5m",
 * "1.5h"), at most ALERT_FOR_MAX. Labels are separated by blanks; a
 * VALUE is a run of non-blank characters or "double quoted" (no escapes);
 * "alertname" replaces the default (the metric's name) and "instance" and
 * "rule" are muster's. On error the result is MERR_PARSE (MERR_LIMIT past
 * ALERT_EXPR_MAX, MERR_NOMEM) and err says what was expected at which
 * 1-based position, listing the metric names when the metric is unknown;
 * rule is then untouched. Free with alert_rule_free.
 */
int alert_parse(const char *expr, struct alert_rule *rule, char *err,
    size_t errlen);
void alert_rule_free(struct alert_rule *rule);

/* Comma-separated names of every metric, for help texts. */
const char *alert_metric_names(void);

/* Shortest decimal text that reads back as v ("123456789", not
 * "1.23457e+08"); 40 bytes hold any. */
void alert_format_number(char *text, size_t len, double v);

/* The rule's alertname: its "alertname" label, else the metric's name. */
const char *alert_rule_name(const struct alert_rule *r);

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

/*
 * The states of one (rule, host). X(identifier, name in messages).
 * INACTIVE -> PENDING when the rule starts to hold, PENDING -> FIRING once
 * it has held for every sample over the rule's duration (at once without
 * one), PENDING -> INACTIVE and FIRING -> INACTIVE ("resolved") on the
 * first sample where it does not hold.
 */
#define ALERT_PHASES(X)         \
	X(INACTIVE, "inactive") \
	X(PENDING, "pending")   \
	X(FIRING, "firing")

enum alert_phase {
#define ALERT_PHASE_ENUM(id, name) AP_##id,
	ALERT_PHASES(ALERT_PHASE_ENUM)
#undef ALERT_PHASE_ENUM
	    AP_COUNT
};

const char *alert_phase_name(enum alert_phase p);

enum alert_change { ALERT_NONE, ALERT_FIRED, ALERT_RESOLVED };

const char *alert_change_str(enum alert_change c); /* firing, resolved */

/* Per (rule, host). Zeroed is INACTIVE. */
struct alert_state {
	enum alert_phase phase;
	double since; /* when the phase began (the caller's clock) */
};

/*
 * Feed alert_eval's result for a sample seen at now (unix seconds; a
 * clock stepped back only makes a pending rule wait longer). Only changes of what the outside sees are
 * reported: FIRED when the rule has held for every sample over for_s,
 * RESOLVED on the first sample after that where it does not hold, NONE
 * otherwise (also on entering or leaving PENDING). A negative result
 * (metric absent from this sample) changes nothing.
 */
enum alert_change alert_update(struct alert_state *st, int holds, double now,
    double for_s);

/*
 * The host's samples stopped (it went down): a PENDING rule starts over,
 * since it was not seen to hold throughout. A FIRING one stays firing
 * while the host is unreachable (reachability is the down event's
 * business), and resolves on the first sample after reconnecting where it
 * does not hold.
 */
void alert_gap(struct alert_state *st);

#endif
