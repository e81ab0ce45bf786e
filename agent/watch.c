/*
 * Watch: a sampler and a repeating timer. A Sample is built in static
 * storage and handed to the owner, which queues it as a frame before the
 * callback returns, so the agent's memory does not grow with the number
 * of watches beyond each sampler's counters.
 */
#include "watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fs.h"
#include "nodefam.h"
#include "sample.h"

struct watch {
	struct ev_loop *loop;
	const struct watch_cb *cb;
	void *arg;
	ev_timer timer;
	struct sampler *sampler; /* NULL if it could not be opened */
	struct nodefam *nodefam; /* NULL unless Watch.families */
	int paused;
	int done;
	uint32_t samples; /* sent */
	struct fs_err err;
};

/* One sample at a time is under construction: the agent is single-
 * threaded and the owner encodes it before returning. */
static struct sample smp;
static Muster__DiskUsage disk_msg[SAMPLE_DISKS_MAX];
static Muster__DiskUsage *disk_ptr[SAMPLE_DISKS_MAX];
static Muster__NetRate net_msg[SAMPLE_IFACES_MAX];
static Muster__NetRate *net_ptr[SAMPLE_IFACES_MAX];

uint32_t
watch_interval_ms(uint32_t interval_ms)
{
	if (interval_ms == 0)
		return WATCH_INTERVAL_DEFAULT_MS;
	if (interval_ms < WATCH_INTERVAL_MIN_MS)
		return WATCH_INTERVAL_MIN_MS;
	if (interval_ms > WATCH_INTERVAL_MAX_MS)
		return WATCH_INTERVAL_MAX_MS;
	return interval_ms;
}

static void
to_message(const struct sample *s, Muster__Sample *m)
{
	Muster__DiskUsage *d;
	Muster__NetRate *n;
	size_t i;

	m->ts_ms = s->ts_ms;
	m->cpu_pct = s->cpu_pct;
	m->cpu_user_pct = s->cpu_user_pct;
	m->cpu_system_pct = s->cpu_system_pct;
	m->cpu_iowait_pct = s->cpu_iowait_pct;
	m->cpu_steal_pct = s->cpu_steal_pct;
	m->ncpu = s->ncpu;
	m->load1 = s->load1;
	m->load5 = s->load5;
	m->load15 = s->load15;
	m->mem_total_bytes = s->mem_total_bytes;
	m->mem_available_bytes = s->mem_available_bytes;
	m->mem_used_bytes = s->mem_used_bytes;
	m->swap_total_bytes = s->swap_total_bytes;
	m->swap_used_bytes = s->swap_used_bytes;
	for (i = 0; i < s->ndisks; i++) {
		d = &disk_msg[i];
		muster__disk_usage__init(d);
		d->mount.data = (uint8_t *)s->disks[i].mount;
		d->mount.len = strlen(s->disks[i].mount);
		d->fstype.data = (uint8_t *)s->disks[i].fstype;
		d->fstype.len = strlen(s->disks[i].fstype);
		d->total_bytes = s->disks[i].total_bytes;
		d->used_bytes = s->disks[i].used_bytes;
		d->avail_bytes = s->disks[i].avail_bytes;
		d->inodes_total = s->disks[i].inodes_total;
		d->inodes_used = s->disks[i].inodes_used;
		disk_ptr[i] = d;
	}
	m->n_disks = s->ndisks;
	m->disks = disk_ptr;
	m->disk_read_bytes_per_s = s->disk_read_bytes_per_s;
	m->disk_write_bytes_per_s = s->disk_write_bytes_per_s;
	for (i = 0; i < s->nnet; i++) {
		n = &net_msg[i];
		muster__net_rate__init(n);
		n->iface.data = (uint8_t *)s->net[i].iface;
		n->iface.len = strlen(s->net[i].iface);
		n->rx_bytes_per_s = s->net[i].rx_bytes_per_s;
		n->tx_bytes_per_s = s->net[i].tx_bytes_per_s;
		n->rx_errors_per_s = s->net[i].rx_errors_per_s;
		n->tx_errors_per_s = s->net[i].tx_errors_per_s;
		n->rx_bytes_total = s->net[i].rx_bytes_total;
		n->tx_bytes_total = s->net[i].tx_bytes_total;
		net_ptr[i] = n;
	}
	m->n_net = s->nnet;
	m->net = net_ptr;
	m->procs = s->procs;
	m->uptime_s = s->uptime_s;
}

static void
watch_end(struct watch *w)
{
	Muster__Result res = MUSTER__RESULT__INIT;

	w->done = 1;
	ev_timer_stop(w->loop, &w->timer);
	res.ok = w->err.code == 0;
	res.entries = w->samples;
	if (!res.ok) {
		/* err.h codes are negative; the wire has their magnitude. */
		res.code = (uint32_t)-w->err.code;
		res.message.data = (uint8_t *)w->err.msg;
		res.message.len = w->err.len;
	}
	w->cb->done(w->arg, &res);
}

static void
watch_tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct watch *w = t->data;
	Muster__Sample m = MUSTER__SAMPLE__INIT;
	struct sample_time now;

	if (w->sampler == NULL) {
		watch_end(w);
		return;
	}
	/* The controller is not reading: a later Sample says more than
	 * this one would, and rates then span the gap. */
	if (w->paused)
		return;
	sample_time_now(&now);
	sampler_read(w->sampler, &now, &smp);
	to_message(&smp, &m);
	if (w->nodefam != NULL)
		nodefam_read(w->nodefam, &m);
	w->samples++;
	/* The owner may cancel us from within (the channel broke). */
	w->cb->sample(w->arg, &m);
}

int
watch_start(struct ev_loop *loop, const Muster__Watch *req,
    const struct watch_cb *cb, void *arg, struct watch **out)
{
	struct watch *w;
	const char *what;
	int r;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return MERR_NOMEM;
	w->loop = loop;
	w->cb = cb;
	w->arg = arg;
	if ((r = sampler_open(NULL, &w->sampler, &what)) != 0) {
		if (r == MERR_NOMEM) {
			free(w);
			return r;
		}
		fs_err_sys(&w->err, errno, "open %s%s",
		    *what == '/' ? "" : "/", what);
	}
	if (w->sampler != NULL && req->families &&
	    (r = nodefam_open(NULL, NULL, &w->nodefam)) != 0) {
		if (r == MERR_NOMEM) {
			sampler_close(w->sampler);
			free(w);
			return r;
		}
		fs_err_sys(&w->err, errno, "open /");
		sampler_close(w->sampler);
		w->sampler = NULL;
	}
	/* after 0: the first Sample on the next loop iteration. */
	ev_timer_init(&w->timer, watch_tick_cb, 0.,
	    watch_interval_ms(req->interval_ms) / 1000.);
	w->timer.data = w;
	ev_timer_start(loop, &w->timer);
	*out = w;
	return 0;
}

void
watch_pause(struct watch *w, int paused)
{
	w->paused = paused;
}

void
watch_cancel(struct watch *w, const char *why)
{
	if (w->done)
		return;
	if (why != NULL)
		fs_err_set(&w->err, MERR_EOF, "%s", why);
	watch_end(w);
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	ev_timer_stop(w->loop, &w->timer);
	sampler_close(w->sampler);
	nodefam_close(w->nodefam);
	free(w);
}
