#include "watch.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <jansson.h>

#include "alert.h"
#include "alertexec.h"
#include "alertmgr.h"
#include "backoff.h"
#include "err.h"
#include "log.h"
#include "fleet.h"
#include "httpd.h"
#include "metrics.h"
#include "output.h"
#include "sd.h"
#include "selfmetrics.h"
#include "status.h"
#include "topview.h"
#include "tui.h"
#include "units.h"

#define BACKOFF_MIN 1.0
#define BACKOFF_MAX 30.0
#define METRICS_MAX (32u * 1024 * 1024)

/*
 * A host whose samples stop is down although its connection still looks
 * open: a stopped agent or a network gone quiet is noticed by the
 * connection's heartbeat only after several pings (30-48 s). Three missed
 * intervals says the agent is not merely late; the floor keeps short
 * intervals from flapping when a busy host or controller is scheduled a
 * second or two late (the agent's timer slips, it does not catch up).
 */
#define STALE_INTERVALS 3
#define STALE_MIN 3.0
/*
 * A stale timer this late means our own loop was stuck (a blocking
 * write, a stopped controller): samples that came meanwhile still wait
 * unread, and libev runs due timers before pending input. Such a host
 * gets a fresh wait from now instead of a false down.
 */
#define STALE_LATE_MAX 1.0

struct watch_host {
	struct watch *w;
	struct fleet_host *fh;
	uint32_t stream;
	bool up, streaming;
	bool ever_up;	      /* for the exit status */
	bool told_down;	      /* a down went to --alert-exec/Alertmanager */
	bool stale;	      /* down because samples stopped, conn open */
	double since;	      /* when it went up or down (unix seconds) */
	double last_rx;	      /* when the newest sample came, our clock */
	double watched_since; /* ev_now() of it, or of a stalled loop */
	ev_timer stale_timer; /* runs while up: fires when samples stop */
	struct backoff backoff;
	Muster__Sample *last; /* our own copy of the latest sample */
	struct alert_state *alerts;
	char *error; /* why it is down */
};

struct watch {
	const struct watch_options *opts;
	struct conn_config *cfg;
	struct fleet fleet;
	struct watch_host *hosts;
	struct alert_rule *rules;
	size_t nrules;
	struct httpd *httpd;
	struct alertmgr *am;
	struct buf metrics;
	struct buf target_text; /* every host's /metrics?target= text */
	struct buf sd;		/* the /sd JSON, made once */
	ev_timer redraw, stop;
	bool stdout_failed; /* said so; the watch ends */
	int stdout_errno;   /* of the first failed JSON line */
	ev_child children[8];
	bool dirty;
	struct tui *tui;      /* the live view on a terminal, or NULL */
	struct top_host *top; /* its model: one per host */
};

static double
now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- samples ---------------------------------------------------------------------- */

/* Samples are unpacked into frame memory that is freed after the
 * callback: keep a copy of the latest, re-packed and unpacked. */
static Muster__Sample *
sample_copy(const Muster__Sample *s)
{
	size_t len = muster__sample__get_packed_size(s);
	uint8_t *buf;
	Muster__Sample *copy;

	if ((buf = malloc(len ? len : 1)) == NULL)
		return NULL;
	muster__sample__pack(s, buf);
	copy = muster__sample__unpack(NULL, len, buf);
	free(buf);
	return copy;
}

static double
pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0;
}

static double
disk_max_pct(const Muster__Sample *s)
{
	double m = 0, p;
	size_t i;

	for (i = 0; i < s->n_disks; i++)
		if ((p = alert_disk_used_pct(s->disks[i])) > m)
			m = p;
	return m;
}

static void
net_sum(const Muster__Sample *s, double *rx, double *tx)
{
	size_t i;

	*rx = *tx = 0;
	for (i = 0; i < s->n_net; i++) {
		*rx += s->net[i]->rx_bytes_per_s;
		*tx += s->net[i]->tx_bytes_per_s;
	}
}

static json_t *
bytes_json(ProtobufCBinaryData b)
{
	json_t *j = json_stringn((const char *)b.data, b.len);

	/* Names from a host need not be UTF-8; JSON must stay valid. */
	return j != NULL ? j : json_string("(invalid UTF-8)");
}

