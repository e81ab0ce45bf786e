/*
 * The daemon's attachments (a client's use of a held host) and the client
 * streams it relays onto the hosts' agent channels, ids rewritten both
 * ways (PROTOCOL.md §15.2), and the blobs a controller keeps on a relay.
 */
#include "daemon.h"
#include "daemon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"
#include "log.h"

/* ---- relayed streams ---------------------------------------------------------- */

static void
stream_unlink(struct dstream *ds)
{
	struct dstream **pp;

	if (ds->a == NULL)
		return;
	for (pp = &ds->a->streams; *pp != NULL; pp = &(*pp)->next)
		if (*pp == ds) {
			*pp = ds->next;
			ds->a->nstreams--;
			break;
		}
	ds->a = NULL;
}

static void
drelay_frame(void *arg, const Muster__Envelope *env)
{
	struct dstream *ds = arg;
	Muster__Envelope copy;
	bool last = env->body_case == MUSTER__ENVELOPE__BODY_EXIT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_RESULT ||
	    env->body_case == MUSTER__ENVELOPE__BODY_ERROR;

	/* A stream its client let go of was cancelled: its last frames
	 * are dropped here until the agent confirms the end. */
	if (ds->a != NULL) {
		copy = *env;
		copy.stream = ds->cid;
		dclient_put(ds->a->cl, ds->a->id, &copy, NULL);
	}
	if (last) {
		stream_unlink(ds);
		free(ds);
	}
}

/* The channel failed: the client hears it once, as HostDown. */
static void
drelay_error(void *arg, enum host_status st, const char *msg)
{
	struct dstream *ds = arg;

	stream_unlink(ds);
	free(ds);
}

static const struct stream_ops relay_ops = {
	.frame = drelay_frame,
	.error = drelay_error,
};

static struct dstream *
stream_by_cid(struct dattach *a, uint32_t cid)
{
	struct dstream *ds;

	for (ds = a->streams; ds != NULL; ds = ds->next)
		if (ds->cid == cid)
			return ds;
	return NULL;
}

/* The credit the client grants for the stream's output. A window of 0
 * would let the agent pick its default while we count 0: the first Data
 * would then break the channel for every client. */
static uint32_t
open_window(Muster__Envelope *env)
{
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC:
		if (env->exec->window == 0)
			env->exec->window = MUX_EXEC_WINDOW;
		return env->exec->window;
	case MUSTER__ENVELOPE__BODY_GET:
		if (env->get->window == 0)
			env->get->window = MUX_EXEC_WINDOW;
		return env->get->window;
	default: return 0;
	}
}

