/*
 * Unit tests for the worker pool: a job's done runs on the loop thread, and
 * a job stuck in a call nothing interrupts does not keep workpool_free (and
 * so the controller's exit) waiting: it is abandoned, and when it returns
 * at last it touches neither the loop, which is gone, nor its done.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "workpool.h"

struct job_state {
	struct ev_loop *loop;
	int fd; /* the stuck job reads it */
	atomic_bool started, returned;
	bool done_called;
	bool done_on_main;
	pthread_t main;
};

static int
threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
quick_work(void *arg)
{
	struct job_state *s = arg;

	atomic_store(&s->returned, true);
}

static void
note_done(void *arg)
{
	struct job_state *s = arg;

	s->done_called = true;
	s->done_on_main = pthread_equal(pthread_self(), s->main);
}

static void
stuck_work(void *arg)
{
	struct job_state *s = arg;
	char c;

	atomic_store(&s->started, true);
	/* Stands for getaddrinfo on a dead resolver, say. */
	while (read(s->fd, &c, 1) < 0)
		;
	atomic_store(&s->returned, true);
}

static void
test_done_on_loop(void **state)
{
	struct job_state s = { .main = pthread_self() };
	struct workpool *wp;

	s.loop = ev_loop_new(EVFLAG_AUTO);
	assert_int_equal(workpool_new(s.loop, 2, &wp), 0);
	assert_int_equal(workpool_submit(wp, quick_work, note_done, &s), 0);
	/* The loop's owner runs it until its own condition holds, as
	 * fleet.c does; the pool's wake-up keeps it waiting meanwhile. */
	while (!s.done_called)
		assert_true(ev_run(s.loop, EVRUN_ONCE));
	assert_true(atomic_load(&s.returned));
	assert_true(s.done_called);
	assert_true(s.done_on_main);
	workpool_free(wp);
	ev_loop_destroy(s.loop);
}

static void
test_free_abandons_stuck_job(void **state)
{
	struct job_state s = { .main = pthread_self() };
	struct workpool *wp;
	int p[2], before, i;

	before = threads_now();
	assert_int_equal(pipe(p), 0);
	s.fd = p[0];
	s.loop = ev_loop_new(EVFLAG_AUTO);
	assert_int_equal(workpool_new(s.loop, 1, &wp), 0);
	assert_int_equal(workpool_submit(wp, stuck_work, note_done, &s), 0);
	for (i = 0; i < 1000 && !atomic_load(&s.started); i++)
		usleep(10000);
	assert_true(atomic_load(&s.started));
	/* Returns although the job never does (the old pool joined it). */
	workpool_free(wp);
	assert_false(atomic_load(&s.returned));
	ev_loop_destroy(s.loop);
	/* Now let it return: it must not report to the destroyed loop, and
	 * its thread frees the pool and exits (ASan sees either go wrong). */
	assert_int_equal(write(p[1], "x", 1), 1);
	for (i = 0; i < 1000 && threads_now() > before; i++)
		usleep(10000);
	assert_int_equal(threads_now(), before);
	assert_true(atomic_load(&s.returned));
	assert_false(s.done_called);
	close(p[0]);
	close(p[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_done_on_loop),
		cmocka_unit_test(test_free_abandons_stuck_job),
	};

	/* A pool that waits for its stuck job hangs: fail instead. */
	alarm(60);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
