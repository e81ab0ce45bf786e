#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "err.h"
#include "fleet.h"
#include "frame.h"
#include "mux.h"
#include "output.h"
#include "source.h"
#include "status.h"
#include "units.h"

/*
 * Entries in flight per host: --streams' worth of big files (they share
 * one channel's bandwidth anyway), but up to PUSH_STREAMS_MAX small ones,
 * where the round trips and the agent's commits dominate: the agent syncs
 * the files that complete together once (fileput.c), so the more are in
 * flight, the fewer syncs a tree costs.
 */
#define PUSH_STREAMS_MAX 64
#define PUSH_SMALL_ENTRY (64u * 1024)
#define PROGRESS_INTERVAL 0.25

struct push_host;

/* One entry of the source on its way to one host. */
struct push_stream {
	struct push_host *host;
	size_t entry;
	uint32_t id;
	uint64_t off;
	bool active, acquired;
};

struct push_host {
	struct push *push;
	struct fleet_host *fh;
	struct push_stream streams[PUSH_STREAMS_MAX];
	size_t next_entry, active, done_entries;
	size_t changed, unchanged, failed;
	uint64_t bytes_sent;
	char *error;	/* first failure */
	bool root_done; /* tree: the top directory exists */
	bool started;	/* reached: its agent took work */
	bool reported;
};

struct push {
	const struct push_options *opts;
	struct source src;
	struct push_host *hosts;
	struct fleet fleet;
	ev_timer progress;
	ev_tstamp t0;
	size_t hosts_done;
	uint64_t bytes_sent;
	size_t n_changed, n_unchanged, n_failed, n_unreachable, n_skipped;
	int exit_status;
};

static void host_pump(struct push_host *h);

/* ---- paths -------------------------------------------------------------- */

static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL && s[1] != '\0' ? s + 1 : path;
}

/* Where an entry lands: a tree's entries are relative to the destination
 * root (the agent confines them there); a single file to a destination
 * ending in '/' keeps its name. */
static void
entry_target(const struct push *p, const struct source_entry *e, char *path,
    size_t pathlen, const char **root)
{
	const char *dest = p->opts->dest;
	size_t dl = strlen(dest);

	*root = "";
	if (p->src.tree && *e->rel != '\0') {
		*root = dest;
		snprintf(path, pathlen, "%s", e->rel);
	} else if (!p->src.tree && dl > 0 && dest[dl - 1] == '/')
		snprintf(path, pathlen, "%s%s", dest, base_name(e->abs));
	else
		snprintf(path, pathlen, "%s", dest);
}

/* ---- results ---------------------------------------------------------------- */

static void
note_exit(struct push *p, int status)
{
	if (status > p->exit_status)
		p->exit_status = status;
}

static void
host_failed(struct push_host *h, const char *why)
{
	h->failed++;
	if (h->error == NULL)
		h->error = strdup(why);
}

static const char *
host_state(const struct push_host *h, enum host_status st)
{
	/* sudo's refusal is not the network's: say which it was. */
	if (st == HS_BECOME)
		return "become";
	if (st == HS_SKIPPED)
		return "skipped";
	if (st != HS_OK)
		return "unreachable";
	if (h->failed > 0)
		return "failed";
	return h->changed > 0 ? "changed" : "unchanged";
}

static void
print_json(struct push_host *h, const char *state, const char *error)
{
	struct push *p = h->push;
	json_t *o = json_object();

	json_object_set_new(o, "host", json_string(h->fh->display));
	json_object_set_new(o, "status", json_string(state));
	json_object_set_new(o, "bytes_sent",
	    json_integer((json_int_t)h->bytes_sent));
	json_object_set_new(o, "sha256",
	    p->src.tree ? json_null() : json_string(p->src.v[0].sha256_hex));
	json_object_set_new(o, "files", json_integer((json_int_t)p->src.n));
	json_object_set_new(o, "changed",
	    json_integer((json_int_t)h->changed));
	json_object_set_new(o, "duration_ms",
	    json_integer((json_int_t)fleet_host_elapsed_ms(h->fh)));
	json_object_set_new(o, "error",
	    error ? json_string(error) : json_null());
	output_json_line(stdout, o);
}

static void
clear_progress(struct push *p)
{
	if (p->opts->progress)
		fputs("\r\033[K", stderr);
}

/* Human mode: the error may quote the agent (a Result's message), so it
 * is neutralised like remote output. */
