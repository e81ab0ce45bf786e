/*
 * Unit tests for the connection set-up pacer (pace.c) on a real libev
 * loop. Counts and ordering only: where the rate timer has to fire, the
 * test waits for it under a generous guard timer, and the token bucket is
 * otherwise refilled by moving p->last back, not by sleeping.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pace.h"

/* Long enough for a loaded 2-core VM; only reached when a test fails. */
#define GUARD_S 30.

struct kicks {
	struct ev_loop *loop;
	struct pacer *p;
	int n;
	bool take;   /* start what the pacer allows from the kick */
	int started; /* set-ups started from kicks */
	int want;    /* stop the loop once this many were started */
};

static void
on_kick(void *arg)
{
	struct kicks *k = arg;

	k->n++;
	if (!k->take) {
		ev_break(k->loop, EVBREAK_ONE);
		return;
	}
	/* What fleet.c and daemon.c do: start as many as allowed. */
	while (k->started < k->want && pacer_take(k->p)) {
		k->started++;
		pacer_authed(k->p);
	}
	if (k->started >= k->want)
		ev_break(k->loop, EVBREAK_ONE);
}

static void
on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until a kick breaks it or the guard (after secs) does;
 * true if the guard fired. */
static bool
run_until(struct ev_loop *loop, double secs)
{
	ev_timer guard;
	bool fired = false;

	ev_timer_init(&guard, on_guard, secs, 0.);
	guard.data = &fired;
	ev_timer_start(loop, &guard);
	ev_run(loop, 0);
	ev_timer_stop(loop, &guard);
	return fired;
}

static void
setup(struct pacer *p, struct kicks *k, struct ev_loop **loop, int fanout,
    int max_startups, double rate)
{
	*loop = ev_loop_new(EVFLAG_AUTO);
	assert_non_null(*loop);
	memset(k, 0, sizeof(*k));
	k->loop = *loop;
	k->p = p;
	memset(p, 0, sizeof(*p));
	pacer_init(p, *loop, fanout, max_startups, rate, on_kick, k);
	assert_int_equal(p->setups, 0);
	assert_int_equal(p->preauth, 0);
	assert_false(ev_is_active(&p->timer));
}

static void
teardown(struct pacer *p, struct ev_loop *loop)
{
	pacer_stop(p);
	assert_false(ev_is_active(&p->timer));
	ev_loop_destroy(loop);
}

/* --- fanout and max_startups ---------------------------------------------- */

static void
test_fanout_cap(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;
	int i;

	setup(&p, &k, &loop, 3, 0, 0);
	for (i = 0; i < 3; i++)
		assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_false(pacer_take(&p));
	/* A refusal is not counted. */
	assert_int_equal(p.setups, 3);
	/* Authentication does not free a fanout slot... */
	pacer_authed(&p);
	assert_false(pacer_take(&p));
	/* ...the end of a set-up does. */
	pacer_end(&p, true);
	assert_int_equal(p.setups, 2);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	pacer_end(&p, false);
	pacer_end(&p, false);
	assert_int_equal(p.setups, 1);
	assert_true(pacer_take(&p));
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	/* No rate: no timer, no kick. */
	assert_false(ev_is_active(&p.timer));
	assert_int_equal(k.n, 0);
	teardown(&p, loop);
}

static void
test_max_startups_cap(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;

	setup(&p, &k, &loop, 0, 2, 0);
	assert_true(pacer_take(&p));
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_int_equal(p.preauth, 2);
	/* One authenticates: room for one more unauthenticated set-up. */
	pacer_authed(&p);
	assert_int_equal(p.preauth, 1);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_int_equal(p.setups, 3);
	assert_int_equal(p.preauth, 2);

	/* The authenticated one ends: its preauth slot was already given
	 * back, so nothing changes for max_startups. */
	pacer_end(&p, true);
	assert_int_equal(p.setups, 2);
	assert_int_equal(p.preauth, 2);
	assert_false(pacer_take(&p));
	/* One that never authenticated ends: its slot comes back. */
	pacer_end(&p, false);
	assert_int_equal(p.setups, 1);
	assert_int_equal(p.preauth, 1);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_false(ev_is_active(&p.timer));
	assert_int_equal(k.n, 0);
	teardown(&p, loop);
}