/* One JSON line; the first failure's reason is kept for check_stdout. */
static void
json_out(struct watch *w, json_t *o)
{
	int e = output_json_line(stdout, o);

	if (e != 0 && w->stdout_errno == 0)
		w->stdout_errno = e;
}

static void
print_sample_json(struct watch_host *h, const Muster__Sample *s)
{
	json_t *o = json_object(), *disks = json_array(), *net = json_array();
	size_t i;

	json_object_set_new(o, "host", json_string(h->fh->display));
	json_object_set_new(o, "ts", json_real((double)s->ts_ms / 1000.0));
	json_object_set_new(o, "cpu_pct", json_real(s->cpu_pct));
	json_object_set_new(o, "cpu_user_pct", json_real(s->cpu_user_pct));
	json_object_set_new(o, "cpu_system_pct", json_real(s->cpu_system_pct));
	json_object_set_new(o, "cpu_iowait_pct", json_real(s->cpu_iowait_pct));
	json_object_set_new(o, "cpu_steal_pct", json_real(s->cpu_steal_pct));
	json_object_set_new(o, "ncpu", json_integer(s->ncpu));
	json_object_set_new(o, "load1", json_real(s->load1));
	json_object_set_new(o, "load5", json_real(s->load5));
	json_object_set_new(o, "load15", json_real(s->load15));
	json_object_set_new(o, "mem_total_bytes",
	    json_integer((json_int_t)s->mem_total_bytes));
	json_object_set_new(o, "mem_available_bytes",
	    json_integer((json_int_t)s->mem_available_bytes));
	json_object_set_new(o, "mem_used_bytes",
	    json_integer((json_int_t)s->mem_used_bytes));
	json_object_set_new(o, "swap_total_bytes",
	    json_integer((json_int_t)s->swap_total_bytes));
	json_object_set_new(o, "swap_used_bytes",
	    json_integer((json_int_t)s->swap_used_bytes));
	for (i = 0; i < s->n_disks; i++) {
		const Muster__DiskUsage *d = s->disks[i];
		json_t *jd = json_object();

		json_object_set_new(jd, "mount", bytes_json(d->mount));
		json_object_set_new(jd, "fstype", bytes_json(d->fstype));
		json_object_set_new(jd, "total_bytes",
		    json_integer((json_int_t)d->total_bytes));
		json_object_set_new(jd, "used_bytes",
		    json_integer((json_int_t)d->used_bytes));
		json_object_set_new(jd, "avail_bytes",
		    json_integer((json_int_t)d->avail_bytes));
		json_object_set_new(jd, "used_pct",
		    json_real(alert_disk_used_pct(d)));
		json_object_set_new(jd, "inodes_total",
		    json_integer((json_int_t)d->inodes_total));
		json_object_set_new(jd, "inodes_used",
		    json_integer((json_int_t)d->inodes_used));
		json_array_append_new(disks, jd);
	}
	json_object_set_new(o, "disks", disks);
	json_object_set_new(o, "disk_read_bytes_per_s",
	    json_real(s->disk_read_bytes_per_s));
	json_object_set_new(o, "disk_write_bytes_per_s",
	    json_real(s->disk_write_bytes_per_s));
	for (i = 0; i < s->n_net; i++) {
		const Muster__NetRate *n = s->net[i];
		json_t *jn = json_object();

		json_object_set_new(jn, "iface", bytes_json(n->iface));
		json_object_set_new(jn, "rx_bytes_per_s",
		    json_real(n->rx_bytes_per_s));
		json_object_set_new(jn, "tx_bytes_per_s",
		    json_real(n->tx_bytes_per_s));
		json_object_set_new(jn, "rx_errors_per_s",
		    json_real(n->rx_errors_per_s));
		json_object_set_new(jn, "tx_errors_per_s",
		    json_real(n->tx_errors_per_s));
		json_array_append_new(net, jn);
	}
	json_object_set_new(o, "net", net);
	json_object_set_new(o, "procs", json_integer(s->procs));
	json_object_set_new(o, "uptime_s", json_real(s->uptime_s));
	json_out(h->w, o);
}

