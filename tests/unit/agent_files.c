/* Put and Get against the agent, for its tests (agent_files.h). */
#include "agent_files.h"

void
tdir_make(struct tdir *t)
{
	strcpy(t->path, "/tmp/muster-files.XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

void
tdir_remove(struct tdir *t)
{
	char cmd[128];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path) <
	    (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

void
files_begin(struct tdir *t, struct agent *a)
{
	tdir_make(t);
	agent_start(a);
}

void
files_end(struct tdir *t, struct agent *a)
{
	agent_finish(a);
	tdir_remove(t);
}

const char *
at(const char *dir, const char *name)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];

	assert_true(snprintf(b, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
	return b;
}

void
write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

void
assert_file_is(const char *path, const void *p, size_t n)
{
	struct stat st;
	uint8_t *got;
	int fd;

	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, n);
	assert_non_null(got = malloc(n + 1));
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(fd, got, n + 1), (ssize_t)n);
	close(fd);
	assert_memory_equal(got, p, n);
	free(got);
}

int
count_entries(const char *dir, int *temps)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	*temps = 0;
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
			(*temps)++;
	}
	closedir(d);
	return n;
}

void
assert_entries(const char *dir, int want)
{
	int temps, n = count_entries(dir, &temps);

	assert_int_equal(temps, 0);
	assert_int_equal(n, want);
}

uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9) * 7);
	return p;
}

void
sha256_of(const void *p, size_t n, uint8_t out[SHA_LEN])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

struct popt
put_file_opt(const char *path, const void *p, size_t n, uint32_t mode)
{
	struct popt o = { .path = path,
		.kind = KIND_FILE,
		.mode = mode,
		.size = n,
		.sha_len = SHA_LEN,
		.uid = -1,
		.gid = -1 };

	sha256_of(p, n, o.sha);
	return o;
}

struct popt
put_other_opt(const char *path, uint32_t kind, uint32_t mode,
    const char *target)
{
	struct popt o = { .path = path,
		.kind = kind,
		.mode = mode,
		.target = target,
		.uid = -1,
		.gid = -1 };

	return o;
}

void
send_put(struct agent *a, uint32_t id, const struct popt *o)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Put p = MUSTER__PUT__INIT;

	p.path.data = (uint8_t *)o->path;
	p.path.len = strlen(o->path);
	if (o->root != NULL) {
		p.root.data = (uint8_t *)o->root;
		p.root.len = strlen(o->root);
	}
	p.kind = o->kind;
	p.mode = o->mode;
	p.size = o->size;
	p.sha256.data = (uint8_t *)o->sha;
	p.sha256.len = o->sha_len;
	if (o->target != NULL) {
		p.link_target.data = (uint8_t *)o->target;
		p.link_target.len = strlen(o->target);
	}
	p.mkdir = o->mkdir;
	p.uid = o->uid;
	p.gid = o->gid;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT;
	env.put = &p;
	assert_int_equal(agent_send(a, &env), 0);
}

void
put_take(struct pres *r, Muster__Envelope *env)
{
	size_t n;

	if (env->stream != r->id || r->done)
		fail_msg("frame %d for stream %u", (int)env->body_case,
		    env->stream);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_PUT_READY:
		assert_false(r->ready);
		r->ready = 1;
		r->unchanged = env->put_ready->unchanged;
		break;
	case MUSTER__ENVELOPE__BODY_CREDIT:
		assert_true(r->ready && !r->unchanged);
		r->credited += env->credit->bytes;
		break;
	case MUSTER__ENVELOPE__BODY_RESULT:
		r->done = 1;
		r->ok = env->result->ok;
		r->changed = env->result->changed;
		r->bytes = env->result->bytes;
		r->code = env->result->code;
		n = env->result->message.len;
		if (n >= sizeof(r->msg))
			n = sizeof(r->msg) - 1;
		if (n > 0)
			memcpy(r->msg, env->result->message.data, n);
		r->msg[n] = '\0';
		if (r->ok)
			assert_int_equal(r->code, 0);
		else
			assert_true(r->code != 0 && n > 0);
		break;
	default:
		fail_msg("unexpected frame %d on put stream %u",
		    (int)env->body_case, env->stream);
	}
	frame_free(env);
}

int
put_pump(struct agent *a, struct pres *r, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env == NULL)
		return 0;
	put_take(r, env);
	return 1;
}

void
put_wait(struct agent *a, struct pres *r, int until_done)
{
	double deadline = now_ms() + WAIT_MS;

	while (until_done ? !r->done : !r->ready && !r->done) {
		if (now_ms() > deadline)
			fail_msg("put stream %u: no %s in time", r->id,
			    until_done ? "Result" : "PutReady");
		(void)put_pump(a, r, deadline - now_ms());
	}
}

void
put_send_data(struct agent *a, struct pres *r, const uint8_t *p, size_t n,
    size_t chunk)
{
	double deadline = now_ms() + WAIT_MS;
	uint64_t window = a->hello->hello->window;
	uint64_t sent = 0, base = r->credited;
	size_t len;

	while (n > 0 && !r->done) {
		assert_true(now_ms() < deadline);
		len = n < chunk ? n : chunk;
		if (sent + len - (r->credited - base) > window) {
			(void)put_pump(a, r, deadline - now_ms());
			continue;
		}
		assert_int_equal(send_data(a, r->id, 0, p, len), 0);
		sent += len;
		p += len;
		n -= len;
	}
}

void
pres_init(struct pres *r, uint32_t id)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
}

/*
 * After a Put failed in the middle of its data, the Data still on the way
 * meets a closed id and each gets Error(MERR_STREAM), which a controller
 * ignores for an id it has seen end. Take them up to a Pong.
 */
static void
put_drain(struct agent *a, uint32_t id)
{
	Muster__Envelope *env;

	send_ping(a, id);
	for (;;) {
		assert_non_null(env = agent_recv(a, WAIT_MS));
		if (env->body_case == MUSTER__ENVELOPE__BODY_PONG) {
			frame_free(env);
			return;
		}
		assert_int_equal(env->body_case, MUSTER__ENVELOPE__BODY_ERROR);
		assert_int_equal(env->stream, id);
		assert_int_equal(env->error->code, -MERR_STREAM);
		frame_free(env);
	}
}

void
put_start(struct agent *a, uint32_t id, const struct popt *o, struct pres *r,
    int until_done)
{
	pres_init(r, id);
	send_put(a, id, o);
	put_wait(a, r, until_done);
}

void
put_run(struct agent *a, uint32_t id, const struct popt *o, const void *p,
    size_t n, struct pres *r)
{
	put_start(a, id, o, r, 0);
	if (r->ready && !r->unchanged && o->kind == KIND_FILE) {
		put_send_data(a, r, p, n, FRAME_DATA_CHUNK);
		if (!r->done)
			send_eof(a, id, 0);
	}
	put_wait(a, r, 1);
	put_drain(a, id);
}

void
assert_put_ok(const struct pres *r, int changed)
{
	if (!r->ok)
		fail_msg("put failed (%u): %s", r->code, r->msg);
	assert_int_equal(r->changed, changed);
}

void
assert_put_fails(const struct pres *r, int code, const char *text)
{
	assert_false(r->ok);
	assert_false(r->changed);
	assert_int_equal(r->code, -code);
	if (strstr(r->msg, text) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", r->msg, text);
}
