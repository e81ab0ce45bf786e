#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "outq.h"

/* The queue in front of a real pipe, drained by a real loop. */
struct fixture {
	struct ev_loop *loop;
	struct outq q;
	int rd, wr;
	int errors, last_err;
};

static void
on_error(void *arg, int err)
{
	struct fixture *f = arg;

	f->errors++;
	f->last_err = err;
}

static int resumed;

static void
on_resume(struct outq_owner *ow)
{
	resumed++;
}

static void
setup_pipe(struct fixture *f)
{
	int p[2];

	memset(f, 0, sizeof(*f));
	assert_int_equal(pipe(p), 0);
	f->rd = p[0];
	f->wr = p[1];
	assert_non_null(f->loop = ev_loop_new(EVFLAG_AUTO));
	assert_int_equal(
	    outq_init(&f->q, f->loop, f->wr, "stdout", on_error, f), 0);
}

static void
teardown_pipe(struct fixture *f)
{
	outq_free(&f->q);
	if (f->rd >= 0)
		close(f->rd);
	close(f->wr);
	ev_loop_destroy(f->loop);
}

/* Read everything the pipe has now; the count read. */
static size_t
slurp(int fd)
{
	char b[65536];
	size_t total = 0;
	ssize_t n;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	while ((n = read(fd, b, sizeof(b))) > 0)
		total += (size_t)n;
	fcntl(fd, F_SETFL, fl);
	return total;
}

/*
 * A reader that does not read: writes never block, the bytes wait in the
 * queue charged to their owner, who is told to hold its credit and later
 * to resume; every byte arrives, and the pipe's flags are never
 * touched.
 */
static void
test_stalled_reader(void **state)
{
	struct outq_owner ow = { .resume = on_resume };
	struct fixture f;
	char chunk[4096];
	size_t sent = 0, got = 0, i;
	int fl0;

	setup_pipe(&f);
	resumed = 0;
	fl0 = fcntl(f.wr, F_GETFL);
	/* Queued without O_NONBLOCK: the open file is shared. */
	assert_true(f.q.queueing);
	assert_false(fl0 & O_NONBLOCK);
	outq_owner_set(&f.q, &ow);
	/* Far more than a pipe holds; a blocking write would hang here. */
	for (i = 0; i < 256; i++) {
		memset(chunk, 'a' + (int)(i % 26), sizeof(chunk));
		assert_int_equal(fwrite(chunk, 1, sizeof(chunk),
				     outq_file(&f.q)),
		    sizeof(chunk));
		assert_int_equal(fflush(outq_file(&f.q)), 0);
		sent += sizeof(chunk);
	}
	outq_owner_set(&f.q, NULL);
	assert_true(ow.queued > OUTQ_OWNER_HIGH);
	assert_true(outq_hold(&f.q, &ow));
	assert_int_equal(resumed, 0);
	/* The reader wakes: the loop drains the queue and says so once. */
	while (ow.queued > 0) {
		got += slurp(f.rd);
		ev_run(f.loop, EVRUN_ONCE);
	}
	got += slurp(f.rd);
	assert_int_equal(got, sent);
	assert_int_equal(resumed, 1);
	assert_false(ow.blocked);
	assert_false(outq_hold(&f.q, &ow));
	assert_int_equal(f.errors, 0);
	assert_int_equal(outq_sync(&f.q), 0);
	assert_int_equal(fcntl(f.wr, F_GETFL), fl0);
	teardown_pipe(&f);
}

/* The reader is gone and SIGPIPE ignored: EPIPE is reported once, from
 * the loop, and later writes are dropped rather than failing again. */
static void
test_closed_pipe(void **state)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	struct fixture f;

	sigaction(SIGPIPE, &ign, &old);
	setup_pipe(&f);
	close(f.rd);
	f.rd = -1;
	fputs("lost\n", outq_file(&f.q));
	fflush(outq_file(&f.q));
	assert_int_equal(f.errors, 0); /* never inside the write */
	ev_run(f.loop, EVRUN_ONCE);
	assert_int_equal(f.errors, 1);
	assert_int_equal(f.last_err, EPIPE);
	fputs("more\n", outq_file(&f.q));
	fflush(outq_file(&f.q));
	ev_run(f.loop, EVRUN_NOWAIT);
	assert_int_equal(f.errors, 1);
	assert_int_equal(outq_sync(&f.q), EPIPE);
	teardown_pipe(&f);
	sigaction(SIGPIPE, &old, NULL);
}

/* Not a pipe (here /dev/full): written through, and the failure kept. */
static void
test_full_device(void **state)
{
	struct outq q;
	int fd;

	if ((fd = open("/dev/full", O_WRONLY)) < 0)
		skip();
	assert_int_equal(outq_init(&q, NULL, fd, "stdout", NULL, NULL), 0);
	fputs("x\n", outq_file(&q));
	fflush(outq_file(&q));
	assert_int_equal(outq_sync(&q), ENOSPC);
	assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
	outq_free(&q);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stalled_reader),
		cmocka_unit_test(test_closed_pipe),
		cmocka_unit_test(test_full_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