/*
 * An event: a JSON line or a text line (none in the live view, which
 * shows the state), then --alert-exec and Alertmanager. Up is news for
 * those two only after a down was: every host coming up at the start
 * would page someone for nothing.
 */
static void run_alert_exec(struct watch *w, const struct alert_event *ev);

static void
emit(struct watch_host *h, const struct alert_event *ev)
{
	struct watch *w = h->w;
	json_t *o;
	char when[32], *shown;
	time_t t = (time_t)now_unix();

	if (w->opts->json) {
		if ((o = alert_event_json(ev, now_unix())) != NULL)
			json_out(w, o);
	} else if (ev->rule != NULL && w->tui != NULL) {
		/* The live view's status line shows stderr. */
		fprintf(stderr, "ALERT %s %s %s (value %.2f)\n",
		    h->fh->display, ev->rule->text,
		    alert_event_kind_str(ev->kind), ev->value);
	} else if (ev->rule != NULL) {
		printf("ALERT %s %s %s (value %.2f)\n", h->fh->display,
		    ev->rule->text, alert_event_kind_str(ev->kind), ev->value);
		fflush(stdout);
	} else if (w->tui == NULL) { /* else the live view shows it */
		/* The detail may quote the agent: no terminal escapes. */
		shown = ev->detail != NULL ? output_escape(ev->detail) : NULL;
		strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
		printf("%s %s %s%s%s\n", when, h->fh->display,
		    alert_event_kind_str(ev->kind), ev->detail ? ": " : "",
		    shown ? shown : "");
		free(shown);
		fflush(stdout);
	}
	if (ev->kind == AE_UP && !h->told_down)
		return;
	if (ev->kind == AE_DOWN || ev->kind == AE_UP)
		h->told_down = ev->kind == AE_DOWN;
	run_alert_exec(w, ev);
	if (w->am != NULL)
		alertmgr_event(w->am, ev);
}

/* The host went down or came up at h->since. */
static void
host_event(struct watch_host *h, enum alert_event_kind kind,
    const char *detail)
{
	struct alert_event ev = { .kind = kind,
		.host = h->fh->display,
		.since = h->since,
		.detail = detail };
	size_t i;

	/* A pending rule was not seen to hold throughout. */
	if (kind == AE_DOWN)
		for (i = 0; i < h->w->nrules; i++)
			alert_gap(&h->alerts[i]);
	emit(h, &ev);
}

/* ---- alerts ------------------------------------------------------------------------ */

static void
watch_on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	ev_child_stop(loop, w);
	w->pid = 0;
}

static void
run_alert_exec(struct watch *w, const struct alert_event *ev)
{
	pid_t pid;
	size_t i;
	int r;

	if (w->opts->alert_exec == NULL)
		return;
	if ((r = alert_exec(w->opts->alert_exec, ev, &pid)) != 0) {
		log_error("--alert-exec: %s: %s", ev->host,
		    r == MERR_SYS ? strerror(errno) : merr_str(r));
		return;
	}
	/* Reap through libev so no zombie is left; a full table just means
	 * the kernel keeps the zombie until the next free slot reaps it. */
	for (i = 0; i < sizeof(w->children) / sizeof(w->children[0]); i++)
		if (w->children[i].pid == 0) {
			ev_child_set(&w->children[i], pid, 0);
			ev_child_start(w->cfg->loop, &w->children[i]);
			break;
		}
}

static void
check_alerts(struct watch_host *h, const Muster__Sample *s)
{
	struct watch *w = h->w;
	struct alert_event ev = { .host = h->fh->display };
	enum alert_change ch;
	double now = now_unix();
	size_t i;
	int holds;

	for (i = 0; i < w->nrules; i++) {
		ev.value = 0;
		holds = alert_eval(&w->rules[i], s, &ev.value);
		ch = alert_update(&h->alerts[i], holds, now,
		    w->rules[i].for_s);
		if (ch == ALERT_NONE)
			continue;
		ev.kind = ch == ALERT_FIRED ? AE_FIRING : AE_RESOLVED;
		ev.rule = &w->rules[i];
		ev.since = h->alerts[i].since;
		emit(h, &ev);
	}
}

/* ---- stream callbacks ---------------------------------------------------------- */