static void
print_error(const char *host, const char *state, const char *error)
{
	char *shown = output_escape(error);

	fprintf(stderr, "%s: %s: %s\n", host, state, shown ? shown : "?");
	free(shown);
}

/* Once per host, when its last entry is done or its conn is gone. */
static void
host_report(struct push_host *h, enum host_status st, const char *conn_error)
{
	struct push *p = h->push;
	const char *state = host_state(h, st);
	const char *error = st != HS_OK ? conn_error : h->error;

	if (h->reported)
		return;
	h->reported = true;
	p->hosts_done++;
	clear_progress(p);
	if (p->opts->json)
		print_json(h, state, error);
	else if (error != NULL)
		print_error(h->fh->display, state, error);
	else
		printf(
		    "%s: %s (%zu of %zu entries changed, %llu bytes sent)\n",
		    h->fh->display, state, h->changed, p->src.n,
		    (unsigned long long)h->bytes_sent);
	fflush(stdout);
	fleet_host_result(h->fh,
	    st != HS_OK	      ? st :
		h->failed > 0 ? HS_FAILED :
				HS_OK);
	if (st == HS_SKIPPED)
		p->n_skipped++;
	else if (st != HS_OK) {
		p->n_unreachable++;
		note_exit(p, EXIT_UNREACHABLE);
	} else if (h->failed > 0) {
		p->n_failed++;
		note_exit(p, EXIT_CMD_FAILED);
	} else if (h->changed > 0)
		p->n_changed++;
	else
		p->n_unchanged++;
}

/* ---- one entry to one host ------------------------------------------------- */

static void
stream_end(struct push_stream *s, bool ok)
{
	struct push_host *h = s->host;
	struct push *p = h->push;

	if (s->acquired)
		source_release(&p->src, s->entry);
	s->active = s->acquired = false;
	h->active--;
	h->done_entries++;
	if (p->src.tree && s->entry == 0) {
		/* Nothing else can land without the top directory. */
		if (!ok)
			h->next_entry = h->done_entries = p->src.n;
		h->root_done = true;
	}
	if (h->done_entries >= p->src.n && h->active == 0) {
		host_report(h, HS_OK, NULL);
		fleet_host_close(h->fh);
		return;
	}
	host_pump(h);
}

static void
push_on_put_ready(void *arg, bool unchanged)
{
	struct push_stream *s = arg;
	struct push_host *h = s->host;
	struct source_entry *e = &h->push->src.v[s->entry];

	if (unchanged || e->kind != SOURCE_FILE)
		return; /* the Result follows */
	if (e->size == 0) {
		conn_stream_eof(h->fh->conn, s->id, 0);
		return;
	}
	if (source_acquire(&h->push->src, s->entry) != 0) {
		conn_stream_cancel(h->fh->conn, s->id);
		host_failed(h, "cannot read the source file");
		return;
	}
	s->acquired = true;
	conn_stream_want_write(h->fh->conn, s->id, true);
}

/* The channel has room: send the next chunks, as many as the credit and
 * the channel's queue allow. */
static void
push_on_writable(void *arg)
{
	struct push_stream *s = arg;
	struct push_host *h = s->host;
	struct push *p = h->push;
	struct source_entry *e = &p->src.v[s->entry];
	const uint8_t *data;
	size_t room, len, skip, n;
	struct conn *c = h->fh->conn;

	while (s->off < e->size && (room = conn_stream_room(c, s->id)) > 0) {
		if (source_chunk(&p->src, s->entry,
			s->off - s->off % SOURCE_CHUNK, &data, &len) != 0) {
			conn_stream_want_write(c, s->id, false);
			conn_stream_cancel(c, s->id);
			host_failed(h,
			    "source file changed or unreadable "
			    "during the push");
			return;
		}
		skip = s->off % SOURCE_CHUNK;
		n = len - skip;
		if (n > FRAME_DATA_CHUNK)
			n = FRAME_DATA_CHUNK;
		/* Whole pieces only, cut where every host cuts them: behind
		 * a relay, a piece several hosts carry crosses its link once
		 * (dblob.h). The room comes back to a whole piece as the
		 * queue drains and the agent returns credit (its window is
		 * many pieces), and that wakes us again. */
		if (n > room)
			break;
		if (conn_stream_send(c, s->id, 0, data + skip, n) != 0)
			return;
		s->off += n;
		h->bytes_sent += n;
		p->bytes_sent += n;
	}
	if (s->off == e->size) {
		conn_stream_want_write(c, s->id, false);
		conn_stream_eof(c, s->id, 0);
	}
}

