/*
 * The controller facing a hostile agent: frame_decode and mux_input with a
 * stream table holding one stream of each kind (exec, put, get, watch),
 * whose owners do what the real ones do with what arrives: exec output
 * goes through output.c (line splitting, escaping, capture, JSON), Samples
 * through the alert rules, Entries are read in full, and a finished put
 * stream opens the next one as push does.
 *
 * Input: byte 0 holds flags: bit 0 skips the valid Hello the harness puts
 * first (so Hello checking itself is fuzzed), bits 1-2 pick the output
 * mode, bit 3 raw output. Byte 1 says where the rest is split in two
 * reads, to exercise frames cut across reads.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "build_id.h"
#include "err.h"
#include "frame.h"
#include "mux.h"
#include "output.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *devnull;
static struct alert_rule rules[3];
static size_t nrules;
static volatile uint8_t sink;

struct owner {
	struct mux *m;
	struct output *out;
	struct output_host host;
	uint32_t id;
	bool open;
	int reopen; /* put streams still to open after a Result */
};

static void
touch(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		sink ^= p[i];
}

static void
on_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct owner *o = arg;

	(void)output_host_data(o->out, &o->host, fd, p, n);
	mux_consumed(o->m, o->id, n);
}

static void
on_eof(void *arg, int fd)
{
	(void)arg;
	(void)fd;
}

static void
finish(struct owner *o, enum host_status st, int code, const char *error)
{
	struct host_result res = { "fuzzhost", st, code, 0, 1, error, true,
		NULL, NULL, 0 };

	if (!o->open)
		abort(); /* a second last call for one stream */
	o->open = false;
	(void)output_host_done(o->out, &o->host, &res);
	output_host_free(&o->host);
}

static void
on_exit_msg(void *arg, const Muster__Exit *ex)
{
	finish(arg, ex->code == 0 ? HS_OK : HS_FAILED, ex->code, NULL);
}

static void
on_error(void *arg, enum host_status st, const char *msg)
{
	/* Agent text ends up in error lines: it must be a C string. */
	finish(arg, st, -1, msg);
}

static void
on_put_ready(void *arg, bool unchanged)
{
	(void)arg;
	(void)unchanged;
}

static void
on_entry(void *arg, const Muster__Entry *e)
{
	touch(e->path.data, e->path.len);
	touch(e->link_target.data, e->link_target.len);
}

static void
on_entry_end(void *arg, const Muster__EntryEnd *e)
{
	touch(e->sha256.data, e->sha256.len);
}

static const struct stream_ops put_ops;

static void
on_result(void *arg, const Muster__Result *res)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Put put = MUSTER__PUT__INIT;
	struct owner *o = arg;

	touch(res->message.data, res->message.len);
	finish(o, res->ok ? HS_OK : HS_FAILED, 0, NULL);
	/* push opens the next entry from within the callback. */
	if (o->reopen > 0) {
		o->reopen--;
		env.body_case = MUSTER__ENVELOPE__BODY_PUT;
		env.put = &put;
		if (mux_open(o->m, &env, &put_ops, o, 0, &o->id) == 0) {
			o->open = true;
			(void)output_host_init(o->out, &o->host, "fuzzhost");
		}
	}
}

static void
on_sample(void *arg, const Muster__Sample *s)
{
	double value;
	size_t i;

	for (i = 0; i < nrules; i++)
		(void)alert_eval(&rules[i], s, &value);
}

static const struct stream_ops exec_ops = {
	.data = on_data,
	.eof = on_eof,
	.exit = on_exit_msg,
	.error = on_error,
};
static const struct stream_ops put_ops = {
	.error = on_error,
	.put_ready = on_put_ready,
	.result = on_result,
};
static const struct stream_ops get_ops = {
	.data = on_data,
	.error = on_error,
	.entry = on_entry,
	.entry_end = on_entry_end,
	.result = on_result,
};
static const struct stream_ops watch_ops = {
	.error = on_error,
	.result = on_result,
	.sample = on_sample,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const exprs[] = { "cpu_pct > 90",
		"disk_used_pct[/var] >= 80", "net_rx_bytes_per_s > 1e6" };
	char err[256];
	size_t i;

	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	for (i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++)
		if (alert_parse(exprs[i], &rules[nrules], err, sizeof(err)) ==
		    0)
			nrules++;
	return 0;
}