static void
watch_on_sample(void *arg, const Muster__Sample *s)
{
	struct watch_host *h = arg;
	Muster__Sample *copy;

	backoff_reset(&h->backoff);
	h->last_rx = now_unix();
	h->watched_since = ev_now(h->w->cfg->loop);
	if (!h->up) {
		h->up = h->ever_up = true;
		h->since = h->last_rx;
		free(h->error);
		h->error = NULL;
		host_event(h, AE_UP, h->stale ? "samples resumed" : NULL);
		h->stale = false;
	}
	/* Samples that cross the Cancel at the end must not restart it. */
	if (!h->w->fleet.interrupted)
		ev_timer_again(h->w->cfg->loop, &h->stale_timer);
	if ((copy = sample_copy(s)) != NULL) {
		if (h->last != NULL)
			muster__sample__free_unpacked(h->last, NULL);
		h->last = copy;
	}
	if (h->w->opts->json)
		print_sample_json(h, s);
	check_alerts(h, s);
	h->w->dirty = true;
}

static void
watch_on_stale(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct watch_host *h = t->data;
	char detail[64];

	if (ev_now(loop) - h->watched_since - t->repeat > STALE_LATE_MAX) {
		h->watched_since = ev_now(loop);
		ev_timer_again(loop, t);
		return;
	}
	ev_timer_stop(loop, t);
	/* The connection stays: if the agent was only paused its samples
	 * resume on it, and if it is gone the heartbeat ends it. */
	h->up = false;
	h->stale = true;
	h->since = now_unix();
	snprintf(detail, sizeof(detail), "no sample for %.0f s",
	    h->since - h->last_rx);
	free(h->error);
	h->error = strdup(detail);
	host_event(h, AE_DOWN, detail);
	h->w->dirty = true;
}

static void
watch_on_result(void *arg, const Muster__Result *res)
{
	struct watch_host *h = arg;

	/* The agent ended the watch (we cancelled, or it is shutting down). */
	h->streaming = false;
	fleet_host_close(h->fh);
}

static void
watch_on_stream_error(void *arg, enum host_status st, const char *msg)
{
	struct watch_host *h = arg;

	h->streaming = false;
	if (st == HS_FAILED)
		fleet_host_close(h->fh);
}

static const struct stream_ops watch_stream_ops = {
	.sample = watch_on_sample,
	.result = watch_on_result,
	.error = watch_on_stream_error,
};

/* ---- fleet job ----------------------------------------------------------------- */

static void
watch_host_ready(struct fleet_host *fh)
{
	struct watch_host *h = fh->job;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Watch watch = MUSTER__WATCH__INIT;

	watch.interval_ms = (uint32_t)(h->w->opts->interval * 1000);
	/* node_exporter's families cost the host a few hundred
	 * microseconds a sample: only when something can serve them. */
	watch.families = h->w->httpd != NULL;
	env.body_case = MUSTER__ENVELOPE__BODY_WATCH;
	env.watch = &watch;
	if (conn_open(fh->conn, &env, &watch_stream_ops, h, 0, &h->stream) !=
	    0) {
		fleet_host_close(fh);
		return;
	}
	h->streaming = true;
}

static void
watch_host_done(struct fleet_host *fh, enum host_status st, const char *error)
{
	struct watch_host *h = fh->job;
	struct watch *w = h->w;
	double delay;

	h->streaming = false;
	h->stale = false;
	ev_timer_stop(w->cfg->loop, &h->stale_timer);
	/* Hosts closed because the watch ends are not news, nor is a
	 * stale host's connection ending: it was reported down already. */
	if ((h->up || h->since == 0) && !w->fleet.interrupted) {
		h->up = false;
		h->since = now_unix();
		host_event(h, AE_DOWN, error ? error : "connection closed");
	}
	free(h->error);
	/* Shown in the live table only: neutralised, since it may quote the
	 * agent (an Error's message). */
	h->error = output_escape(error ? error : "connection closed");
	w->dirty = true;
	if (w->fleet.interrupted)
		return;
	delay = backoff_next(&h->backoff);
	log_debug("%s: reconnecting in %.1f s", fh->display, delay);
	if (fleet_host_reconnect(fh, delay) != 0)
		log_error("%s: cannot reconnect: out of memory", fh->display);
}