/* A stream message from the client for host a. */
int
drelay_stream_msg(struct dattach *a, Muster__Envelope *env)
{
	struct dclient *cl = a->cl;
	struct conn *c = a->h->conn;
	struct dstream *ds;
	uint32_t cid = env->stream;
	int r;

	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_EXEC:
	case MUSTER__ENVELOPE__BODY_PUT:
	case MUSTER__ENVELOPE__BODY_GET:
	case MUSTER__ENVELOPE__BODY_WATCH:
		if (cid == 0 || (cid & 1) == 0 ||
		    stream_by_cid(a, cid) != NULL)
			return MERR_PROTOCOL;
		if (a->h->state != DH_READY || c == NULL) {
			dclient_send_stream_error(cl, a->id, cid, MERR_STREAM,
			    "host not ready");
			return 0;
		}
		if (a->nstreams >= CLIENT_MAX_STREAMS) {
			dclient_send_stream_error(cl, a->id, cid, MERR_LIMIT,
			    "too many streams of this client on the host");
			return 0;
		}
		if ((ds = calloc(1, sizeof(*ds))) == NULL)
			return MERR_NOMEM;
		ds->a = a;
		ds->cid = cid;
		if ((r = conn_open(c, env, &relay_ops, ds, open_window(env),
			 &ds->did)) != 0) {
			free(ds);
			dclient_send_stream_error(cl, a->id, cid, r,
			    "the agent channel has no room for the stream");
			return 0;
		}
		ds->next = a->streams;
		a->streams = ds;
		a->nstreams++;
		return 0;
	case MUSTER__ENVELOPE__BODY_DATA:
	case MUSTER__ENVELOPE__BODY_EOF:
	case MUSTER__ENVELOPE__BODY_CREDIT:
	case MUSTER__ENVELOPE__BODY_CANCEL: break;
	case MUSTER__ENVELOPE__BODY_PING: return 0;
	default: return MERR_PROTOCOL;
	}
	/* A stream that ended crosses the client's last frames: drop. */
	if ((ds = stream_by_cid(a, cid)) == NULL || c == NULL)
		return 0;
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		/* Past the agent's credit would break the channel for every
		 * client: that is the sender's fault, and its end. */
		return conn_stream_send(c, ds->did, (int)env->data->fd,
		    env->data->data.data, env->data->data.len);
	case MUSTER__ENVELOPE__BODY_EOF:
		conn_stream_eof(c, ds->did, (int)env->eof->fd);
		return 0;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		return conn_stream_grant(c, ds->did, env->credit->bytes) ==
			MERR_CREDIT ?
		    MERR_CREDIT :
		    0;
	default: conn_stream_cancel(c, ds->did); return 0;
	}
}

/* ---- attachments ------------------------------------------------------------- */

void
drelay_detach(struct dattach *a)
{
	struct dstream *ds;

	/* Streams still open are cancelled; their last frames are dropped
	 * as they come. */
	while ((ds = a->streams) != NULL) {
		a->streams = ds->next;
		ds->a = NULL;
		if (a->h->conn != NULL)
			conn_stream_cancel(a->h->conn, ds->did);
	}
	if (a->prev_on_host != NULL)
		a->prev_on_host->next_on_host = a->next_on_host;
	else
		a->h->attached = a->next_on_host;
	if (a->next_on_host != NULL)
		a->next_on_host->prev_on_host = a->prev_on_host;
	a->cl->att[a->id - 1] = NULL;
	a->cl->nattached--;
	free(a);
}

void
drelay_attach(struct dclient *cl, const Muster__Daemon__Attach *at)
{
	struct host_spec spec;
	struct dattach *a;
	struct dhost *h;
	char msg[96];
	size_t nnatt;
	int r;

	if (at->host == 0 || at->host > CLIENT_MAX_HOST_ID ||
	    !dhost_spec_ok(at->spec)) {
		dclient_drop(cl, "bad attach request");
		return;
	}
	if (at->host > cl->natt) {
		/* Doubling from 16: a power of two, as CLIENT_MAX_HOST_ID
		 * is, so the index never grows past it. */
		nnatt = cl->natt;
		if (ARRAY_RESERVE(cl->att, nnatt, at->host, 16) != 0) {
			dclient_drop(cl, "out of memory");
			return;
		}
		memset(cl->att + cl->natt, 0,
		    (nnatt - cl->natt) * sizeof(*cl->att));
		cl->natt = nnatt;
	}
	if (cl->att[at->host - 1] != NULL) {
		dclient_drop(cl, "host id attached twice");
		return;
	}
	/* One attachment per host is all a client needs; more than the
	 * daemon can hold is a client gone wrong. */
	if (cl->nattached >= DAEMON_MAX_HOSTS) {
		dclient_drop(cl, "too many attachments");
		return;
	}
	dhost_spec_from(&spec, at->spec);
	if ((r = dhost_get(cl->d, &spec, at->accept_new, &h)) == MERR_LIMIT) {
		snprintf(msg, sizeof(msg),
		    "the daemon already holds %d hosts, "
		    "its maximum",
		    DAEMON_MAX_HOSTS);
		dclient_send_host_down(cl, at->host, HS_UNREACHABLE, msg);
		return;
	}
	if (r == MERR_NOTFOUND) {
		dclient_send_host_down(cl, at->host, HS_UNREACHABLE,
		    spec.route_kind == HOST_ROUTE_RELAY ?
			"via relay: the daemon holds this host through no "
			"such relay (the hosts behind a relay are its "
			"inventory's: muster daemon -i INVENTORY, or "
			"--no-daemon)" :
			"the daemon holds this host behind a relay: its "
			"inventory names one, this one does not");
		return;
	}
	if (r != 0 || (a = calloc(1, sizeof(*a))) == NULL) {
		dclient_drop(cl, "out of memory");
		return;
	}
	a->cl = cl;
	a->id = at->host;
	a->h = h;
	a->next_on_host = h->attached;
	if (h->attached != NULL)
		h->attached->prev_on_host = a;
	h->attached = a;
	cl->att[at->host - 1] = a;
	cl->nattached++;
	/* Named again: a host waiting out a back-off is wanted now. */
	if (h->state == DH_BACKOFF) {
		ev_timer_stop(cl->d->loop, &h->retry);
		backoff_reset(&h->backoff);
		dhost_connect(h);
	} else if (h->state == DH_READY)
		dclient_send_hello(a);
	else if (h->state == DH_CONNECTING && h->authed)
		dclient_send_host_authed(a);
}

