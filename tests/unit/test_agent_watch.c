/*
 * muster-agent's Watch streams end to end: the built agent
 * ($MUSTER_AGENT) over pipes, as in test_agent_exec.c, sampling this machine.
 * Samples are checked against what this machine's /proc says, timing only
 * loosely (a loaded machine, or valgrind, stretches every interval).
 * test_cost counts what a Sample costs (read calls, bytes, descriptors);
 * the CPU and memory of a long watch are bench/soak-watch's business.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_client.h"

#define RESULT_EOF 11	   /* MERR_EOF on the wire */
#define RESULT_NOTFOUND 24 /* MERR_NOTFOUND on the wire */
#define NO_NAMESPACE "no mount namespace\n"
#define WATCH_LIMIT 16 /* CHAN_MAX_WATCHES */

/* --- messages -------------------------------------------------------- */

static void
send_watch(struct agent *a, uint32_t id, uint32_t interval_ms)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Watch w = MUSTER__WATCH__INIT;

	w.interval_ms = interval_ms;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_WATCH;
	env.watch = &w;
	assert_int_equal(agent_send(a, &env), 0);
}

static void
send_sh(struct agent *a, uint32_t id, const char *sh, uint32_t window)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;

	ex.shell_command.data = (uint8_t *)sh;
	ex.shell_command.len = strlen(sh);
	ex.window = window;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(a, &env), 0);
}

static void
send_stream_error(struct agent *a, uint32_t id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error e = MUSTER__ERROR__INIT;

	e.code = 6;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &e;
	assert_int_equal(agent_send(a, &env), 0);
}

/* The next frame, which must be on stream id and of kind bc. */
static Muster__Envelope *
expect_frame(struct agent *a, uint32_t id, Muster__Envelope__BodyCase bc,
    double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env == NULL)
		fail_msg("no frame %d on stream %u within %.0f ms", (int)bc,
		    id, ms);
	if (env->stream != id || env->body_case != bc)
		fail_msg("frame %d on stream %u, expected %d on %u",
		    (int)env->body_case, env->stream, (int)bc, id);
	return env;
}

/* The Result that ends a watch: ok after a Cancel, entries the Samples
 * sent. */
static void
expect_result(struct agent *a, uint32_t id, int ok, uint32_t samples)
{
	Muster__Envelope *env;

	env = expect_frame(a, id, MUSTER__ENVELOPE__BODY_RESULT, WAIT_MS);
	assert_int_equal(env->result->ok, ok);
	assert_int_equal(env->result->entries, samples);
	frame_free(env);
}

/* --- this machine ------------------------------------------------------ */

static uint64_t
meminfo_total(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	assert_true(kb > 0);
	return kb * 1024;
}

static double
first_number(const char *path)
{
	double v = -1;
	FILE *f = fopen(path, "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lf", &v), 1);
	fclose(f);
	return v;
}

