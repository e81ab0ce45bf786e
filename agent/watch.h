/*
 * One Watch: a Sample at once, then one every interval (an ev_timer that
 * repeats; nothing polls), until Cancel. See proto/muster.proto and
 * PROTOCOL.md.
 *
 * Like struct fget for Get, the owner (the stream layer) is told through
 * struct watch_cb what to send, and says when the channel cannot take it:
 * a Sample that falls due while paused is skipped, not queued. done is the
 * last callback; the owner frees the watch afterwards, outside it.
 */
#ifndef MUSTER_AGENT_WATCH_H
#define MUSTER_AGENT_WATCH_H

#include <stdint.h>

#include <ev.h>

#include "muster.pb-c.h"

#define WATCH_INTERVAL_MIN_MS 250
#define WATCH_INTERVAL_MAX_MS 3600000
#define WATCH_INTERVAL_DEFAULT_MS 5000

struct watch;

struct watch_cb {
	void (*sample)(void *arg, const Muster__Sample *s);
	/* Result. Last callback. */
	void (*done)(void *arg, const Muster__Result *res);
};

/* The interval a Watch asking for interval_ms gets. */
uint32_t watch_interval_ms(uint32_t interval_ms);

/* Opens the /proc files now; the first Sample (or, if they cannot be
 * read, the failed Result) comes on the next loop iteration, so no
 * callback comes from within. MERR_NOMEM only. */
int watch_start(struct ev_loop *loop, const Muster__Watch *req,
    const struct watch_cb *cb, void *arg, struct watch **out);
/* While paused, Samples that fall due are skipped. */
void watch_pause(struct watch *w, int paused);
/* End the watch unless it is over: why NULL is the controller's Cancel,
 * done with ok; else done with !ok, MERR_EOF and why. */
void watch_cancel(struct watch *w, const char *why);
void watch_free(struct watch *w);

#endif