/* ---- blobs: bytes once per relay ------------------------------------------------ */

struct dblob_held {
	uint32_t id;
	size_t len;
	uint8_t *data;
};

static struct dblob_held *
blob_by_id(struct dclient *cl, uint32_t id, size_t *at)
{
	size_t i;

	/* Few live at once (the controller's DBLOB_MAX / 4 KiB at most), and
	 * the newest are the ones named. */
	for (i = cl->nblobs; i-- > 0;)
		if (cl->blobs[i].id == id) {
			if (at != NULL)
				*at = i;
			return &cl->blobs[i];
		}
	return NULL;
}

const char *
drelay_blob(struct dclient *cl, const Muster__Daemon__Blob *b)
{
	struct dblob_held *h;

	if (b->id == 0 || b->data.len == 0 || blob_by_id(cl, b->id, NULL))
		return "bad blob";
	if (cl->blob_bytes + b->data.len > DAEMON_BLOB_MAX)
		return "blobs past the relay's limit (64 MiB)";
	if (ARRAY_RESERVE(cl->blobs, cl->blobcap, cl->nblobs + 1, 64) != 0)
		return "out of memory";
	h = &cl->blobs[cl->nblobs];
	if ((h->data = malloc(b->data.len)) == NULL)
		return "out of memory";
	memcpy(h->data, b->data.data, b->data.len);
	h->id = b->id;
	h->len = b->data.len;
	cl->nblobs++;
	cl->blob_bytes += b->data.len;
	return NULL;
}

/* One Data frame of a host's stream, bytes [off, off+len) of blob h. */
static const char *
blob_send(struct dclient *cl, uint32_t host, uint32_t stream,
    const struct dblob_held *h, uint32_t off, uint32_t len)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data data = MUSTER__DATA__INIT;
	struct dattach *a;
	int r;

	if (host == 0 || host > cl->natt)
		return "blob for a host never attached";
	if (h == NULL || off > h->len || len > h->len - off)
		return "blob send out of its blob";
	/* A host that went down under the client: as for its frames. */
	if ((a = cl->att[host - 1]) == NULL)
		return NULL;
	data.fd = 0;
	data.data.data = h->data + off;
	data.data.len = len;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &data;
	if ((r = drelay_stream_msg(a, &env)) != 0)
		return merr_str(r);
	return NULL;
}

const char *
drelay_blob_send(struct dclient *cl, const Muster__Daemon__BlobSend *bs)
{
	return blob_send(cl, bs->host, bs->stream,
	    blob_by_id(cl, bs->blob, NULL), bs->offset, bs->len);
}

