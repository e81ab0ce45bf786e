/*
 * What `muster watch` tells the outside about a host: an event is a rule
 * firing or resolving, or the host going down or coming back up. This
 * module gives an event's JSON line and runs --alert-exec for it;
 * alertmgr.c posts it to Alertmanager.
 */
#ifndef MUSTER_ALERTEXEC_H
#define MUSTER_ALERTEXEC_H

#include <sys/types.h>

#include <jansson.h>

#include "alert.h"

enum alert_event_kind { AE_FIRING, AE_RESOLVED, AE_DOWN, AE_UP };

struct alert_event {
	enum alert_event_kind kind;
	const char *host;
	const struct alert_rule *rule; /* FIRING, RESOLVED; else NULL */
	double value;		       /* the rule's metric, with a rule */
	double since;		       /* unix seconds the state began */
	const char *detail;	       /* DOWN, UP: why; may be NULL */
};

/* firing, resolved, down, up: the JSON "state", MUSTER_ALERT_STATE. */
const char *alert_event_kind_str(enum alert_event_kind k);

/*
 * The --json line: {"event", "host", "ts", "detail", "state", "since"},
 * event "down" or "up" (detail: why, or null), or "alert" with "rule"
 * (its text), "name" (its alertname), "value", "labels" (an object) and
 * detail "RULE STATE (value V)" as before the fields existed. ts is now,
 * since when the state began, both unix seconds. NULL: out of memory.
 */
json_t *alert_event_json(const struct alert_event *ev, double now);

/*
 * Start cmd with /bin/sh -c. The details travel only in the environment,
 * never in the command string, so host names and rule texts cannot inject
 * shell syntax: MUSTER_ALERT_HOST, MUSTER_ALERT_STATE (firing, resolved,
 * down, up), MUSTER_ALERT_TIME and MUSTER_ALERT_SINCE (unix seconds), and
 * with a rule MUSTER_ALERT_RULE (its canonical text), MUSTER_ALERT_NAME
 * (its alertname), MUSTER_ALERT_VALUE, MUSTER_ALERT_LABELS ("name=value"
 * lines) and one MUSTER_ALERT_LABEL_<name> per label; for down and up
 * MUSTER_ALERT_DETAIL when there is one. stdin is /dev/null, stdout goes
 * to our stderr so it cannot corrupt JSON lines on stdout, stderr is
 * inherited, descriptors above 2 are closed, signal mask and dispositions
 * are reset, and the command gets its own process group (kill(-pid, ...)
 * reaches all of it). posix_spawn makes this safe with other threads
 * running (httpd). The caller reaps *pid (ev_child). MERR_NOMEM, MERR_SYS
 * with errno when the shell cannot be started.
 */
int alert_exec(const char *cmd, const struct alert_event *ev, pid_t *pid);

#endif