static int
bytes_are(const ProtobufCBinaryData *b, const char *s)
{
	return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

static double
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * /proc/loadavg when the last Sample was checked (or the watch opened):
 * the next Sample was read after that and before its check, and the load
 * changes every 5 s, by more than 1.0 at once on a busy machine.
 */
static double load_before;

static void
load_mark(void)
{
	load_before = first_number("/proc/loadavg");
}

/* A Sample that makes sense for this machine. The first of a watch has no
 * rates. */
static void
check_sample(const Muster__Sample *s, int first)
{
	double pct_sum, load_now = first_number("/proc/loadavg");
	int root = 0;
	size_t i;

	assert_true(fabs((double)s->ts_ms - wall_ms()) < 60000);
	assert_true(s->mem_total_bytes == meminfo_total());
	assert_true(s->mem_available_bytes <= s->mem_total_bytes);
	assert_true(
	    s->mem_used_bytes + s->mem_available_bytes == s->mem_total_bytes);
	assert_true(s->swap_used_bytes <= s->swap_total_bytes);
	assert_int_equal(s->ncpu, sysconf(_SC_NPROCESSORS_ONLN));
	/* The load moves while we look, fastest on a busy CI machine. */
	assert_true(fabs(s->load1 - load_now) <= fmax(1.0, 0.25 * load_now) ||
	    fabs(s->load1 - load_before) <= fmax(1.0, 0.25 * load_before));
	load_before = load_now;
	assert_true(s->load5 >= 0 && s->load15 >= 0);
	assert_true(fabs(s->uptime_s - first_number("/proc/uptime")) < 60);
	assert_true(s->procs > 0);
	for (i = 0; i < s->n_disks; i++) {
		if (bytes_are(&s->disks[i]->mount, "/"))
			root = 1;
		assert_true(s->disks[i]->total_bytes > 0);
		assert_true(
		    s->disks[i]->used_bytes <= s->disks[i]->total_bytes);
		assert_true(s->disks[i]->avail_bytes <=
		    s->disks[i]->total_bytes - s->disks[i]->used_bytes);
		assert_true(
		    s->disks[i]->inodes_used <= s->disks[i]->inodes_total);
		assert_false(bytes_are(&s->disks[i]->fstype, "proc"));
		assert_false(bytes_are(&s->disks[i]->fstype, "tmpfs"));
		assert_false(bytes_are(&s->disks[i]->fstype, "cgroup2"));
	}
	assert_true(root);
	for (i = 0; i < s->n_net; i++) {
		assert_false(bytes_are(&s->net[i]->iface, "lo"));
		assert_true(s->net[i]->rx_bytes_per_s >= 0);
		assert_true(s->net[i]->tx_bytes_per_s >= 0);
		if (first)
			assert_true(s->net[i]->rx_bytes_per_s == 0 &&
			    s->net[i]->tx_bytes_per_s == 0);
	}
	assert_true(s->disk_read_bytes_per_s >= 0);
	assert_true(s->disk_write_bytes_per_s >= 0);
	/* Busy is all but idle and iowait; user, system and steal are part
	 * of it, iowait is not. */
	pct_sum = s->cpu_user_pct + s->cpu_system_pct + s->cpu_steal_pct;
	assert_true(s->cpu_pct >= 0 && s->cpu_iowait_pct >= 0);
	assert_true(s->cpu_pct + s->cpu_iowait_pct <= 100.0001);
	assert_true(pct_sum >= 0 && pct_sum <= s->cpu_pct + 0.0001);
	if (first)
		assert_true(s->cpu_pct == 0 && s->disk_read_bytes_per_s == 0 &&
		    s->disk_write_bytes_per_s == 0);
}

/* --- tests -------------------------------------------------------------- */

static void
test_samples(void **state)
{
	Muster__Envelope *env;
	uint64_t last_ts = 0;
	struct agent a;
	int i;

	agent_start(&a);
	load_mark();
	send_watch(&a, 1, 250);
	for (i = 0; i < 4; i++) {
		env = expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE,
		    WAIT_MS);
		check_sample(env->sample, i == 0);
		assert_true(env->sample->ts_ms >= last_ts);
		last_ts = env->sample->ts_ms;
		frame_free(env);
	}
	send_cancel(&a, 1);
	/* Samples sent before the Cancel arrived come first. */
	for (;;) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		assert_int_equal(env->stream, 1);
		if (env->body_case != MUSTER__ENVELOPE__BODY_SAMPLE)
			break;
		check_sample(env->sample, 0);
		frame_free(env);
		i++;
	}
	assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_RESULT);
	assert_true(env->result->ok);
	assert_int_equal(env->result->entries, i);
	assert_int_equal(env->result->message.len, 0);
	frame_free(env);
	/* The id is free again: a second Cancel is dropped, a new Watch on
	 * it works. */
	send_cancel(&a, 1);
	send_watch(&a, 1, 250);
	env = expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS);
	frame_free(env);
	send_cancel(&a, 1);
	agent_finish(&a);
}

/* Samples within window_ms of the first, which comes at once. */
static int
count_samples(struct agent *a, uint32_t id, double window_ms)
{
	Muster__Envelope *env;
	double end;
	int n = 1;

	env = expect_frame(a, id, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS);
	frame_free(env);
	end = now_ms() + window_ms;
	while ((env = agent_recv(a, end - now_ms())) != NULL) {
		assert_int_equal(env->stream, id);
		assert_int_equal(env->body_case,
		    MUSTER__ENVELOPE__BODY_SAMPLE);
		frame_free(env);
		n++;
	}
	return n;
}

static void
drain_until_result(struct agent *a, uint32_t id)
{
	Muster__Envelope *env;

	for (;;) {
		env = agent_recv(a, WAIT_MS);
		assert_non_null(env);
		assert_int_equal(env->stream, id);
		if (env->body_case == MUSTER__ENVELOPE__BODY_RESULT)
			break;
		assert_int_equal(env->body_case,
		    MUSTER__ENVELOPE__BODY_SAMPLE);
		frame_free(env);
	}
	assert_true(env->result->ok);
	frame_free(env);
}

