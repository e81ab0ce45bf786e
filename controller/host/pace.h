/*
 * Pacing of connection set-ups, shared by one-shot jobs (fleet.c) and the
 * daemon. Three limits:
 *   - fanout: set-ups in progress at once (until the agent is ready);
 *   - max_startups: of those, the ones not yet authenticated. sshd refuses
 *     new connections at random once more than MaxStartups (default 10)
 *     are unauthenticated; hosts behind one bastion share that budget;
 *   - rate: new TCP connections per second (a token bucket whose burst is
 *     max_startups), so a big fleet does not arrive as one SYN flood.
 * A limit of 0 is no limit.
 */
#ifndef MUSTER_PACE_H
#define MUSTER_PACE_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#define PACE_MAX_STARTUPS_DEFAULT 5
#define PACE_RATE_DEFAULT 200

struct pacer {
	struct ev_loop *loop;
	int fanout, max_startups;
	double rate;
	size_t setups, preauth;
	double tokens;
	ev_tstamp last;
	ev_timer timer; /* the rate limit's next token */
	void (*kick)(void *arg);
	void *arg;
};

void pacer_init(struct pacer *p, struct ev_loop *loop, int fanout,
    int max_startups, double rate, void (*kick)(void *arg), void *arg);
/* May one more set-up start now? Yes counts it as started. No because of
 * the rate arms a timer that calls kick when a token is due. */
bool pacer_take(struct pacer *p);
/* A started set-up got past authentication. */
void pacer_authed(struct pacer *p);
/* A started set-up ended (agent ready, or failed); authed says whether
 * pacer_authed was called for it. */
void pacer_end(struct pacer *p, bool authed);
void pacer_stop(struct pacer *p);

#endif
