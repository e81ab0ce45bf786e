/*
 * One Get: sends a file, or a directory tree, as Entry, Data and EntryEnd
 * (see proto/muster.proto and PROTOCOL.md). Work is done a step per loop
 * iteration, a step being one entry or one read of at most
 * FRAME_DATA_CHUNK bytes, so a large file or tree never holds up the
 * other streams.
 *
 * Like struct proc for Exec, the owner (the stream layer) says how much
 * data may be sent and is told, through struct fget_cb, what to send.
 * done is the last callback; the owner frees the fget afterwards, outside
 * the callback.
 */
#ifndef MUSTER_AGENT_FILEGET_H
#define MUSTER_AGENT_FILEGET_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "muster.pb-c.h"
#include "sha256.h"

/* Directories below the requested one that a Get descends into. */
#define FGET_DEPTH_MAX 64

struct fget;

struct fget_cb {
	void (*entry)(void *arg, const Muster__Entry *e);
	/* n bytes of the current file, at most what fget_output allowed. */
	void (*data)(void *arg, const uint8_t *p, size_t n);
	/* The current file is over: the hash of the bytes sent, and whether
	 * the file stayed as it was opened (see EntryEnd in muster.proto). */
	void (*entry_end)(void *arg, const Muster__EntryEnd *ee);
	/* Result. Last callback. */
	void (*done)(void *arg, const Muster__Result *res);
};

/* Takes a copy of what it needs from get; the work starts on the next
 * loop iteration, so no callback comes from within. MERR_NOMEM only. */
int fget_start(struct ev_loop *loop, const Muster__Get *get,
    const struct fget_cb *cb, void *arg, struct fget **out);
/* paused: send nothing at all (the channel's queue is full). allowed:
 * Data bytes that may be sent. Never calls back from within. */
void fget_output(struct fget *g, int paused, size_t allowed);
/* Abandon the Get unless it is over: done with !ok and why. */
void fget_cancel(struct fget *g, const char *why);
void fget_free(struct fget *g);

#endif