static void
watch_interrupt(struct fleet *f)
{
	struct watch *w = f->job;
	size_t i;

	ev_timer_stop(w->cfg->loop, &w->redraw);
	ev_timer_stop(w->cfg->loop, &w->stop);
	tui_leave(w->tui); /* q, ^C, --duration: the terminal back now */
	/* Nothing to redraw or to go stale while the hosts close. */
	for (i = 0; i < f->nhosts; i++)
		ev_timer_stop(w->cfg->loop, &w->hosts[i].stale_timer);
}

/* An --alert-exec command still running is reaped before the watch
 * ends, so none is left a zombie. */
static bool
watch_busy(struct fleet *f)
{
	struct watch *w = f->job;
	size_t i;

	for (i = 0; i < sizeof(w->children) / sizeof(w->children[0]); i++)
		if (ev_is_active(&w->children[i]))
			return true;
	return false;
}

static const struct fleet_job_ops watch_job_ops = {
	.ready = watch_host_ready,
	.done = watch_host_done,
	.interrupt = watch_interrupt,
	.busy = watch_busy,
};

/* ---- presentation ------------------------------------------------------------ */

static enum top_sort
watch_sort(const struct watch *w)
{
	int sort = topview_sort_parse(w->opts->sort);

	/* The CLI accepts only the names topview knows. */
	return sort >= 0 ? (enum top_sort)sort : TOP_SORT_NAME;
}

/* The fleet as the live view and the plain table see it. */
static void
watch_top_model(void *arg, struct top_model *m)
{
	struct watch *w = arg;
	size_t i;

	for (i = 0; i < w->fleet.nhosts; i++) {
		const struct watch_host *h = &w->hosts[i];
		const Muster__Sample *s = h->last;
		struct top_host *t = &w->top[i];

		memset(t, 0, sizeof(*t));
		t->name = h->fh->display;
		t->since = h->since;
		t->error = h->error;
		t->state = h->up && s != NULL ? TOP_UP :
		    h->since == 0	      ? TOP_CONNECTING :
						TOP_DOWN;
		if (t->state != TOP_UP)
			continue;
		t->cpu_pct = s->cpu_pct;
		t->iowait_pct = s->cpu_iowait_pct;
		t->load1 = s->load1;
		t->load5 = s->load5;
		t->load15 = s->load15;
		t->mem_pct = pct(s->mem_used_bytes, s->mem_total_bytes);
		t->swap_pct = pct(s->swap_used_bytes, s->swap_total_bytes);
		t->disk_pct = disk_max_pct(s);
		net_sum(s, &t->rx_bytes_per_s, &t->tx_bytes_per_s);
		t->uptime_s = s->uptime_s;
		t->mem_used_bytes = s->mem_used_bytes;
		t->mem_total_bytes = s->mem_total_bytes;
		t->ncpu = s->ncpu;
		t->procs = s->procs;
	}
	memset(m, 0, sizeof(*m));
	m->hosts = w->top;
	m->n = w->fleet.nhosts;
	m->now = now_unix();
	m->interval = w->opts->interval;
}

static void
watch_top_quit(void *arg)
{
	struct watch *w = arg;

	fleet_stop(&w->fleet);
}

static const struct tui_ops watch_tui_ops = {
	.model = watch_top_model,
	.quit = watch_top_quit,
};

/* Not on a terminal: the whole table each time something changed, one
 * after the other, for a log or a pipe. */
