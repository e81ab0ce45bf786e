/*
 * What the test_mux_*.c programs share: a stream owner that records every
 * call (struct rec, rec_ops), frames built as the agent would send them
 * (put_*), written with frame_encode straight into mux.in, and a mux that
 * has accepted the agent's Hello with streams opened on it.
 */
#ifndef MUSTER_TEST_MUX_PEER_H
#define MUSTER_TEST_MUX_PEER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "build_id.h"
#include "buf.h"
#include "err.h"
#include "frame.h"
#include "mux.h"

#define BIN(s) ((ProtobufCBinaryData){ sizeof(s) - 1, (uint8_t *)(s) })

enum call_kind {
	CALL_DATA,
	CALL_EOF,
	CALL_EXIT,
	CALL_ERROR,
};

struct rec {
	int ndata, neof, nexit, nerror;
	int last_fd;
	uint8_t bytes[8192]; /* data of every call, concatenated */
	size_t nbytes;
	bool discard; /* count bulk data, do not keep it */
	Muster__Exit ex;
	enum host_status st;
	char msg[512];
	int order[128]; /* kinds of the first calls, in order */
	int ncalls;
};

void rec_data(void *arg, int fd, const uint8_t *p, size_t n);

void rec_eof(void *arg, int fd);

void rec_exit(void *arg, const Muster__Exit *ex);

void rec_error(void *arg, enum host_status st, const char *msg);

extern const struct stream_ops rec_ops;

extern char mux_errmsg[512];

int input(struct mux *m);

void put_env(struct buf *b, const Muster__Envelope *env);

void put_hello(struct buf *b, uint32_t stream, uint32_t version,
    const char *build_id, const char *arch);

void put_data(struct buf *b, uint32_t stream, uint32_t fd, const void *p,
    size_t n);

void put_eof(struct buf *b, uint32_t stream, uint32_t fd);

void put_exit(struct buf *b, uint32_t stream, int32_t code, int32_t sig,
    bool timed_out);

void put_error(struct buf *b, uint32_t stream, uint32_t code, const char *msg);

void put_credit(struct buf *b, uint32_t stream, uint32_t bytes);

void put_ping(struct buf *b, uint32_t stream, uint64_t nonce);

void put_pong(struct buf *b, uint32_t stream, uint64_t nonce);

/* A mux that has accepted the agent's Hello. */
void ready_mux(struct mux *m);

/* Open a shell-command stream with the given output window (0: default)
 * and throw its Exec frame away. */
uint32_t open_stream(struct mux *m, struct rec *r, uint32_t window);

/* ready_mux, then one stream opened for r, zeroed first: its id. */
uint32_t ready_stream(struct mux *m, struct rec *r, uint32_t window);

/* ready_mux, then two streams with the default window: *a for r1, *b
 * for r2, both zeroed first. */
void ready_streams(struct mux *m, struct rec *r1, uint32_t *a, struct rec *r2,
    uint32_t *b);

/* Take the next frame the mux sent; NULL when there is none. */
Muster__Envelope *take_out(struct mux *m);

Muster__Envelope *only_credit(struct mux *m, uint32_t id);

#endif