/* One BlobSends entry: the whole blob, which the host's next entry
 * follows on. */
static const char *
blob_entry(struct dclient *cl, uint32_t host, uint32_t stream,
    const struct dblob_held *h)
{
	const char *why;

	if (h == NULL)
		return "blob send out of its blob";
	if ((why = blob_send(cl, host, stream, h, 0, (uint32_t)h->len)) !=
	    NULL)
		return why;
	/* blob_send checked the id; a host gone down keeps nothing. */
	if (cl->att[host - 1] != NULL) {
		cl->att[host - 1]->last_stream = stream;
		cl->att[host - 1]->last_blob = h->id;
	}
	return NULL;
}

/* BlobSends packed: each value the one before's plus its delta, modulo
 * 2^32, each a whole blob; an entry applied 1 + repeat times; then the
 * next entries, each the blob after the host's last one. */
const char *
drelay_blob_sends(struct dclient *cl, const Muster__Daemon__BlobSends *bss)
{
	const struct dblob_held *h = NULL;
	uint32_t host = 0, stream = 0, blob = 0;
	uint64_t total = bss->n_next_host_delta;
	const struct dattach *a;
	const char *why;
	size_t i, j, times;

	if (bss->n_stream_delta != bss->n_host_delta ||
	    bss->n_blob_delta != bss->n_host_delta ||
	    (bss->n_repeat != 0 && bss->n_repeat != bss->n_host_delta))
		return "blob sends of uneven lists";
	/* Bounded before any is handled: a message stands for at most
	 * DAEMON_BLOB_SENDS_MAX frames, whatever its repeats say. */
	for (i = 0; i < bss->n_host_delta; i++)
		total += 1 + (bss->n_repeat != 0 ? bss->repeat[i] : 0);
	if (total > DAEMON_BLOB_SENDS_MAX)
		return "blob sends of too many frames";
	for (i = 0; i < bss->n_host_delta; i++) {
		times = 1 + (bss->n_repeat != 0 ? bss->repeat[i] : 0);
		for (j = 0; j < times; j++) {
			host += (uint32_t)bss->host_delta[i];
			stream += (uint32_t)bss->stream_delta[i];
			blob += (uint32_t)bss->blob_delta[i];
			/* A run names a few blobs, each for many hosts in a
			 * row. */
			if (h == NULL || h->id != blob)
				h = blob_by_id(cl, blob, NULL);
			if ((why = blob_entry(cl, host, stream, h)) != NULL)
				return why;
		}
	}
	for (i = 0, host = 0; i < bss->n_next_host_delta; i++) {
		host += bss->next_host_delta[i];
		if (host == 0 || host > cl->natt)
			return "blob for a host never attached";
		/* A host gone down: as for its frames. */
		if ((a = cl->att[host - 1]) == NULL)
			continue;
		if (a->last_blob == 0)
			return "next blob send with no blob before";
		if ((why = blob_entry(cl, host, a->last_stream,
			 blob_by_id(cl, link_blob_after(a->last_blob),
			     NULL))) != NULL)
			return why;
	}
	return NULL;
}

const char *
drelay_blob_drop(struct dclient *cl, const Muster__Daemon__BlobDrop *bd)
{
	size_t at;

	if (blob_by_id(cl, bd->id, &at) == NULL)
		return "drop of an unknown blob";
	cl->blob_bytes -= cl->blobs[at].len;
	free(cl->blobs[at].data);
	memmove(cl->blobs + at, cl->blobs + at + 1,
	    (cl->nblobs - at - 1) * sizeof(*cl->blobs));
	cl->nblobs--;
	return NULL;
}

void
drelay_blobs_free(struct dclient *cl)
{
	size_t i;

	for (i = 0; i < cl->nblobs; i++)
		free(cl->blobs[i].data);
	free(cl->blobs);
	cl->blobs = NULL;
	cl->nblobs = cl->blobcap = 0;
	cl->blob_bytes = 0;
}