static void
draw_table(struct watch *w)
{
	const struct top_host **order;
	struct top_model m;
	size_t i, up = 0;
	char when[32], rx[16], tx[16];
	time_t tt;

	watch_top_model(w, &m);
	if ((order = calloc(m.n ? m.n : 1, sizeof(*order))) == NULL)
		return;
	for (i = 0; i < m.n; i++) {
		order[i] = &m.hosts[i];
		up += m.hosts[i].state == TOP_UP;
	}
	topview_order(order, m.n, watch_sort(w));
	tt = (time_t)m.now;
	strftime(when, sizeof(when), "%H:%M:%S", localtime(&tt));
	printf("muster watch  %s  %zu/%zu hosts up  (sorted by %s)\n", when,
	    up, m.n, w->opts->sort);
	printf("%-22s %-6s %6s %6s %6s %6s %8s %8s %6s\n", "HOST", "STATE",
	    "CPU%", "LOAD1", "MEM%", "DISK%", "NET-RX", "NET-TX", "PROCS");
	for (i = 0; i < m.n; i++) {
		const struct top_host *h = order[i];

		if (h->state != TOP_UP) {
			tt = (time_t)h->since;
			strftime(when, sizeof(when), "%H:%M:%S",
			    localtime(&tt));
			printf("%-22.22s %-6s since %s%s%.60s\n", h->name,
			    h->state == TOP_CONNECTING ? "..." : "DOWN",
			    h->state == TOP_CONNECTING ? "start" : when,
			    h->error ? "  " : "", h->error ? h->error : "");
			continue;
		}
		units_bytes(h->rx_bytes_per_s, true, rx, sizeof(rx));
		units_bytes(h->tx_bytes_per_s, true, tx, sizeof(tx));
		printf(
		    "%-22.22s %-6s %6.1f %6.2f %6.1f %6.1f %7s/s %7s/s %6u\n",
		    h->name, "UP", h->cpu_pct, h->load1, h->mem_pct,
		    h->disk_pct, rx, tx, h->procs);
	}
	fflush(stdout);
	free(order);
}

static void
publish_metrics(struct watch *w)
{
	struct httpd_target *tg;
	struct metrics_host *mh;
	size_t i, n = w->fleet.nhosts, off;
	struct buf one;
	int r = 0;

	if (w->httpd == NULL || (mh = calloc(n, sizeof(*mh))) == NULL)
		return;
	if ((tg = calloc(n + 1, sizeof(*tg))) == NULL) {
		free(mh);
		return;
	}
	for (i = 0; i < w->fleet.nhosts; i++) {
		mh[i].host = w->hosts[i].fh->display;
		mh[i].up = w->hosts[i].up;
		mh[i].since = w->hosts[i].since;
		mh[i].last = w->hosts[i].up ? w->hosts[i].last : NULL;
		mh[i].last_rx = w->hosts[i].last_rx;
	}
	/* One host's text after the other; offsets, as the buffer moves. */
	buf_init(&one, METRICS_MAX);
	buf_reset(&w->target_text);
	for (i = 0; r == 0 && i < n; i++) {
		tg[i].name = mh[i].host;
		tg[i].down = !mh[i].up;
		if ((r = metrics_render_target(&mh[i], &one)) == 0) {
			tg[i].len = buf_len(&one);
			r = buf_append(&w->target_text, buf_ptr(&one),
			    buf_len(&one));
		}
	}
	buf_free(&one);
	for (i = 0, off = 0; r == 0 && i < n; off += tg[i++].len)
		tg[i].text = buf_ptr(&w->target_text) + off;
	buf_reset(&w->metrics);
	if (r == 0 && metrics_render(mh, n, &w->metrics) == 0 &&
	    selfmetrics_render(&w->metrics) == 0 &&
	    (w->am == NULL ||
		alertmgr_render_metrics(w->am, &w->metrics) == 0))
		httpd_publish_site(w->httpd, buf_ptr(&w->metrics),
		    buf_len(&w->metrics), tg, n, buf_ptr(&w->sd),
		    buf_len(&w->sd));
	free(tg);
	free(mh);
}

/*
 * Samples nobody can read are not worth taking: a failed write to stdout
 * (a full disk, a closed pipe with SIGPIPE ignored) ends the watch with
 * EXIT_INTERNAL. Checked once a redraw: stdio keeps the error.
 */
static void
check_stdout(struct watch *w)
{
	int e;

	if (w->stdout_failed)
		return;
	errno = 0;
	if (w->stdout_errno == 0 && fflush(stdout) == 0 && !ferror(stdout))
		return;
	e = w->stdout_errno != 0 ? w->stdout_errno : errno;
	w->stdout_failed = true;
	log_error("stdout: %s; stopping",
	    e != 0 ? strerror(e) : "write error");
	ev_timer_stop(w->cfg->loop, &w->stop);
	ev_timer_set(&w->stop, 0, 0);
	ev_timer_start(w->cfg->loop, &w->stop);
}