static void
push_on_result(void *arg, const Muster__Result *res)
{
	struct push_stream *s = arg;
	struct push_host *h = s->host;
	char msg[512];

	if (res->ok) {
		if (res->changed)
			h->changed++;
		else
			h->unchanged++;
	} else {
		snprintf(msg, sizeof(msg), "%s%s%.*s",
		    *h->push->src.v[s->entry].rel ?
			h->push->src.v[s->entry].rel :
			"",
		    *h->push->src.v[s->entry].rel ? ": " : "",
		    (int)(res->message.len > 400 ? 400 : res->message.len),
		    (const char *)res->message.data);
		host_failed(h, msg);
	}
	stream_end(s, res->ok);
}

static void
push_on_stream_error(void *arg, enum host_status st, const char *msg)
{
	struct push_stream *s = arg;
	struct push_host *h = s->host;

	/* A stream the agent refused is a failed entry; a lost conn is
	 * reported for the whole host by push_host_done. */
	if (st == HS_FAILED) {
		host_failed(h, msg);
		stream_end(s, false);
		return;
	}
	if (s->acquired)
		source_release(&h->push->src, s->entry);
	s->active = s->acquired = false;
	h->active--;
}

static const struct stream_ops push_stream_ops = {
	.put_ready = push_on_put_ready,
	.result = push_on_result,
	.error = push_on_stream_error,
	.writable = push_on_writable,
};

static int
open_entry(struct push_host *h, struct push_stream *s, size_t entry)
{
	struct push *p = h->push;
	const struct source_entry *e = &p->src.v[entry];
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Put put = MUSTER__PUT__INIT;
	char path[8192];
	const char *root;

	entry_target(p, e, path, sizeof(path), &root);
	put.path.data = (uint8_t *)path;
	put.path.len = strlen(path);
	put.root.data = (uint8_t *)root;
	put.root.len = strlen(root);
	put.kind = e->kind;
	put.mode = e->mode;
	if (p->opts->mode >= 0 && e->kind == SOURCE_FILE)
		put.mode = (uint32_t)p->opts->mode;
	put.size = e->size;
	if (e->kind == SOURCE_FILE) {
		put.sha256.data = (uint8_t *)e->sha256;
		put.sha256.len = sizeof(e->sha256);
	}
	if (e->kind == SOURCE_LINK) {
		put.link_target.data = (uint8_t *)e->link_target;
		put.link_target.len = strlen(e->link_target);
	}
	/* Inside a tree, parents are created as needed (each directory's
	 * own entry then sets its mode); the top follows --mkdir. */
	put.mkdir = *root != '\0' ? true : p->opts->mkdir;
	put.uid = p->opts->uid;
	put.gid = p->opts->gid;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT;
	env.put = &put;
	memset(s, 0, sizeof(*s));
	s->host = h;
	s->entry = entry;
	s->active = true;
	return conn_open(h->fh->conn, &env, &push_stream_ops, s, 0, &s->id);
}

/* Start entries while this host has free stream slots. A tree's top
 * directory goes alone first: everything else lands inside it. */
static void
host_pump(struct push_host *h)
{
	struct push *p = h->push;
	size_t i, limit = p->opts->streams;
	char msg[256];
	int r;

	if (h->fh->conn == NULL)
		return;
	if (limit == 0 || limit > PUSH_STREAMS_MAX)
		limit = PUSH_STREAMS_MAX;
	while (h->next_entry < p->src.n &&
	    (h->active < limit ||
		(h->active < PUSH_STREAMS_MAX &&
		    p->src.v[h->next_entry].size < PUSH_SMALL_ENTRY))) {
		if (p->src.tree && h->next_entry > 0 && !h->root_done)
			return;
		for (i = 0; i < PUSH_STREAMS_MAX && h->streams[i].active; i++)
			;
		if ((r = open_entry(h, &h->streams[i], h->next_entry)) != 0) {
			h->streams[i].active = false;
			snprintf(msg, sizeof(msg), "cannot open stream: %s",
			    merr_str(r));
			host_failed(h, msg);
			h->next_entry = h->done_entries = p->src.n;
			if (h->active == 0) {
				host_report(h, HS_OK, NULL);
				fleet_host_close(h->fh);
			}
			return;
		}
		h->active++;
		h->next_entry++;
	}
}

/* ---- fleet job ------------------------------------------------------------------ */

