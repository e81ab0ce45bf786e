/*
 * One Put: installs a regular file, a directory or a symlink at a path,
 * atomically and only if something differs (see proto/muster.proto and
 * PROTOCOL.md). A regular file's new content goes to an unnamed (O_TMPFILE)
 * or temporary file in the destination directory and is renamed over the
 * destination only once its size and SHA-256 check out, so a failed or
 * cancelled Put, or a killed agent, leaves the old entry as it was.
 *
 * Like struct proc for Exec, the owner (the stream layer) feeds it the
 * controller's frames and is told, through struct fput_cb, what to send.
 * done is the last callback; the owner frees the fput afterwards, outside
 * the callback.
 */
#ifndef MUSTER_AGENT_FILEPUT_H
#define MUSTER_AGENT_FILEPUT_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "muster.pb-c.h"

struct fput;

struct fput_cb {
	/* PutReady: the entry is unchanged (done follows at once), or, for
	 * a regular file, the agent is ready for its data. */
	void (*ready)(void *arg, int unchanged);
	/* Result. Last callback. */
	void (*done)(void *arg, const Muster__Result *res);
};

/* Takes a copy of what it needs from put. The work starts on the next
 * loop iteration, so no callback comes from within. MERR_NOMEM only. */
int fput_start(struct ev_loop *loop, const Muster__Put *put,
    const struct fput_cb *cb, void *arg, struct fput **out);
/*
 * Data for the file, written before this returns. 0: written (the owner
 * credits it back). MERR_PROTOCOL: no data is expected now, nothing was
 * done. Any other code: the Put failed on it and done has been called.
 */
int fput_write(struct fput *p, const uint8_t *data, size_t n);
/* End of the data: check, commit, call done. MERR_PROTOCOL if no data
 * was expected. */
int fput_eof(struct fput *p);
/* Abandon the Put unless it is over: clean up, done with !ok and why. */
void fput_cancel(struct fput *p, const char *why);
/* Removes whatever temporary file is left. */
void fput_free(struct fput *p);

#endif