static void
expect_quiet(struct agent *a, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env != NULL)
		fail_msg("unexpected frame %d on stream %u",
		    (int)env->body_case, env->stream);
}

static void
test_interval(void **state)
{
	struct agent a;
	int n;

	agent_start(&a);
	/* 250 ms: the first and at least one more in a second, not a
	 * flood. */
	send_watch(&a, 1, 250);
	n = count_samples(&a, 1, 2000);
	assert_true(n >= 2 && n < 40);
	send_cancel(&a, 1);
	drain_until_result(&a, 1);

	/* 1 ms is clamped to 250 ms. */
	send_watch(&a, 2, 1);
	n = count_samples(&a, 2, 1000);
	assert_true(n >= 1 && n < 20); /* not 1000 */
	send_cancel(&a, 2);
	drain_until_result(&a, 2);

	/* 0 means 5 s, and 2^32 - 1 ms is clamped to an hour: only the
	 * first Sample comes within a second. */
	send_watch(&a, 3, 0);
	send_watch(&a, 4, UINT32_MAX);
	frame_free(
	    expect_frame(&a, 3, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	frame_free(
	    expect_frame(&a, 4, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	expect_quiet(&a, 1000);
	send_cancel(&a, 3);
	expect_result(&a, 3, 1, 1);
	send_cancel(&a, 4);
	expect_result(&a, 4, 1, 1);
	agent_finish(&a);
}

/* An Exec next to a Watch on the same channel runs as it would alone. */
static void
test_exec_next_to_watch(void **state)
{
	const char *out = "one\ntwo\n";
	Muster__Envelope *env;
	struct agent a;
	int samples = 0, eofs = 0, exited = 0;
	size_t got = 0;
	char buf[64];

	agent_start(&a);
	load_mark();
	send_watch(&a, 1, 250);
	send_sh(&a, 2, "echo one; sleep 1; echo two", 0);
	while (!exited) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		if (env->stream == 1) {
			assert_int_equal(env->body_case,
			    MUSTER__ENVELOPE__BODY_SAMPLE);
			check_sample(env->sample, samples == 0);
			samples++;
			frame_free(env);
			continue;
		}
		assert_int_equal(env->stream, 2);
		switch (env->body_case) {
		case MUSTER__ENVELOPE__BODY_DATA:
			assert_int_equal(env->data->fd, 1);
			assert_true(got + env->data->data.len <= strlen(out));
			memcpy(buf + got, env->data->data.data,
			    env->data->data.len);
			got += env->data->data.len;
			break;
		case MUSTER__ENVELOPE__BODY_EOF: eofs++; break;
		case MUSTER__ENVELOPE__BODY_EXIT:
			assert_int_equal(eofs, 2);
			assert_int_equal(env->exit->code, 0);
			assert_int_equal(env->exit->signal, 0);
			exited = 1;
			break;
		default: fail_msg("unexpected frame %d", (int)env->body_case);
		}
		frame_free(env);
	}
	assert_int_equal(got, strlen(out));
	assert_memory_equal(buf, out, got);
	/* The command took a second: Samples kept coming meanwhile. */
	assert_true(samples >= 2);
	send_cancel(&a, 1);
	drain_until_result(&a, 1);
	agent_finish(&a);
}

static void
test_limit_and_duplicate(void **state)
{
	Muster__Envelope *env;
	int seen[WATCH_LIMIT + 1] = { 0 }, n = 0, errors = 0;
	struct agent a;
	uint32_t id;

	agent_start(&a);
	for (id = 1; id <= WATCH_LIMIT; id++)
		send_watch(&a, id, 3600000);
	/* One more is refused with an Error, and nothing else on it. */
	send_watch(&a, 100, 250);
	/* A Watch on an open id is refused; the open one carries on. */
	send_watch(&a, 1, 250);
	/* The Errors may come before or among the Samples. */
	while (n < WATCH_LIMIT || errors < 2) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		if (env->body_case == MUSTER__ENVELOPE__BODY_ERROR) {
			if (env->stream == 100)
				assert_int_equal(env->error->code,
				    -MERR_LIMIT);
			else {
				assert_int_equal(env->stream, 1);
				assert_int_equal(env->error->code,
				    -MERR_PROTOCOL);
			}
			errors++;
			frame_free(env);
			continue;
		}
		assert_int_equal(env->body_case,
		    MUSTER__ENVELOPE__BODY_SAMPLE);
		assert_true(env->stream >= 1 && env->stream <= WATCH_LIMIT);
		assert_false(seen[env->stream]);
		seen[env->stream] = 1;
		n++;
		frame_free(env);
	}
	expect_quiet(&a, 300);
	/* Every one is independent: ending one frees a place. */
	send_cancel(&a, 5);
	expect_result(&a, 5, 1, 1);
	send_watch(&a, 100, 3600000);
	frame_free(
	    expect_frame(&a, 100, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	for (id = 1; id <= WATCH_LIMIT; id++) {
		if (id == 5)
			continue;
		send_cancel(&a, id);
		expect_result(&a, id, 1, 1);
	}
	/* The Exec limit is another: a command still runs. */
	send_sh(&a, 7, "exit 3", 0);
	frame_free(expect_frame(&a, 7, MUSTER__ENVELOPE__BODY_EOF, WAIT_MS));
	frame_free(expect_frame(&a, 7, MUSTER__ENVELOPE__BODY_EOF, WAIT_MS));
	env = expect_frame(&a, 7, MUSTER__ENVELOPE__BODY_EXIT, WAIT_MS);
	assert_int_equal(env->exit->code, 3);
	frame_free(env);
	send_cancel(&a, 100);
	expect_result(&a, 100, 1, 1);
	agent_finish(&a);
}

/* Data or Eof on a watch ends it with an Error, not a Result; Credit
 * changes nothing; Error from the controller is a Cancel. */
static void
test_misuse(void **state)
{
	Muster__Envelope *env;
	struct agent a;

	agent_start(&a);
	send_watch(&a, 1, 3600000);
	frame_free(
	    expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	assert_int_equal(send_credit(&a, 1, 1000), 0);
	expect_quiet(&a, 200);
	assert_int_equal(send_data(&a, 1, 0, "x", 1), 0);
	expect_error(&a, 1, MERR_PROTOCOL);
	expect_quiet(&a, 300);

	send_watch(&a, 2, 3600000);
	frame_free(
	    expect_frame(&a, 2, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	send_eof(&a, 2, 0);
	expect_error(&a, 2, MERR_PROTOCOL);
	expect_quiet(&a, 300);

	send_watch(&a, 3, 3600000);
	frame_free(
	    expect_frame(&a, 3, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	send_stream_error(&a, 3);
	expect_result(&a, 3, 1, 1);
	send_ping(&a, 42);
	expect_pong(&a, 42);
	agent_finish(&a);

	/* A Watch on stream 0, or a Sample from the controller, breaks
	 * the protocol. */
	agent_start(&a);
	send_watch(&a, 0, 250);
	expect_error(&a, 0, MERR_PROTOCOL);
	agent_close(&a);
	assert_int_equal(WEXITSTATUS(agent_wait(&a, WAIT_MS)), 3);
	agent_free(&a);
	agent_start(&a);
	env = &(Muster__Envelope)MUSTER__ENVELOPE__INIT;
	{
		Muster__Sample smp = MUSTER__SAMPLE__INIT;

		env->stream = 9;
		env->body_case = MUSTER__ENVELOPE__BODY_SAMPLE;
		env->sample = &smp;
		assert_int_equal(agent_send(&a, env), 0);
	}
	expect_error(&a, 0, MERR_PROTOCOL);
	agent_close(&a);
	assert_int_equal(WEXITSTATUS(agent_wait(&a, WAIT_MS)), 3);
	agent_free(&a);
}

/* The end of the channel ends a watch with a failed Result. */
static void
test_shutdown(void **state)
{
	Muster__Envelope *env;
	struct agent a;
	int st;

	agent_start(&a);
	send_watch(&a, 1, 3600000);
	frame_free(
	    expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	kill(a.pid, SIGTERM);
	env = expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_RESULT, WAIT_MS);
	assert_false(env->result->ok);
	assert_int_equal(env->result->code, RESULT_EOF);
	assert_int_equal(env->result->entries, 1);
	assert_true(bytes_are(&env->result->message, "agent shutting down"));
	frame_free(env);
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	agent_free(&a);
}

/*
 * While the agent's output queue is full (the controller does not read),
 * Samples that fall due are skipped, not queued: after a stall, the next
 * Sample's timestamp jumps, and the Result counts only those sent.
 */
static void
test_skipped_while_congested(void **state)
{
	Muster__Envelope *env;
	uint64_t prev_ts = 0, gap = 0;
	double stall_ms = 3000;
	int samples = 0, exited = 0, after = 0;
	struct agent a;

	agent_start(&a);
	send_watch(&a, 1, 250);
	/* 32 MiB of output with credit for all of it: the queue goes over
	 * its high mark as soon as we stop reading. */
	send_sh(&a, 2, "head -c 33554432 /dev/zero", 64u << 20);
	usleep(stall_ms * 1000);
	/* Until the command is done and a Sample came after it, when the
	 * queue is short again. */
	while (!exited || after == 0) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		if (env->stream == 1) {
			assert_int_equal(env->body_case,
			    MUSTER__ENVELOPE__BODY_SAMPLE);
			if (samples > 0 && env->sample->ts_ms - prev_ts > gap)
				gap = env->sample->ts_ms - prev_ts;
			prev_ts = env->sample->ts_ms;
			samples++;
			after = exited;
		} else if (env->body_case == MUSTER__ENVELOPE__BODY_EXIT) {
			assert_int_equal(env->exit->code, 0);
			exited = 1;
		}
		frame_free(env);
	}
	/* Queued Samples would be 250 ms apart all through the stall. */
	assert_true(gap >= stall_ms * 2 / 3);
	send_cancel(&a, 1);
	for (;;) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		assert_int_equal(env->stream, 1);
		if (env->body_case == MUSTER__ENVELOPE__BODY_RESULT)
			break;
		samples++;
		frame_free(env);
	}
	assert_true(env->result->ok);
	assert_int_equal(env->result->entries, samples);
	frame_free(env);
	agent_finish(&a);
}

/* In the agent's process: an empty /proc, in a mount namespace of its
 * own. Where that is not allowed, the agent says so on stderr. */
static void
hide_proc(void)
{
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("none", "/proc", "tmpfs", 0, NULL) != 0)
		(void)!write(2, NO_NAMESPACE, strlen(NO_NAMESPACE));
}

/* Without /proc a watch ends at once, saying why. */
static void
test_no_proc(void **state)
{
	const char *wrap = getenv("MUSTER_AGENT_WRAPPER");
	const char *want = "open /proc/stat: No such file or directory";
	Muster__Envelope *env;
	struct agent a;
	char err[256];

	/* valgrind needs /proc itself, and so does the sanitizer runtime
	 * (its options, its leak check), built into the agent when into
	 * this test. */
	if (wrap != NULL && *wrap != '\0')
		skip();
#ifdef __SANITIZE_ADDRESS__
	skip();
#endif
	agent_child_setup = hide_proc;
	agent_start(&a);
	agent_child_setup = NULL;
	agent_stderr(&a, err, sizeof(err));
	if (strstr(err, NO_NAMESPACE) != NULL) {
		agent_finish(&a);
		skip();
	}
	send_watch(&a, 1, 250);
	env = expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_RESULT, WAIT_MS);
	assert_false(env->result->ok);
	assert_int_equal(env->result->code, RESULT_NOTFOUND);
	assert_int_equal(env->result->entries, 0);
	assert_true(bytes_are(&env->result->message, want));
	frame_free(env);
	/* The channel carries on. */
	send_ping(&a, 7);
	expect_pong(&a, 7);
	agent_finish(&a);
}

/* The files a Watch samples (agent/sample.c), and how far the agent
 * reads each at most (FILE_READ_MAX). */
static const char *const cost_sources[] = {
	"/proc/stat",
	"/proc/meminfo",
	"/proc/loadavg",
	"/proc/uptime",
	"/proc/self/mountinfo",
	"/proc/diskstats",
	"/proc/net/dev",
};
#define COST_SOURCES (sizeof(cost_sources) / sizeof(cost_sources[0]))
#define COST_FILE_MAX (1u << 20)
#define COST_SAMPLES 8

/* The size of a /proc file as read now (stat says 0); -1 if it is not
 * there (a container without /proc/diskstats, say). */
static long
proc_file_size(const char *path)
{
	static char chunk[16384];
	long size = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0 &&
	    size < (long)COST_FILE_MAX)
		size += n;
	close(fd);
	return size < (long)COST_FILE_MAX ? size : (long)COST_FILE_MAX;
}

/* read-family system calls and bytes read, from /proc/<pid>/io. */
static void
proc_io(pid_t pid, unsigned long long *syscr, unsigned long long *rchar)
{
	char path[64], line[256];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		found += sscanf(line, "syscr: %llu", syscr);
		found += sscanf(line, "rchar: %llu", rchar);
	}
	fclose(f);
	assert_int_equal(found, 2);
}

/* Whether the agent holds the file open: /proc/self/... in its name
 * resolves to /proc/<its pid>/... (and /proc/net to /proc/<pid>/net). */
static int
holds_open(pid_t pid, const char *src)
{
	char dir[64], link[320], want[128], target[256];
	struct dirent *de;
	ssize_t n;
	int found = 0;
	DIR *d;

	if (strncmp(src, "/proc/self/", 11) == 0)
		snprintf(want, sizeof(want), "/proc/%d/%s", (int)pid,
		    src + 11);
	else if (strncmp(src, "/proc/net/", 10) == 0)
		snprintf(want, sizeof(want), "/proc/%d/net/%s", (int)pid,
		    src + 10);
	else
		snprintf(want, sizeof(want), "%s", src);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	assert_non_null(d = opendir(dir));
	while (!found && (de = readdir(d)) != NULL) {
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		if ((n = readlink(link, target, sizeof(target) - 1)) <= 0)
			continue;
		target[n] = '\0';
		found = strcmp(target, want) == 0;
	}
	closedir(d);
	return found;
}

static int
count_fds(pid_t pid)
{
	char dir[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * What a Sample costs the host, counted, not timed: sample.c keeps every
 * file open and re-reads it with pread through one buffer, stopping when it
 * has what it needs. So between two Samples the agent holds each source
 * open, its descriptors do not change, and a reading takes no more read
 * calls than the files have 8 KiB pieces (plus the 0 that ends each) and
 * no more bytes than the files hold. Reopening per reading, leaking a
 * descriptor, reading a file twice or scanning more of /proc fails here.
 * The agent reports no CPU time of its own, so there is none to check.
 */
static void
test_cost(void **state)
{
	unsigned long long r0, r1, b0, b1, max_reads = 0, max_bytes = 0;
	long size;
	size_t i;
	int fds0, got, samples;
	Muster__Envelope *env;
	struct agent a;

	agent_start(&a);
	send_watch(&a, 1, 250);
	frame_free(
	    expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE, WAIT_MS));
	/* From after the first Sample: opening the files is start-up. */
	proc_io(a.pid, &r0, &b0);
	fds0 = count_fds(a.pid);
	for (i = 0; i < COST_SOURCES; i++) {
		if ((size = proc_file_size(cost_sources[i])) < 0)
			continue;
		if (!holds_open(a.pid, cost_sources[i]))
			fail_msg("the agent does not keep %s open between "
				 "Samples",
			    cost_sources[i]);
		/* Files change a little between our reading and its. */
		size += size / 4 + 4096;
		max_reads += size / 8192 + 2;
		max_bytes += size;
	}
	for (got = 1; got < COST_SAMPLES; got++)
		frame_free(expect_frame(&a, 1, MUSTER__ENVELOPE__BODY_SAMPLE,
		    WAIT_MS));
	proc_io(a.pid, &r1, &b1);
	assert_int_equal(count_fds(a.pid), fds0);
	send_cancel(&a, 1);
	/* Every Sample sent counts: one taken after the counters were read
	 * only makes the bound looser. */
	for (;;) {
		env = agent_recv(&a, WAIT_MS);
		assert_non_null(env);
		if (env->body_case == MUSTER__ENVELOPE__BODY_RESULT)
			break;
		frame_free(env);
	}
	assert_true(env->result->ok);
	samples = (int)env->result->entries;
	frame_free(env);
	assert_true(samples >= COST_SAMPLES);
	print_message("watch cost: %.1f reads, %.0f bytes per Sample "
		      "(bounds %llu, %llu)\n",
	    (double)(r1 - r0) / (COST_SAMPLES - 1),
	    (double)(b1 - b0) / (COST_SAMPLES - 1), max_reads, max_bytes);
	/* At least COST_SAMPLES - 1 readings and at most samples - 1 lie
	 * between the two counts. */
	if (getenv("MUSTER_AGENT_WRAPPER") == NULL) {
		/* Under valgrind the counts are valgrind's own too. */
		assert_true(r1 - r0 <= max_reads * (samples - 1));
		assert_true(b1 - b0 <= max_bytes * (samples - 1));
		assert_true(r1 - r0 >= COST_SAMPLES - 1);
	}
	agent_finish(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_interval),
		cmocka_unit_test(test_exec_next_to_watch),
		cmocka_unit_test(test_limit_and_duplicate),
		cmocka_unit_test(test_misuse),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_skipped_while_congested),
		cmocka_unit_test(test_no_proc),
		cmocka_unit_test(test_cost),
	};

	agent_test_init(6);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
