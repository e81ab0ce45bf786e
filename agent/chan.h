/*
 * The agent's channel to the controller: frames in on stdin, frames out on
 * stdout, and through them the streams (Exec, Put, Get, Watch; stream.h)
 * with their flow control. chan_int.h holds what chan.c and stream.c
 * share.
 */
#ifndef MUSTER_AGENT_CHAN_H
#define MUSTER_AGENT_CHAN_H

#include <ev.h>

/* Exit statuses of the agent (2 is a usage error, see main.c). */
#define CHAN_EXIT_OK 0	     /* stdin EOF or a signal */
#define CHAN_EXIT_IO 1	     /* read or write error on the channel */
#define CHAN_EXIT_PROTOCOL 3 /* the controller broke the protocol */

struct chan;

/* Write the marker line and Hello, start reading frames. */
int chan_new(struct ev_loop *loop, struct chan **out);
/* Stop taking input and SIGTERM every process group; after a second,
 * SIGKILL what is left. Every stream ends with its Exit either way; the
 * loop ends once they have all been sent, or stdout has stopped taking
 * them for a few seconds. The first status given sticks. */
void chan_shutdown(struct chan *c, int status);
int chan_finished(const struct chan *c);
int chan_status(const struct chan *c);
/* SIGKILL and reap what is left, flush what stdout takes, free. */
void chan_free(struct chan *c);

#endif
