#include "fleet.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bastion.h"
#include "err.h"
#include "log.h"

/* Reconnects after a connection dropped before sshd's banner. */
#define EARLY_RETRIES 3

static void start_more(struct fleet *f);
static bool roll_holds(const struct fleet *f);

static void
report_timings(struct fleet_host *h)
{
	const struct conn_stats *st = conn_stats(h->conn);

	if (st->t_ready == 0) {
		fprintf(stderr,
		    "muster: %s: no agent (connected %.0f ms, "
		    "authenticated %.0f ms)\n",
		    h->display, st->t_connected * 1000, st->t_authed * 1000);
		return;
	}
	fprintf(stderr,
	    "muster: %s: connected %.0f ms, authenticated %.0f ms, "
	    "agent ready %.0f ms, agent %s\n",
	    h->display, st->t_connected * 1000, st->t_authed * 1000,
	    st->t_ready * 1000,
	    !st->uploaded	    ? "cached" :
		st->upload_via_exec ? "uploaded via exec" :
				      "uploaded via sftp");
}

/* A set-up slot of the pacer is free again. */
static void
end_setup(struct fleet_host *h)
{
	if (!h->connecting)
		return;
	h->connecting = false;
	pacer_end(&h->fleet->pace, h->authed);
}

static void
fleet_host_authed(struct conn *c, void *arg)
{
	struct fleet_host *h = arg;

	h->authed = true;
	pacer_authed(&h->fleet->pace);
	start_more(h->fleet);
}

static void
fleet_host_ready(struct conn *c, void *arg)
{
	struct fleet_host *h = arg;
	struct fleet *f = h->fleet;

	end_setup(h);
	f->ops->ready(h);
	start_more(f);
}

/* A host counts in f->live from its start (or a reconnect) to its end,
 * once: fleet_stop also closes conns that never started, and their done
 * must not be counted off. */
static void
live_add(struct fleet_host *h)
{
	if (!h->counted) {
		h->counted = true;
		h->fleet->live++;
	}
}

static void
live_drop(struct fleet_host *h)
{
	if (h->counted) {
		h->counted = false;
		h->fleet->live--;
	}
}

static void
fleet_host_done(struct conn *c, enum host_status st, const char *error,
    void *arg)
{
	struct fleet_host *h = arg;
	struct fleet *f = h->fleet;

	end_setup(h);
	if (f->cfg->verbose)
		report_timings(h);
	/* Cleared first: the job may reconnect from its done callback. */
	h->conn = NULL;
	live_drop(h);
	/* An sshd shared with others may still drop us past its
	 * MaxStartups; like ssh's ConnectionAttempts, try again a little
	 * later instead of failing the host. */
	if (st == HS_UNREACHABLE && conn_stats(c)->dropped_early &&
	    h->early_retries < EARLY_RETRIES && !f->interrupted) {
		h->early_retries++;
		if (fleet_host_reconnect(h, 0.25 * h->early_retries) == 0)
			return;
	}
	f->ops->done(h, st, error);
	/* A host the job said nothing of ends as its connection did. */
	if (!h->reported)
		fleet_host_result(h, st);
	start_more(f);
}

static const struct conn_owner_ops fleet_conn_ops = {
	.authed = fleet_host_authed,
	.ready = fleet_host_ready,
	.done = fleet_host_done,
};

/* --batch: the next host when one of the batch is done; --max-fail: no
 * more once that many failed. */
static bool
roll_holds(const struct fleet *f)
{
	const struct fleet_roll *r = f->roll;

	return r != NULL &&
	    (r->cut_short || (r->batch > 0 && f->live >= r->batch));
}

void
fleet_host_result(struct fleet_host *h, enum host_status st)
{
	struct fleet_roll *r = h->fleet->roll;

	if (h->reported &&
	    (st == HS_OK || r == NULL || r->final[h->index] != HS_OK))
		return;
	h->reported = true;
	if (r == NULL)
		return;
	r->final[h->index] = st;
	if (st == HS_OK || st == HS_SKIPPED)
		return;
	r->failed++;
	if (r->max_fail > 0 && r->failed >= r->max_fail)
		r->cut_short = true;
}

