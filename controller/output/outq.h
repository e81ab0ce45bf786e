/*
 * The controller's stdout as a queue drained by the event loop: a reader
 * that stalls (`muster run ... | (sleep 25; cat)`) must slow the output,
 * never the loop that keeps every connection alive, and a write that fails
 * (a full disk, a closed pipe with SIGPIPE ignored) must end the run, not
 * be lost.
 *
 * The output modules keep writing to a FILE; outq_file gives one whose
 * bytes go into the queue. Each byte is charged to the owner set with
 * outq_owner_set (a host's command), so its producer can withhold the
 * stream's credit while that host has too much queued (outq_hold) and be
 * told to return it once the queue has drained (the owner's resume).
 *
 * Only a pipe or a socket is queued, written PIPE_BUF bytes at a time once
 * poll says it is writable; O_NONBLOCK is never set (it belongs to the open
 * file, shared with the shell and with `2>&1`). A terminal or a file is
 * written through, as before.
 */
#ifndef MUSTER_OUTQ_H
#define MUSTER_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <ev.h>

#include "buf.h"

/* Queued bytes one owner may have before outq_hold says to withhold its
 * credit, and queued bytes in all. Credit comes back at half of each. */
#define OUTQ_OWNER_HIGH (128u * 1024)
#define OUTQ_TOTAL_HIGH (4u * 1024 * 1024)
/* The queue never holds more than this: past it a write fails as if the
 * reader were gone (back-pressure keeps it far below). */
#define OUTQ_MAX (1024u * 1024 * 1024)

struct outq_owner {
	size_t queued; /* this owner's bytes not yet written */
	bool blocked;  /* credit withheld: resume() when drained */
	struct outq_owner *next_blocked;
	void (*resume)(struct outq_owner *ow);
};

struct outq_seg;

struct outq {
	struct ev_loop *loop;
	int fd;
	const char *name; /* "stdout", for messages */
	FILE *file;
	struct buf data;
	struct outq_seg *segs; /* owners of data's bytes, in order */
	size_t seg_head, nsegs, seg_cap;
	ev_io io;
	ev_timer notify;
	bool queueing;	  /* a pipe or socket, drained by the loop */
	size_t pipe_size; /* a pipe's capacity; 0 for a socket */
	int err;	  /* errno of the first failed write; 0 none */
	struct outq_owner *cur;
	struct outq_owner *blocked;
	void (*on_error)(void *arg, int err);
	void *arg;
};

/*
 * Set q up on fd (its name for messages). on_error is called once, from
 * the loop (never inside a write), when a write fails; q then drops what
 * is queued and everything written after.
 */
int outq_init(struct outq *q, struct ev_loop *loop, int fd, const char *name,
    void (*on_error)(void *arg, int err), void *arg);
FILE *outq_file(struct outq *q);
/* Bytes written from now on are ow's (NULL: nobody's). */
void outq_owner_set(struct outq *q, struct outq_owner *ow);
/* Should ow's producer withhold credit now? If so, ow->resume is called
 * once the queue has drained enough. */
bool outq_hold(struct outq *q, struct outq_owner *ow);
/* ow goes away: its queued bytes stay, charged to nobody. */
void outq_owner_forget(struct outq *q, struct outq_owner *ow);
/* Bytes queued that the loop still has to write (none once a write
 * failed: those are dropped). A job's loop runs until there are none. */
bool outq_pending(const struct outq *q);
/* Write everything queued, blocking, and write through from now on (the
 * loop is done). Returns 0 or the errno of the first failed write. */
int outq_sync(struct outq *q);
/* Releases q; does not write. */
void outq_free(struct outq *q);

#endif