static void
put_hello(struct buf *b)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello h = MUSTER__HELLO__INIT;

	h.version = MUSTER_PROTO_VERSION;
	h.build_id.data = (uint8_t *)MUSTER_BUILD_ID;
	h.build_id.len = strlen(MUSTER_BUILD_ID);
	h.max_frame = FRAME_MAX_DEFAULT;
	h.max_streams = 256;
	h.window = 1u << 20;
	h.arch.data = (uint8_t *)"x86_64";
	h.arch.len = 6;
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	if (frame_encode(b, &env, FRAME_MAX_DEFAULT) != 0)
		abort();
}

static void
open_streams(struct mux *m, struct output *out, struct owner *own)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec exec = MUSTER__EXEC__INIT;
	Muster__Put put = MUSTER__PUT__INIT;
	Muster__Get get = MUSTER__GET__INIT;
	Muster__Watch watch = MUSTER__WATCH__INIT;
	const struct stream_ops *ops[4] = { &exec_ops, &put_ops, &get_ops,
		&watch_ops };
	int i, r;

	for (i = 0; i < 4; i++) {
		own[i].m = m;
		own[i].out = out;
		own[i].reopen = i == 1 ? 2 : 0;
		if (output_host_init(out, &own[i].host, "fuzzhost") != 0)
			abort();
		own[i].open = true;
	}
	/* Small windows, so that credit violations are within reach. */
	exec.window = 4096;
	if (mux_exec(m, &exec, ops[0], &own[0], &own[0].id) != 0)
		abort();
	env.body_case = MUSTER__ENVELOPE__BODY_PUT;
	env.put = &put;
	r = mux_open(m, &env, ops[1], &own[1], 0, &own[1].id);
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &get;
	r |= mux_open(m, &env, ops[2], &own[2], 4096, &own[2].id);
	env.body_case = MUSTER__ENVELOPE__BODY_WATCH;
	env.watch = &watch;
	r |= mux_open(m, &env, ops[3], &own[3], 0, &own[3].id);
	if (r != 0)
		abort();
}

static int
feed(struct mux *m, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	if (buf_append(&m->in, p, n) != 0)
		return MERR_LIMIT;
	return mux_input(m, err, errlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum output_mode modes[] = { OUTPUT_LINES, OUTPUT_GATHER,
		OUTPUT_JSON, OUTPUT_LINES };
	struct owner own[4];
	struct output out;
	struct mux m;
	char err[256];
	size_t cut, i;
	int r;

	if (size < 2)
		return 0;
	memset(own, 0, sizeof(own));
	output_init(&out, modes[(data[0] >> 1) & 3], devnull, devnull,
	    data[0] & 8, 1 << 16);
	mux_init(&m);
	if (!(data[0] & 1))
		put_hello(&m.in);
	open_streams(&m, &out, own);
	cut = (size - 2) * data[1] / 255;
	err[0] = '\0';
	r = feed(&m, data + 2, cut, err, sizeof(err));
	if (r == 0)
		r = feed(&m, data + 2 + cut, size - 2 - cut, err, sizeof(err));
	/* A fatal error must say what happened, as conn.c reports it. */
	if (r != 0 && r != MERR_LIMIT && err[0] == '\0')
		abort();
	mux_fail_all(&m, HS_FAILED, r != 0 ? err : "channel closed");
	for (i = 0; i < 4; i++) {
		if (own[i].open)
			abort(); /* a stream left without its last call */
		output_host_free(&own[i].host);
	}
	output_finish(&out, 0);
	output_free(&out);
	mux_free(&m);
	return 0;
}