static void
start_more(struct fleet *f)
{
	struct fleet_host *h;

	while (f->next_to_start < f->nhosts && !f->interrupted &&
	    !roll_holds(f) && pacer_take(&f->pace)) {
		h = &f->hosts[f->next_to_start++];
		h->t_start = ev_now(f->cfg->loop);
		h->connecting = true;
		h->authed = false;
		live_add(h);
		conn_start(h->conn);
	}
}

void
fleet_stop(struct fleet *f)
{
	struct ev_loop *loop = f->cfg->loop;
	size_t i;

	if (f->interrupted)
		return;
	f->interrupted = true;
	pacer_stop(&f->pace);
	if (f->ops->interrupt != NULL)
		f->ops->interrupt(f);
	/* Only hosts started: the others keep their unstarted conn, and
	 * fleet_run reports them "not contacted" once the loop is done
	 * (closing one would report it a second time, and count it out of
	 * the live hosts it never joined). */
	for (i = 0; i < f->next_to_start; i++) {
		struct fleet_host *h = &f->hosts[i];

		if (h->retrying) {
			/* Never started: free it and let the loop go. */
			ev_timer_stop(loop, &h->retry);
			h->retrying = false;
			conn_discard(h->conn);
			h->conn = NULL;
			live_drop(h);
		} else if (h->conn != NULL)
			conn_close(h->conn);
	}
}

static void
fleet_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct fleet *f = w->data;

	if (f->interrupted) /* second ^C: stop waiting */
		exit(4);
	fprintf(stderr, "muster: interrupted; cancelling\n");
	fleet_stop(f);
}

/* A short unique label per host: its name, with the user when two
 * entries share a name, and a port other than 22. */
static char *
display_name(const struct host_set *hosts, size_t i)
{
	const struct host_spec *s = &hosts->v[i];
	bool dup = false;
	char *out = NULL, port[16] = "";
	size_t j;

	for (j = 0; j < hosts->n && !dup; j++)
		dup = j != i && strcmp(hosts->v[j].name, s->name) == 0;
	if (s->port != 0 && s->port != 22)
		snprintf(port, sizeof(port), ":%u", s->port);
	if (asprintf(&out, "%s%s%s%s", dup && s->user ? s->user : "",
		dup && s->user ? "@" : "", s->name, port) < 0)
		return NULL;
	return out;
}

static void
fleet_pace_kick(void *arg)
{
	start_more(arg);
}

int
fleet_init(struct fleet *f, struct conn_config *cfg,
    const struct host_set *hosts, int fanout, const struct fleet_job_ops *ops,
    void *job)
{
	size_t i;
	int r;

	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->ops = ops;
	f->job = job;
	f->roll = cfg->roll;
	/* Through the daemon there is no SSH set-up to pace here. */
	pacer_init(&f->pace, cfg->loop, fanout,
	    cfg->link ? 0 : cfg->max_startups,
	    cfg->link ? 0 : cfg->connect_rate, fleet_pace_kick, f);
	if ((f->hosts = calloc(hosts->n, sizeof(*f->hosts))) == NULL)
		return MERR_NOMEM;
	if (f->roll != NULL && f->roll->nfinal != hosts->n)
		return MERR_INVAL;
	f->nhosts = hosts->n;
	for (i = 0; i < hosts->n; i++) {
		struct fleet_host *h = &f->hosts[i];

		h->fleet = f;
		h->index = i;
		h->spec = &hosts->v[i];
		if ((h->display = display_name(hosts, i)) == NULL)
			return MERR_NOMEM;
		if ((r = conn_new(cfg, &hosts->v[i], h->display,
			 &fleet_conn_ops, h, &h->conn)) != 0)
			return r;
	}
	return 0;
}

/* The explicit end of a run (as OpenSSH's quit_pending, tmux's
 * proc_exit): no host live or left to start, no conn held by a worker,
 * the job not busy. */
static bool
fleet_finished(struct fleet *f)
{
	return f->live == 0 &&
	    (f->next_to_start == f->nhosts || f->interrupted ||
		roll_holds(f)) &&
	    conn_lingering() == 0 &&
	    (f->ops->busy == NULL || !f->ops->busy(f));
}

