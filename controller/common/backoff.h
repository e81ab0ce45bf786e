/*
 * Reconnect back-off, shared by watch's hosts and the daemon's held hosts:
 * the delay doubles from min up to max after each failure, and each delay
 * is drawn from [delay/2, delay] ("equal jitter") so that a fleet that
 * dropped at once does not come back as one thundering herd, and no wait
 * is ever longer than max.
 */
#ifndef MUSTER_BACKOFF_H
#define MUSTER_BACKOFF_H

struct backoff {
	double min; /* first delay before jitter, seconds, > 0 */
	double max; /* cap, seconds, >= min */
	double cur; /* 0 until the first failure */
};

void backoff_init(struct backoff *b, double min, double max);
/* The host came up: the next failure starts again from min. */
void backoff_reset(struct backoff *b);
/* A failure: the seconds to wait before the next attempt, in
 * [cur/2, cur] with cur doubled (min at first, max at most). */
double backoff_next(struct backoff *b);

#endif
