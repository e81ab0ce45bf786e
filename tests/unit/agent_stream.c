/* Streams of commands run by the agent, for its tests (agent_stream.h). */
#include "agent_stream.h"

void
send_exec(struct agent *a, uint32_t id, const struct xopt *o)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	ProtobufCBinaryData args[16];
	size_t n = 0;

	if (o->argv != NULL) {
		for (n = 0; o->argv[n] != NULL; n++) {
			assert_true(n < 16);
			args[n].data = (uint8_t *)o->argv[n];
			args[n].len = strlen(o->argv[n]);
		}
		ex.n_argv = n;
		ex.argv = args;
	}
	if (o->sh != NULL) {
		ex.shell_command.data = (uint8_t *)o->sh;
		ex.shell_command.len = strlen(o->sh);
	}
	ex.timeout_ms = o->timeout_ms;
	ex.kill_grace_ms = o->grace_ms;
	ex.window = o->window;
	ex.want_stdin = o->want_stdin;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(a, &env), 0);
}

void
send_sh(struct agent *a, uint32_t id, const char *sh)
{
	struct xopt o = { .sh = sh };

	send_exec(a, id, &o);
}

void
res_init(struct res *r, uint32_t id)
{
	int i;

	memset(r, 0, sizeof(*r));
	r->id = id;
	for (i = 0; i < 3; i++)
		buf_init(&r->out[i], 16u << 20);
}

void
res_free(struct res *r)
{
	int i;

	for (i = 0; i < 3; i++)
		buf_free(&r->out[i]);
}

int
res_is(const struct res *r, int fd, const char *s)
{
	return buf_len(&r->out[fd]) == strlen(s) &&
	    memcmp(buf_ptr(&r->out[fd]), s, strlen(s)) == 0;
}

int
pump(struct agent *a, struct res *rs, size_t n, int auto_credit, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);
	struct res *r = NULL;
	size_t i;
	uint32_t fd;

	if (env == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (rs[i].id == env->stream)
			r = &rs[i];
	if (r == NULL)
		fail_msg("frame %d for unexpected stream %u",
		    (int)env->body_case, env->stream);
	assert_false(r->exited);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_DATA:
		fd = env->data->fd;
		assert_true(fd == 1 || fd == 2);
		assert_false(r->eof[fd]);
		assert_true(env->data->data.len <= FRAME_DATA_CHUNK);
		assert_int_equal(buf_append(&r->out[fd], env->data->data.data,
				     env->data->data.len),
		    0);
		r->received += env->data->data.len;
		if (auto_credit && env->data->data.len > 0)
			assert_int_equal(
			    send_credit(a, r->id, env->data->data.len), 0);
		break;
	case MUSTER__ENVELOPE__BODY_EOF:
		fd = env->eof->fd;
		assert_true(fd == 1 || fd == 2);
		assert_false(r->eof[fd]);
		r->eof[fd] = 1;
		break;
	case MUSTER__ENVELOPE__BODY_EXIT:
		assert_true(r->eof[1] && r->eof[2]);
		r->exited = 1;
		r->code = env->exit->code;
		r->sig = env->exit->signal;
		r->timed_out = env->exit->timed_out;
		r->t_exit = now_ms();
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		r->credited += env->credit->bytes;
		break;
	case MUSTER__ENVELOPE__BODY_ERROR:
		fail_msg("Error %u on stream %u: %.*s", env->error->code,
		    env->stream, (int)env->error->message.len,
		    (const char *)env->error->message.data);
		break;
	default:
		fail_msg("unexpected frame %d on stream %u",
		    (int)env->body_case, env->stream);
	}
	frame_free(env);
	return 1;
}

void
collect(struct agent *a, struct res *rs, size_t n, int auto_credit)
{
	double deadline = now_ms() + WAIT_MS;
	size_t i, done;

	for (;;) {
		for (i = done = 0; i < n; i++)
			done += rs[i].exited;
		if (done == n)
			return;
		if (now_ms() > deadline)
			fail_msg("streams did not end in time");
		(void)pump(a, rs, n, auto_credit, deadline - now_ms());
	}
}

static size_t
count_lines(const struct buf *b)
{
	size_t i, n = 0;

	for (i = 0; i < buf_len(b); i++)
		n += buf_ptr(b)[i] == '\n';
	return n;
}

void
read_pids(struct agent *a, struct res *r, pid_t *pids, size_t n)
{
	double deadline = now_ms() + WAIT_MS;
	char text[256], *p;
	size_t i, len;

	while (count_lines(&r->out[1]) < n) {
		assert_true(now_ms() < deadline);
		(void)pump(a, r, 1, 1, deadline - now_ms());
	}
	len = buf_len(&r->out[1]);
	assert_true(len < sizeof(text));
	memcpy(text, buf_ptr(&r->out[1]), len);
	text[len] = '\0';
	for (i = 0, p = text; i < n; i++) {
		pids[i] = (pid_t)strtol(p, &p, 10);
		assert_true(pids[i] > 1);
	}
}

pid_t
read_pid(struct agent *a, struct res *r)
{
	pid_t pid;

	read_pids(a, r, &pid, 1);
	return pid;
}

/* Reaped, or a zombie: dead either way. An orphan's zombie waits for
 * init, which on some machines takes its time. */
static int
is_dead(pid_t pid)
{
	char path[64], stat[512], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return errno == ENOENT;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	stat[n] = '\0';
	/* "pid (comm) S ...": comm may hold spaces and parentheses. */
	return (p = strrchr(stat, ')')) != NULL && p[1] == ' ' && p[2] == 'Z';
}

void
assert_gone(pid_t pid, double ms)
{
	double deadline = now_ms() + ms;

	assert_true(pid > 1);
	while (!is_dead(pid)) {
		if (now_ms() > deadline)
			fail_msg("process %d still exists", (int)pid);
		usleep(10000);
	}
}