void
fleet_run(struct fleet *f)
{
	ev_signal_init(&f->sigint, fleet_on_signal, SIGINT);
	ev_signal_init(&f->sigterm, fleet_on_signal, SIGTERM);
	f->sigint.data = f->sigterm.data = f;
	ev_signal_start(f->cfg->loop, &f->sigint);
	ev_signal_start(f->cfg->loop, &f->sigterm);
	start_more(f);
	while (!fleet_finished(f)) {
		/* Nothing left to wait for while unfinished would be a
		 * bookkeeping bug: end rather than spin. */
		if (!ev_run(f->cfg->loop, EVRUN_ONCE) && !fleet_finished(f)) {
			log_error("internal error: the loop has nothing left "
				  "to wait for, %zu host%s unfinished",
			    f->live, f->live == 1 ? "" : "s");
			break;
		}
	}
	pacer_stop(&f->pace);
	/* Bastion connections no host uses any more end with the run. */
	bastion_close_idle(f->cfg);
	ev_signal_stop(f->cfg->loop, &f->sigint);
	ev_signal_stop(f->cfg->loop, &f->sigterm);
	/* Hosts an interrupt or --max-fail kept from starting still get
	 * their result. */
	for (; f->next_to_start < f->nhosts; f->next_to_start++) {
		struct fleet_host *h = &f->hosts[f->next_to_start];
		struct conn *never = h->conn;
		bool skipped = !f->interrupted && f->roll != NULL &&
		    f->roll->cut_short;

		/* Taken first: a job closing the host from its done
		 * callback would finish the conn, and discarding a
		 * finished conn frees nothing. */
		h->conn = NULL;
		h->t_start = ev_now(f->cfg->loop);
		if (skipped)
			f->ops->done(h, HS_SKIPPED,
			    "not started: --max-fail "
			    "reached");
		else
			f->ops->done(h, HS_UNREACHABLE,
			    "not contacted: "
			    "interrupted");
		fleet_host_result(h, skipped ? HS_SKIPPED : HS_UNREACHABLE);
		conn_discard(never);
	}
}

static void
fleet_on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct fleet_host *h = w->data;
	struct fleet *f = h->fleet;

	h->retrying = false;
	if (f->interrupted || h->conn == NULL) {
		live_drop(h);
		return;
	}
	/* A reconnect waits for a set-up slot like everyone else. */
	if (!pacer_take(&f->pace)) {
		h->retrying = true;
		ev_timer_set(&h->retry, 0.05, 0);
		ev_timer_start(loop, &h->retry);
		return;
	}
	h->t_start = ev_now(loop);
	h->connecting = true;
	h->authed = false;
	conn_start(h->conn);
}

int
fleet_host_reconnect(struct fleet_host *h, double delay)
{
	struct fleet *f = h->fleet;
	int r;

	if (h->conn != NULL || f->interrupted)
		return MERR_INVAL;
	if ((r = conn_new(f->cfg, h->spec, h->display, &fleet_conn_ops, h,
		 &h->conn)) != 0)
		return r;
	/* Counted live while it waits, so the loop keeps the host. */
	live_add(h);
	h->retrying = true;
	ev_timer_init(&h->retry, fleet_on_retry, delay, 0);
	h->retry.data = h;
	ev_timer_start(f->cfg->loop, &h->retry);
	return 0;
}

void
fleet_host_close(struct fleet_host *h)
{
	if (h->conn != NULL)
		conn_close(h->conn);
}

double
fleet_host_elapsed_ms(const struct fleet_host *h)
{
	return (ev_now(h->fleet->cfg->loop) - h->t_start) * 1000;
}

void
fleet_free(struct fleet *f)
{
	size_t i;

	/* Hosts never started (a failed init) still own their conn. */
	for (i = f->next_to_start; i < f->nhosts; i++)
		if (f->hosts[i].conn != NULL)
			conn_discard(f->hosts[i].conn);
	for (i = 0; f->hosts != NULL && i < f->nhosts; i++)
		free(f->hosts[i].display);
	free(f->hosts);
	memset(f, 0, sizeof(*f));
}