static void
push_host_ready(struct fleet_host *fh)
{
	struct push_host *h = fh->job;

	h->started = true;
	host_pump(h);
}

/*
 * A host lost, stopped or interrupted after its agent took work may hold
 * part of it: it failed, with what happened, as run says of a command
 * that started. Only a host never reached is unreachable.
 */
static void
push_host_done(struct fleet_host *fh, enum host_status st, const char *error)
{
	struct push_host *h = fh->job;

	if (h->reported)
		return;
	if (h->started && st != HS_BECOME &&
	    (st != HS_OK || h->done_entries < h->push->src.n)) {
		host_failed(h,
		    fh->fleet->interrupted ? "interrupted" :
			error != NULL	   ? error :
					     "connection closed");
		st = HS_OK;
	}
	host_report(h, st, error ? error : "connection closed");
}

static const struct fleet_job_ops push_job_ops = {
	.ready = push_host_ready,
	.done = push_host_done,
};

static void
push_on_progress(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct push *p = w->data;
	double t = ev_now(loop) - p->t0, rate = t > 0 ? p->bytes_sent / t : 0;
	double total = (double)p->src.total_bytes * (double)p->fleet.nhosts;
	char sent[32], r[32], eta[32] = "--";

	units_bytes((double)p->bytes_sent, false, sent, sizeof(sent));
	units_bytes(rate, false, r, sizeof(r));
	if (rate > 0 && total > (double)p->bytes_sent)
		snprintf(eta, sizeof(eta), "%.0fs",
		    (total - (double)p->bytes_sent) / rate);
	fprintf(stderr,
	    "\r\033[Kmuster: %zu/%zu hosts done, %s sent, %s/s, "
	    "ETA %s",
	    p->hosts_done, p->fleet.nhosts, sent, r, eta);
	fflush(stderr);
}

int
push_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct push_options *opts)
{
	struct push p;
	char err[1024], sent[32], skipped[32] = "";
	size_t i;
	double wall;
	int r;

	memset(&p, 0, sizeof(p));
	p.opts = opts;
	if (source_scan(opts->src, opts->recursive, &p.src, err,
		sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		return EXIT_USAGE;
	}
	if ((r = fleet_init(&p.fleet, cfg, hosts, opts->fanout, &push_job_ops,
		 &p)) != 0 ||
	    (p.hosts = calloc(hosts->n, sizeof(*p.hosts))) == NULL) {
		fprintf(stderr, "muster: %s\n", merr_str(r ? r : MERR_NOMEM));
		fleet_free(&p.fleet);
		source_free(&p.src);
		return EXIT_INTERNAL;
	}
	for (i = 0; i < hosts->n; i++) {
		p.hosts[i].push = &p;
		p.hosts[i].fh = &p.fleet.hosts[i];
		p.fleet.hosts[i].job = &p.hosts[i];
	}
	p.t0 = ev_time();
	if (opts->progress) {
		ev_timer_init(&p.progress, push_on_progress, PROGRESS_INTERVAL,
		    PROGRESS_INTERVAL);
		p.progress.data = &p;
		ev_timer_start(cfg->loop, &p.progress);
	}
	fleet_run(&p.fleet);
	if (opts->progress) {
		ev_timer_stop(cfg->loop, &p.progress);
		clear_progress(&p);
	}
	wall = ev_time() - p.t0;
	units_bytes(wall > 0 ? p.bytes_sent / wall : 0, false, sent,
	    sizeof(sent));
	if (p.n_skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %zu skipped",
		    p.n_skipped);
	fprintf(stderr,
	    "muster: %zu host%s: %zu changed, %zu unchanged, "
	    "%zu failed, %zu unreachable%s (%.2f s, %s/s)\n",
	    p.fleet.nhosts, p.fleet.nhosts == 1 ? "" : "s", p.n_changed,
	    p.n_unchanged, p.n_failed, p.n_unreachable, skipped, wall, sent);
	if (p.fleet.interrupted && p.exit_status == EXIT_ALL_OK)
		p.exit_status = EXIT_CMD_FAILED;
	if (p.fleet.roll != NULL && p.fleet.roll->cut_short &&
	    !p.fleet.interrupted && p.exit_status != EXIT_INTERNAL)
		p.exit_status = EXIT_CUT_SHORT;
	for (i = 0; i < hosts->n; i++)
		free(p.hosts[i].error);
	free(p.hosts);
	fleet_free(&p.fleet);
	source_free(&p.src);
	return p.exit_status;
}
