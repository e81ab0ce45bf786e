/*
 * The agent's streams (stream.c), one per Exec, Put, Get or Watch the
 * controller opened, and the routing of the controller's frames to them.
 *
 * Contract with the channel (chan.c): chan.c decodes each frame and hands
 * it to stream_dispatch, which opens, feeds, credits or cancels streams
 * and answers through chan_send and its kin (chan_int.h). A stream sends
 * output only within the credit the controller granted and while the
 * channel is not congested; chan.c calls stream_allow on each stream when
 * congestion starts or ends. A stream that has ended leaves the table at
 * once and is put on the channel's dead list; chan.c frees it with
 * stream_free before the loop blocks, never inside its own callbacks.
 */
#ifndef MUSTER_AGENT_STREAM_H
#define MUSTER_AGENT_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "muster.pb-c.h"

struct chan;

enum stream_kind {
	STREAM_EXEC,
	STREAM_PUT,
	STREAM_GET,
	STREAM_WATCH,
};

struct stream {
	struct chan *chan;
	uint32_t id;
	enum stream_kind kind;
	struct proc *proc;    /* exec */
	struct fput *put;     /* put */
	struct fget *get;     /* get */
	struct watch *watch;  /* watch */
	uint64_t credit;      /* output bytes the controller still accepts */
	size_t stdin_unacked; /* stdin bytes taken, not yet credited back */
	/* Failed by an Error: the id is free again and nothing more is sent
	 * for it, but the process group is still being killed. */
	int detached;
	struct stream *next_dead;
};

/* Route one decoded frame from the controller for a stream (id not 0). */
void stream_dispatch(struct chan *c, const Muster__Envelope *env);
/* The open stream with this id; NULL if none or it was failed. */
struct stream *stream_find(struct chan *c, uint32_t id);
/* Let the stream produce as much as its credit and the channel allow. */
void stream_allow(struct stream *s);
/* Cancel from the controller (why NULL) or the end of the channel (why
 * says so); every stream still ends with its Exit or Result. */
void stream_cancel(struct stream *s, const char *why);
void stream_free(struct stream *s);

#endif