static void
test_fanout_and_startups(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;

	/* Fanout 3, of which 2 unauthenticated. */
	setup(&p, &k, &loop, 3, 2, 0);
	assert_true(pacer_take(&p));
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p)); /* max_startups */
	pacer_authed(&p);
	pacer_authed(&p);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p)); /* fanout, with preauth 1 */
	assert_int_equal(p.preauth, 1);
	pacer_end(&p, true);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p)); /* both again */
	assert_int_equal(p.setups, 3);
	assert_int_equal(p.preauth, 2);
	teardown(&p, loop);
}

static void
test_no_limits(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;
	int i;

	setup(&p, &k, &loop, 0, 0, 0);
	for (i = 0; i < 100000; i++)
		assert_true(pacer_take(&p));
	assert_int_equal(p.setups, 100000);
	assert_int_equal(p.preauth, 100000);
	assert_false(ev_is_active(&p.timer));
	for (i = 0; i < 100000; i++)
		pacer_end(&p, false);
	assert_int_equal(p.setups, 0);
	assert_int_equal(p.preauth, 0);
	assert_int_equal(k.n, 0);
	teardown(&p, loop);
}

static void
test_end_without_start(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;

	/* Ends and authentications nobody started do not wrap the counts
	 * round and so lift the limits. */
	setup(&p, &k, &loop, 1, 1, 0);
	pacer_end(&p, false);
	pacer_end(&p, true);
	pacer_authed(&p);
	assert_int_equal(p.setups, 0);
	assert_int_equal(p.preauth, 0);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	pacer_authed(&p);
	pacer_authed(&p);
	assert_int_equal(p.preauth, 0);
	pacer_end(&p, true);
	pacer_end(&p, true);
	assert_int_equal(p.setups, 0);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	teardown(&p, loop);
}

/* --- rate ------------------------------------------------------------------ */

