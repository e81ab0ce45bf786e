/*
 * An ev_check + ev_idle pair, the idiom libev documents for running
 * something every iteration: idle watchers alone would run only when no
 * other event is pending, and a busy channel could starve them.
 */
#include "slice.h"

static void
slice_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct slice *s = w->data;

	s->fn(s->arg);
}

static void
slice_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
}

void
slice_init(struct slice *s, struct ev_loop *loop, void (*fn)(void *),
    void *arg)
{
	s->loop = loop;
	s->fn = fn;
	s->arg = arg;
	ev_check_init(&s->check, slice_check_cb);
	s->check.data = s;
	ev_idle_init(&s->idle, slice_idle_cb);
}

void
slice_start(struct slice *s)
{
	ev_check_start(s->loop, &s->check);
	ev_idle_start(s->loop, &s->idle);
}

void
slice_stop(struct slice *s)
{
	ev_check_stop(s->loop, &s->check);
	ev_idle_stop(s->loop, &s->idle);
}
