/*
 * Work done a slice at a time: a callback run once per event loop
 * iteration while started, so that long file work (hashing, reading a
 * tree) never holds up the other streams for more than one slice.
 */
#ifndef MUSTER_AGENT_SLICE_H
#define MUSTER_AGENT_SLICE_H

#include <ev.h>

struct slice {
	struct ev_loop *loop;
	/* The check runs the slice after every poll; the idle watcher,
	 * which does nothing, keeps that poll from blocking meanwhile. */
	ev_check check;
	ev_idle idle;
	void (*fn)(void *arg);
	void *arg;
};

void slice_init(struct slice *s, struct ev_loop *loop, void (*fn)(void *),
    void *arg);
void slice_start(struct slice *s);
void slice_stop(struct slice *s);

#endif