static void
watch_on_redraw(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct watch *w = t->data;

	publish_metrics(w);
	if (w->tui != NULL)
		tui_draw(w->tui); /* the clock moves: every time */
	else if (!w->opts->json && w->dirty)
		draw_table(w);
	w->dirty = false;
	check_stdout(w);
}

static void
watch_on_stop(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct watch *w = t->data;

	fleet_stop(&w->fleet);
}

/* What the operator asked for besides the hosts: --alert rules, the
 * --prometheus listener, --alertmanager. EXIT_USAGE, said on stderr, for
 * one that cannot be honoured. */
static int
watch_setup_options(struct watch *w)
{
	const struct watch_options *opts = w->opts;
	char err[512];
	size_t i;

	if (opts->nalerts > 0 &&
	    (w->rules = calloc(opts->nalerts, sizeof(*w->rules))) == NULL)
		return EXIT_INTERNAL;
	for (i = 0; i < opts->nalerts; i++) {
		if (alert_parse(opts->alerts[i], &w->rules[i], err,
			sizeof(err)) != 0) {
			fprintf(stderr, "muster: --alert: %s\n", err);
			w->nrules = i;
			return EXIT_USAGE;
		}
	}
	w->nrules = opts->nalerts;
	if (opts->prometheus != NULL &&
	    httpd_start(opts->prometheus, &w->httpd, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: --prometheus: %s\n", err);
		return EXIT_USAGE;
	}
	if (opts->nalertmanagers > 0 &&
	    alertmgr_new(w->cfg->loop, opts->alertmanagers,
		opts->nalertmanagers, NULL, &w->am, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return EXIT_USAGE;
	}
	return EXIT_ALL_OK;
}

/* The fleet, and one watch_host for each of its hosts with its stale
 * timer (not started) and the states of its alerts. */
static int
watch_setup_hosts(struct watch *w, const struct host_set *hosts)
{
	struct watch_host *wh;
	size_t i;
	int r;

	if ((r = fleet_init(&w->fleet, w->cfg, hosts, w->opts->fanout,
		 &watch_job_ops, w)) != 0 ||
	    (w->hosts = calloc(hosts->n, sizeof(*w->hosts))) == NULL) {
		fprintf(stderr, "muster: %s\n", merr_str(r ? r : MERR_NOMEM));
		return EXIT_INTERNAL;
	}
	if ((w->top = calloc(hosts->n ? hosts->n : 1, sizeof(*w->top))) ==
	    NULL)
		return EXIT_INTERNAL;
	for (i = 0; i < hosts->n; i++) {
		wh = &w->hosts[i];
		wh->w = w;
		backoff_init(&wh->backoff, BACKOFF_MIN, BACKOFF_MAX);
		wh->fh = &w->fleet.hosts[i];
		w->fleet.hosts[i].job = wh;
		ev_init(&wh->stale_timer, watch_on_stale);
		wh->stale_timer.repeat = fmax(
		    STALE_INTERVALS * w->opts->interval, STALE_MIN);
		wh->stale_timer.data = wh;
		if (w->nrules > 0 &&
		    (wh->alerts = calloc(w->nrules, sizeof(*wh->alerts))) ==
			NULL)
			return EXIT_INTERNAL;
	}
	return EXIT_ALL_OK;
}

/* The /sd page of --prometheus, made once: the hosts by the names the
 * metrics give them. */
static int
watch_setup_sd(struct watch *w, const struct host_set *hosts)
{
	const char **names;
	char err[512];
	size_t i;
	int r;

	if (w->httpd == NULL)
		return EXIT_ALL_OK;
	if ((names = calloc(hosts->n + 1, sizeof(*names))) == NULL)
		return EXIT_INTERNAL;
	for (i = 0; i < hosts->n; i++)
		names[i] = w->fleet.hosts[i].display;
	r = sd_render(w->opts->inventory, hosts, names, &w->sd, err,
	    sizeof(err));
	free(names);
	if (r != 0) {
		fprintf(stderr, "muster: --prometheus /sd: %s\n",
		    r == MERR_NOMEM ? merr_str(r) : err);
		return EXIT_INTERNAL;
	}
	return EXIT_ALL_OK;
}

/* Before the fleet runs: the watchers of alert commands, the redraw and
 * --duration timers, and the live view where curses can run. */
static void
watch_start(struct watch *w)
{
	const struct watch_options *opts = w->opts;
	struct ev_loop *loop = w->cfg->loop;
	char err[512];
	size_t i;

	for (i = 0; i < sizeof(w->children) / sizeof(w->children[0]); i++)
		ev_child_init(&w->children[i], watch_on_child, 0, 0);
	/* The view and the metrics page are refreshed at most once a
	 * second, whatever the number of hosts. */
	ev_timer_init(&w->redraw, watch_on_redraw, 0.2,
	    fmin(opts->interval, 1.0));
	w->redraw.data = w;
	ev_timer_start(loop, &w->redraw);
	ev_timer_init(&w->stop, watch_on_stop, opts->duration, 0);
	w->stop.data = w;
	if (opts->duration > 0)
		ev_timer_start(loop, &w->stop);
	/* Where curses cannot run, the plain table, saying why. */
	if (opts->live && !opts->json &&
	    tui_start(loop, watch_sort(w), &watch_tui_ops, w, &w->tui, err,
		sizeof(err)) != 0)
		fprintf(stderr, "muster: live view: %s; printing tables\n",
		    err);
}

/* Once the fleet has ended: every watcher stopped, and the exit status. */
static int
watch_finish(struct watch *w)
{
	struct ev_loop *loop = w->cfg->loop;
	size_t i, n = w->fleet.nhosts, n_never = 0;
	int status = EXIT_ALL_OK;

	tui_end(w->tui);
	w->tui = NULL;
	ev_timer_stop(loop, &w->redraw);
	ev_timer_stop(loop, &w->stop);
	for (i = 0; i < n; i++)
		ev_timer_stop(loop, &w->hosts[i].stale_timer);
	check_stdout(w);
	/* As run does: a host that never came up is not a clean watch. */
	for (i = 0; i < n; i++)
		n_never += !w->hosts[i].ever_up;
	if (n_never > 0) {
		fprintf(stderr, "muster: %zu of %zu hosts never came up\n",
		    n_never, n);
		status = EXIT_UNREACHABLE;
	}
	if (w->stdout_failed)
		status = EXIT_INTERNAL;
	for (i = 0; i < sizeof(w->children) / sizeof(w->children[0]); i++)
		if (w->children[i].pid != 0)
			ev_child_stop(loop, &w->children[i]);
	return status;
}

static void
watch_free(struct watch *w, size_t nhosts)
{
	size_t i;

	tui_end(w->tui);
	free(w->top);
	for (i = 0; w->hosts != NULL && i < nhosts; i++) {
		if (w->hosts[i].last != NULL)
			muster__sample__free_unpacked(w->hosts[i].last, NULL);
		free(w->hosts[i].alerts);
		free(w->hosts[i].error);
	}
	free(w->hosts);
	fleet_free(&w->fleet);
	alertmgr_free(w->am);
	if (w->httpd != NULL)
		httpd_stop(w->httpd);
	buf_free(&w->metrics);
	buf_free(&w->target_text);
	buf_free(&w->sd);
	for (i = 0; i < w->nrules; i++)
		alert_rule_free(&w->rules[i]);
	free(w->rules);
}

int
watch_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct watch_options *opts)
{
	struct watch w;
	int status;

	memset(&w, 0, sizeof(w));
	w.opts = opts;
	w.cfg = cfg;
	buf_init(&w.metrics, METRICS_MAX);
	buf_init(&w.target_text, METRICS_MAX);
	buf_init(&w.sd, METRICS_MAX);
	srandom((unsigned)(now_unix() * 1000));
	if ((status = watch_setup_options(&w)) != EXIT_ALL_OK ||
	    (status = watch_setup_hosts(&w, hosts)) != EXIT_ALL_OK ||
	    (status = watch_setup_sd(&w, hosts)) != EXIT_ALL_OK)
		goto out;
	watch_start(&w);
	fleet_run(&w.fleet);
	status = watch_finish(&w);
out:
	watch_free(&w, hosts->n);
	return status;
}
