/*
 * A few worker threads for the blocking work the event loop must never do:
 * name resolution (getaddrinfo) and libssh 0.10's SFTP, which only works on
 * a blocking session. A job's work function runs on a worker; its done
 * function runs later on the loop thread.
 */
#ifndef MUSTER_WORKPOOL_H
#define MUSTER_WORKPOOL_H

#include <ev.h>

struct workpool;

typedef void (*work_fn)(void *arg);
typedef void (*work_done_fn)(void *arg);

/* Seconds a job's owner waits for it after cancelling it, and the pool
 * at exit for a job still running, before either abandons it. */
#define WORKPOOL_GRACE 5

int workpool_new(struct ev_loop *loop, int nthreads, struct workpool **out);
/* Runs work(arg) on a worker, then done(arg) on the loop. */
int workpool_submit(struct workpool *wp, work_fn work, work_done_fn done,
    void *arg);
/* Waits for running jobs, drops queued ones (their done is not called).
 * A job still running after a few seconds is abandoned: the pool is left
 * to it (never freed), and it ends without calling done. */
void workpool_free(struct workpool *wp);

#endif
