#include "pace.h"

static void
pace_on_token(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pacer *p = w->data;

	p->kick(p->arg);
}

void
pacer_init(struct pacer *p, struct ev_loop *loop, int fanout, int max_startups,
    double rate, void (*kick)(void *arg), void *arg)
{
	p->loop = loop;
	p->fanout = fanout;
	p->max_startups = max_startups;
	p->rate = rate;
	p->setups = p->preauth = 0;
	p->tokens = max_startups > 0 ? max_startups : 1;
	p->last = ev_now(loop);
	p->kick = kick;
	p->arg = arg;
	ev_init(&p->timer, pace_on_token);
	p->timer.data = p;
}

static double
burst(const struct pacer *p)
{
	return p->max_startups > 0 ? p->max_startups : 1;
}

bool
pacer_take(struct pacer *p)
{
	ev_tstamp now = ev_now(p->loop);

	if (p->fanout > 0 && p->setups >= (size_t)p->fanout)
		return false;
	if (p->max_startups > 0 && p->preauth >= (size_t)p->max_startups)
		return false;
	if (p->rate > 0) {
		p->tokens += (now - p->last) * p->rate;
		if (p->tokens > burst(p))
			p->tokens = burst(p);
		p->last = now;
		if (p->tokens < 1) {
			if (!ev_is_active(&p->timer)) {
				ev_timer_set(&p->timer,
				    (1 - p->tokens) / p->rate, 0);
				ev_timer_start(p->loop, &p->timer);
			}
			return false;
		}
		p->tokens -= 1;
	}
	p->setups++;
	p->preauth++;
	return true;
}

void
pacer_authed(struct pacer *p)
{
	if (p->preauth > 0)
		p->preauth--;
}

void
pacer_end(struct pacer *p, bool authed)
{
	if (!authed && p->preauth > 0)
		p->preauth--;
	if (p->setups > 0)
		p->setups--;
}

void
pacer_stop(struct pacer *p)
{
	ev_timer_stop(p->loop, &p->timer);
}
