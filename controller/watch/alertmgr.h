/*
 * `muster watch --alertmanager URL`: alerts posted to Alertmanager's v2
 * API (POST URL/api/v2/alerts, a JSON array of {labels, annotations,
 * startsAt, endsAt, generatorURL}). A rule firing on a host is an alert
 * labelled alertname (the rule's, or its metric's name), instance (the
 * host), rule (the rule's text) and the rule's labels; a host down is
 * alertname="MusterHostDown". Firing alerts are re-sent every
 * ALERTMGR_RESEND seconds with endsAt ALERTMGR_ENDS_AFTER ahead, as
 * Prometheus does, so Alertmanager resolves them itself if muster stops;
 * a resolved one is sent once with endsAt set.
 *
 * Each URL has its own bounded queue and one connection at a time
 * (httppost.c, never blocking the loop); a failed post is retried with
 * back-off, and when a queue is full the oldest alert is dropped and
 * counted (muster_alertmanager_alerts_dropped_total), so an unreachable
 * Alertmanager costs bounded memory. A newer state of the same alert
 * replaces the queued one.
 */
#ifndef MUSTER_ALERTMGR_H
#define MUSTER_ALERTMGR_H

#include <stddef.h>

#include <ev.h>

#include "alertexec.h"
#include "buf.h"

#define ALERTMGR_RESEND 60.0
#define ALERTMGR_ENDS_AFTER (4 * ALERTMGR_RESEND)
#define ALERTMGR_QUEUE_MAX 1000

struct alertmgr;

/*
 * One target per URL, "http://HOST[:PORT][/PREFIX]", HOST a name or an
 * address ([v6] in brackets), resolved here, once (the loop must never
 * wait for DNS). generator: the generatorURL to send, or NULL. On error
 * err names the URL and what is wrong with it (https is not supported,
 * a name that does not resolve); MERR_PARSE, MERR_NOTFOUND, MERR_NOMEM.
 */
int alertmgr_new(struct ev_loop *loop, char *const *urls, size_t n,
    const char *generator, struct alertmgr **out, char *err, size_t errlen);

/* Queue ev for every target (up: resolves the host's down alert). */
void alertmgr_event(struct alertmgr *am, const struct alert_event *ev);

/* The client's counters as Prometheus families, appended to out. */
int alertmgr_render_metrics(const struct alertmgr *am, struct buf *out);

/* Stops everything under way; NULL is fine. */
void alertmgr_free(struct alertmgr *am);

#endif