static void
test_rate_burst(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;
	int i;

	/* The burst is max_startups; time stands still (no ev_now_update),
	 * so only the burst gets through. */
	setup(&p, &k, &loop, 0, 3, 10.);
	for (i = 0; i < 3; i++) {
		assert_true(pacer_take(&p));
		pacer_authed(&p); /* max_startups is not the limit */
	}
	assert_false(pacer_take(&p));
	assert_int_equal(p.setups, 3);
	/* Refused for the rate: a timer for the next token. */
	assert_true(ev_is_active(&p.timer));
	assert_false(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	assert_int_equal(p.setups, 3);
	assert_int_equal(k.n, 0);

	/* A quarter second later (moved, not slept): 2.5 tokens. */
	p.last -= 0.25;
	assert_true(pacer_take(&p));
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	pacer_authed(&p);
	pacer_authed(&p);

	/* A long quiet spell fills the bucket to the burst only. */
	p.last -= 1000.;
	for (i = 0; i < 3; i++) {
		assert_true(pacer_take(&p));
		pacer_authed(&p);
	}
	assert_false(pacer_take(&p));
	assert_int_equal(p.setups, 8);
	assert_int_equal(k.n, 0);
	teardown(&p, loop);

	/* max_startups 0: a burst of one. */
	setup(&p, &k, &loop, 0, 0, 10.);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	p.last -= 1000.;
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	teardown(&p, loop);
}

static void
test_rate_other_limit_first(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;
	double tokens;

	/* A set-up refused for fanout or max_startups spends no token and
	 * arms no timer: the end of a set-up is what lets it go. */
	setup(&p, &k, &loop, 1, 5, 10.);
	assert_true(pacer_take(&p));
	tokens = p.tokens;
	assert_false(pacer_take(&p));
	assert_false(ev_is_active(&p.timer));
	assert_true(p.tokens == tokens);
	teardown(&p, loop);

	setup(&p, &k, &loop, 0, 1, 10.);
	assert_true(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_false(ev_is_active(&p.timer));
	teardown(&p, loop);
}

static void
test_rate_kick(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;
	int tries;

	/* 20 per second, a burst of 1: the second set-up waits ~50 ms for
	 * the timer, which kicks once. */
	setup(&p, &k, &loop, 0, 1, 20.);
	assert_true(pacer_take(&p));
	pacer_authed(&p);
	assert_false(pacer_take(&p));
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	assert_int_equal(k.n, 0);

	assert_false(run_until(loop, GUARD_S));
	assert_int_equal(k.n, 1);
	/* A one-shot timer: done until the next refusal. */
	assert_false(ev_is_active(&p.timer));
	/*
	 * The token is due. The bucket counts in ev_now() (wall clock) and
	 * the timer in monotonic time, so the token may come out a hair
	 * short and the pacer re-arm for the remainder: allow a few kicks.
	 */
	for (tries = 0; !pacer_take(&p); tries++) {
		assert_true(tries < 5);
		assert_true(ev_is_active(&p.timer));
		assert_false(run_until(loop, GUARD_S));
	}
	assert_int_equal(p.setups, 2);
	assert_int_equal(k.n, 1 + tries);
	pacer_authed(&p);
	/* That token is spent: refused again, a new timer. */
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	teardown(&p, loop);
}

static void
test_rate_kick_chain(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;

	/* The owner starts what it may from each kick, as fleet.c does;
	 * each refusal there re-arms the timer, until all are started. */
	setup(&p, &k, &loop, 0, 2, 50.);
	k.take = true;
	k.want = 10;
	on_kick(&k); /* the first pass, outside the timer */
	assert_int_equal(k.started, 2);
	assert_true(ev_is_active(&p.timer));
	assert_false(run_until(loop, GUARD_S));
	assert_int_equal(k.started, 10);
	assert_int_equal(p.setups, 10);
	/* At least one kick per token after the burst (the first call
	 * above counted as one). */
	assert_true(k.n >= 1 + 8 / 2);
	assert_false(ev_is_active(&p.timer));
	teardown(&p, loop);
}

static void
test_stop(void **state)
{
	struct ev_loop *loop;
	struct kicks k;
	struct pacer p;

	/* Stopping a pacer that never armed its timer is fine. */
	setup(&p, &k, &loop, 0, 1, 10.);
	pacer_stop(&p);
	pacer_stop(&p);

	assert_true(pacer_take(&p));
	pacer_authed(&p);
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	pacer_stop(&p);
	assert_false(ev_is_active(&p.timer));
	/*
	 * The token was due after 0.1 s; the guard ends the loop after
	 * 0.5 s. Had the timer survived it would have fired first, or in
	 * the same loop iteration as the guard (libev runs every pending
	 * callback before it looks at ev_break), so this does not depend
	 * on the machine's speed.
	 */
	assert_true(run_until(loop, 0.5));
	assert_int_equal(k.n, 0);
	assert_false(ev_is_active(&p.timer));

	/* Time went on meanwhile: a token, then a refusal that arms the
	 * timer again. */
	assert_true(pacer_take(&p));
	pacer_authed(&p);
	assert_false(pacer_take(&p));
	assert_true(ev_is_active(&p.timer));
	assert_int_equal(p.setups, 2);
	teardown(&p, loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fanout_cap),
		cmocka_unit_test(test_max_startups_cap),
		cmocka_unit_test(test_fanout_and_startups),
		cmocka_unit_test(test_no_limits),
		cmocka_unit_test(test_end_without_start),
		cmocka_unit_test(test_rate_burst),
		cmocka_unit_test(test_rate_other_limit_first),
		cmocka_unit_test(test_rate_kick),
		cmocka_unit_test(test_rate_kick_chain),
		cmocka_unit_test(test_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
