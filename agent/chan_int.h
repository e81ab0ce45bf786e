/*
 * The channel's insides, shared by its two modules (see chan.h):
 *
 *   chan.c    frame I/O: the input loop, the outgoing queue and its
 *             marks, Hello, shutdown
 *   stream.c  the stream table, the dispatch of frames to streams and
 *             the frames streams send back, with their credit
 *
 * stream.c only queues frames (chan_send and its kin) and moves streams
 * between the table and the dead list; it never writes to stdout or
 * touches the input buffer.
 */
#ifndef MUSTER_AGENT_CHAN_INT_H
#define MUSTER_AGENT_CHAN_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "muster.pb-c.h"

struct stream;

/* Open streams at most, announced in Hello. */
#define CHAN_MAX_STREAMS 256
/* Watch streams among them: each has its own files open and readings. */
#define CHAN_MAX_WATCHES 16
/* stdin credit the controller holds per stream, announced in Hello. */
#define CHAN_STDIN_WINDOW (1u << 20)
/* Output credit of a stream whose Exec carries window 0. */
#define CHAN_OUT_WINDOW_DEFAULT (256u * 1024)

struct chan {
	struct ev_loop *loop;
	ev_io rd; /* stdin: frames from the controller */
	ev_io wr; /* stdout: armed only while output is queued */
	struct buf in;
	struct buf out;
	struct stream *streams[CHAN_MAX_STREAMS];
	size_t nstreams;
	/* Finished streams leave the table at once but are freed only
	 * before the loop blocks, never inside their own callbacks. */
	struct stream *dead;
	ev_prepare reaper;
	/* Writes what the round queued, before the loop blocks. */
	ev_prepare flusher;
	ev_timer shutdown_timer;
	int congested;	/* out above the high mark: reading paused */
	int in_input;	/* chan_input is on the stack */
	int framed;	/* the first frame began (no more lead-in) */
	int out_closed; /* queue nothing more (write error or bug) */
	int shutting;
	/* The shutdown wait is over: all streams ended. */
	int killed;
	int finished;
	int status;
};

/* "Exec", "Data" ...: for messages. */
const char *chan_body_name(Muster__Envelope__BodyCase bc);
/* Queue a frame; it leaves with the rest of the round, in one write,
 * before the loop blocks. A frame that cannot be queued ends the channel
 * (CHAN_EXIT_PROTOCOL). */
void chan_send(struct chan *c, const Muster__Envelope *env);
/* An Error frame on stream id; code is an err.h code. */
void chan_send_errorv(struct chan *c, uint32_t id, int code, const char *fmt,
    va_list ap);
void chan_send_error(struct chan *c, uint32_t id, int code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
/* The controller broke the protocol: an Error on stream 0, then shut
 * down with CHAN_EXIT_PROTOCOL. */
void chan_fatal(struct chan *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* End the loop if shutting down with no stream and nothing queued. */
void chan_check_done(struct chan *c);

#endif
