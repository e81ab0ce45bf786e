/*
 * muster-agent's Put and Get streams end to end: the built agent
 * ($MUSTER_AGENT) over pipes, as in test_agent.c, installing and reading
 * files in a fresh directory under /tmp per test. Checksums come from
 * libcrypto, independent of the agent's own SHA-256.
 *
 * The tests run as root (the fleet containers do), so permission errors
 * are provoked with other means: a file where a directory should be, a
 * tiny tmpfs for ENOSPC, a read-only bind mount for EROFS; the mounts are
 * skipped where mounting is not allowed.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent_client.h"

#define SHA_LEN 32
#define KIND_FILE 0
#define KIND_DIR 1
#define KIND_LINK 2
#define TMP_PREFIX ".muster-tmp."

/* --- the file system side ---------------------------------------------- */

struct tdir {
	char path[64];
};

static void
tdir_make(struct tdir *t)
{
	strcpy(t->path, "/tmp/muster-files.XXXXXX");
	assert_non_null(mkdtemp(t->path));
}

static void
tdir_remove(struct tdir *t)
{
	char cmd[128];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path) <
	    (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

/* dir/name in a static buffer, one of a few in rotation. */
static const char *
at(const char *dir, const char *name)
{
	static char bufs[4][PATH_MAX];
	static int next;
	char *b = bufs[next++ % 4];

	assert_true(snprintf(b, PATH_MAX, "%s/%s", dir, name) < PATH_MAX);
	return b;
}

static void
write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The file's bytes are exactly p[0..n). */
static void
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

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Entries in dir, temporary files of ours among them. */
static int
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

static void
assert_entries(const char *dir, int want)
{
	int temps, n = count_entries(dir, &temps);

	assert_int_equal(temps, 0);
	assert_int_equal(n, want);
}

static uint8_t *
pattern(size_t n, unsigned seed)
{
	uint8_t *p = malloc(n ? n : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9) * 7);
	return p;
}

static void
sha256_of(const void *p, size_t n, uint8_t out[SHA_LEN])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

/* --- Put ------------------------------------------------------------- */

struct popt {
	const char *path;
	const char *root; /* NULL: no root */
	uint32_t kind;
	uint32_t mode;
	uint64_t size;
	uint8_t sha[SHA_LEN];
	size_t sha_len;
	const char *target;
	int mkdir;
	int64_t uid;
	int64_t gid;
};

static struct popt
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

static struct popt
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

static void
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

/* What a Put stream sent back. */
struct pres {
	uint32_t id;
	int ready;
	int unchanged;
	uint64_t credited;
	int done;
	int ok;
	int changed;
	uint64_t bytes;
	uint32_t code;
	char msg[1024];
};

/* Take a frame of stream r->id (and free it). Nothing may follow the
 * Result, and PutReady comes at most once, before it. */
static void
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

/* The next frame, of stream r->id; 0 on timeout. */
static int
put_pump(struct agent *a, struct pres *r, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env == NULL)
		return 0;
	put_take(r, env);
	return 1;
}

static void
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

/* Send p[0..n) as Data within the agent's window, in chunks of at most
 * chunk bytes. */
static void
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

static void
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

/* A whole Put: request, data if asked for, Eof, Result. */
static void
put_run(struct agent *a, uint32_t id, const struct popt *o, const void *p,
    size_t n, struct pres *r)
{
	pres_init(r, id);
	send_put(a, id, o);
	put_wait(a, r, 0);
	if (r->ready && !r->unchanged && o->kind == KIND_FILE) {
		put_send_data(a, r, p, n, FRAME_DATA_CHUNK);
		if (!r->done)
			send_eof(a, id, 0);
	}
	put_wait(a, r, 1);
	put_drain(a, id);
}

static void
assert_put_ok(const struct pres *r, int changed)
{
	if (!r->ok)
		fail_msg("put failed (%u): %s", r->code, r->msg);
	assert_int_equal(r->changed, changed);
}

static void
assert_put_fails(const struct pres *r, int code, const char *text)
{
	assert_false(r->ok);
	assert_false(r->changed);
	assert_int_equal(r->code, -code);
	if (strstr(r->msg, text) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", r->msg, text);
}

/* --- Get ------------------------------------------------------------- */

struct gentry {
	char *path;
	uint32_t kind;
	uint32_t mode;
	uint64_t size;
	char *target;
	struct buf data;
	int ended;
	int consistent; /* EntryEnd vouches for one version */
	uint32_t code;	/* != 0: skipped, nothing follows */
	uint8_t sha[SHA_LEN];
};

struct gres {
	uint32_t id;
	struct gentry e[128];
	size_t n;
	uint64_t received;
	uint64_t granted; /* credit given so far, window included */
	int done;
	int ok;
	uint64_t bytes;
	uint32_t entries;
	uint32_t skipped;
	uint32_t code;
	char msg[1024];
};

static void
send_get(struct agent *a, uint32_t id, const char *path, int recursive,
    uint32_t window)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Get g = MUSTER__GET__INIT;

	g.path.data = (uint8_t *)path;
	g.path.len = strlen(path);
	g.recursive = recursive;
	g.window = window;
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &g;
	assert_int_equal(agent_send(a, &env), 0);
}

static char *
dup_bytes(const ProtobufCBinaryData *b)
{
	char *s = malloc(b->len + 1);

	assert_non_null(s);
	if (b->len > 0)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

/* Take a frame of the Get (and free it), checking the order rules: Data
 * only within an open regular file's Entry and within credit, EntryEnd
 * after all its bytes, nothing after Result. auto_credit returns credit
 * at once. */
static void
get_take(struct agent *a, struct gres *r, Muster__Envelope *env,
    int auto_credit)
{
	struct gentry *cur = r->n > 0 ? &r->e[r->n - 1] : NULL;
	size_t n;

	if (env->stream != r->id || r->done)
		fail_msg("frame %d for stream %u", (int)env->body_case,
		    env->stream);
	switch (env->body_case) {
	case MUSTER__ENVELOPE__BODY_ENTRY:
		/* The previous regular file was ended. */
		assert_true(cur == NULL || cur->kind != KIND_FILE ||
		    cur->ended || cur->code != 0);
		assert_true(r->n < 128);
		cur = &r->e[r->n++];
		memset(cur, 0, sizeof(*cur));
		cur->path = dup_bytes(&env->entry->path);
		cur->kind = env->entry->kind;
		cur->mode = env->entry->mode;
		cur->size = env->entry->size;
		cur->target = dup_bytes(&env->entry->link_target);
		cur->code = env->entry->code;
		/* A skipped entry says why. */
		assert_true(cur->code == 0 || env->entry->message.len > 0);
		buf_init(&cur->data, 64u << 20);
		break;
	case MUSTER__ENVELOPE__BODY_DATA:
		assert_non_null(cur);
		assert_int_equal(cur->kind, KIND_FILE);
		assert_false(cur->ended);
		assert_int_equal(cur->code, 0);
		assert_int_equal(env->data->fd, 1);
		assert_true(env->data->data.len > 0);
		assert_true(env->data->data.len <= FRAME_DATA_CHUNK);
		assert_int_equal(buf_append(&cur->data, env->data->data.data,
				     env->data->data.len),
		    0);
		r->received += env->data->data.len;
		assert_true(r->received <= r->granted);
		if (auto_credit) {
			assert_int_equal(
			    send_credit(a, r->id, env->data->data.len), 0);
			r->granted += env->data->data.len;
		}
		break;
	case MUSTER__ENVELOPE__BODY_ENTRY_END:
		assert_non_null(cur);
		assert_int_equal(cur->kind, KIND_FILE);
		assert_false(cur->ended);
		assert_int_equal(env->entry_end->sha256.len, SHA_LEN);
		memcpy(cur->sha, env->entry_end->sha256.data, SHA_LEN);
		cur->ended = 1;
		cur->consistent = env->entry_end->consistent;
		/* Not vouched for: the agent says why. */
		assert_true(
		    cur->consistent || env->entry_end->message.len > 0);
		break;
	case MUSTER__ENVELOPE__BODY_RESULT:
		r->done = 1;
		r->ok = env->result->ok;
		r->bytes = env->result->bytes;
		r->entries = env->result->entries;
		r->skipped = env->result->skipped;
		r->code = env->result->code;
		n = env->result->message.len;
		if (n >= sizeof(r->msg))
			n = sizeof(r->msg) - 1;
		if (n > 0)
			memcpy(r->msg, env->result->message.data, n);
		r->msg[n] = '\0';
		break;
	default:
		fail_msg("unexpected frame %d on get stream %u",
		    (int)env->body_case, env->stream);
	}
	frame_free(env);
}

/* The next frame, of the Get; 0 on timeout. */
static int
get_pump(struct agent *a, struct gres *r, int auto_credit, double ms)
{
	Muster__Envelope *env = agent_recv(a, ms);

	if (env == NULL)
		return 0;
	get_take(a, r, env, auto_credit);
	return 1;
}

static void
gres_init(struct gres *r, uint32_t id, uint32_t window)
{
	memset(r, 0, sizeof(*r));
	r->id = id;
	r->granted = window;
}

static void
gres_free(struct gres *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->e[i].path);
		free(r->e[i].target);
		buf_free(&r->e[i].data);
	}
}

static void
get_run(struct agent *a, struct gres *r, uint32_t id, const char *path,
    int recursive)
{
	double deadline = now_ms() + WAIT_MS;
	const uint32_t window = 256 * 1024;

	gres_init(r, id, window);
	send_get(a, id, path, recursive, window);
	while (!r->done) {
		if (now_ms() > deadline)
			fail_msg("get stream %u did not end in time", id);
		(void)get_pump(a, r, 1, deadline - now_ms());
	}
}

/* Entry i is a complete regular file with these bytes. */
static void
assert_got_file(const struct gres *r, size_t i, const char *path,
    const void *p, size_t n, uint32_t mode)
{
	const struct gentry *e = &r->e[i];
	uint8_t sha[SHA_LEN];

	assert_true(i < r->n);
	assert_string_equal(e->path, path);
	assert_int_equal(e->kind, KIND_FILE);
	assert_int_equal(e->mode, mode);
	assert_int_equal(e->size, n);
	assert_true(e->ended);
	assert_true(e->consistent);
	assert_int_equal(buf_len(&e->data), n);
	if (n > 0)
		assert_memory_equal(buf_ptr(&e->data), p, n);
	sha256_of(p, n, sha);
	assert_memory_equal(e->sha, sha, SHA_LEN);
}

/* --- Put tests ------------------------------------------------------- */

static void
test_put_new_file(void **state)
{
	const size_t n = 100000;
	uint8_t *data = pattern(n, 1);
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, n, 0640);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 1);
	assert_true(r.ready && !r.unchanged);
	assert_int_equal(r.bytes, n);
	/* Every byte written was credited back. */
	assert_int_equal(r.credited, n);
	assert_file_is(at(t.path, "f"), data, n);
	assert_int_equal(mode_of(at(t.path, "f")), 0640);
	assert_entries(t.path, 1);
	/* The id is free after the Result. */
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 0);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

static void
test_put_unchanged(void **state)
{
	const size_t n = 700000;
	uint8_t *data = pattern(n, 2);
	struct stat before, after;
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, n, 0644);
	assert_int_equal(stat(at(t.path, "f"), &before), 0);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, n, 0644);
	pres_init(&r, 3);
	send_put(&a, 3, &o);
	put_wait(&a, &r, 1);
	assert_true(r.ready && r.unchanged);
	assert_put_ok(&r, 0);
	assert_int_equal(r.bytes, 0);
	/* No data is accepted: the stream is over. */
	assert_int_equal(send_data(&a, 3, 0, data, 10), 0);
	expect_error(&a, 3, MERR_STREAM);
	assert_int_equal(stat(at(t.path, "f"), &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

/* Same size, other content: the hash, not the size, decides. */
static void
test_put_same_size_other_content(void **state)
{
	const char *old = "aaaa", *new = "aaab";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, 4, 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), new, 4, 0644);
	put_run(&a, 1, &o, new, 4, &r);
	assert_put_ok(&r, 1);
	assert_false(r.unchanged);
	assert_file_is(at(t.path, "f"), new, 4);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_mode_only(void **state)
{
	const char *data = "same content\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, strlen(data), 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0755);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "f")), 0755);
	assert_file_is(at(t.path, "f"), data, strlen(data));
	/* Set-id and sticky bits are permission bits too. */
	o.mode = 04750;
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "f")), 04750);
	assert_entries(t.path, 1);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_owner(void **state)
{
	const char *data = "owned\n";
	struct stat st;
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	if (geteuid() != 0)
		skip();
	tdir_make(&t);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0600);
	o.uid = 1234;
	o.gid = 5678;
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(lstat(at(t.path, "f"), &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 0);
	/* Only the owner differs: changed. */
	o.gid = 5679;
	put_run(&a, 3, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_int_equal(lstat(at(t.path, "f"), &st), 0);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5679);
	o.uid = -2;
	put_run(&a, 4, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_INVAL, "out of range");
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_checksum_mismatch(void **state)
{
	const char *old = "old content\n", *new = "new content!\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), new, strlen(new), 0644);
	o.sha[5] ^= 1;
	put_run(&a, 1, &o, new, strlen(new), &r);
	assert_put_fails(&r, MERR_IO, "checksum mismatch");
	assert_int_equal(r.bytes, strlen(new));
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* A sha256 that is not 32 bytes is refused before any data. */
	o.sha_len = 20;
	pres_init(&r, 2);
	send_put(&a, 2, &o);
	put_wait(&a, &r, 1);
	assert_false(r.ready);
	assert_put_fails(&r, MERR_INVAL, "sha256");
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_too_many_bytes(void **state)
{
	const char *old = "old\n", *data = "0123456789";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), data, 5, 0644);
	pres_init(&r, 1);
	send_put(&a, 1, &o);
	put_wait(&a, &r, 0);
	assert_true(r.ready && !r.unchanged);
	assert_int_equal(send_data(&a, 1, 0, data, 3), 0);
	assert_int_equal(send_data(&a, 1, 0, data + 3, 7), 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_LIMIT, "more data");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* Too few: Eof early. */
	pres_init(&r, 2);
	send_put(&a, 2, &o);
	put_wait(&a, &r, 0);
	assert_int_equal(send_data(&a, 2, 0, data, 3), 0);
	send_eof(&a, 2, 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "3 of 5 bytes");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_mkdir(void **state)
{
	const char *data = "deep\n";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;
	char want[PATH_MAX];

	tdir_make(&t);
	agent_start(&a);
	o = put_file_opt(at(t.path, "x/y/f"), data, strlen(data), 0644);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_NOTFOUND,
	    "parent directory does not "
	    "exist: ");
	assert_true(
	    snprintf(want, sizeof(want),
		"parent directory does not "
		"exist: %s",
		at(t.path, "x/y")) < (int)sizeof(want));
	assert_string_equal(r.msg, want);
	assert_entries(t.path, 0);
	o.mkdir = 1;
	put_run(&a, 2, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "x/y/f"), data, strlen(data));
	/* 0755 before the umask of 022 that main() sets. */
	assert_int_equal(mode_of(at(t.path, "x")), 0755);
	assert_int_equal(mode_of(at(t.path, "x/y")), 0755);
	/* Under a root that does not exist yet. */
	o = put_file_opt("a/f", data, strlen(data), 0644);
	o.root = at(t.path, "newroot");
	put_run(&a, 3, &o, data, strlen(data), &r);
	assert_put_fails(&r, MERR_NOTFOUND, "root directory does not exist");
	o.mkdir = 1;
	put_run(&a, 4, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "newroot/a/f"), data, strlen(data));
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_parent_is_file(void **state)
{
	const char *data = "x";
	struct popt o;
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "file"), "f", 1, 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "file/f"), data, 1, 0644);
	put_run(&a, 1, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	o.mkdir = 1;
	put_run(&a, 2, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	/* The same under a root. */
	o = put_file_opt("file/f", data, 1, 0644);
	o.root = t.path;
	put_run(&a, 3, &o, data, 1, &r);
	assert_put_fails(&r, MERR_SYS, "Not a directory");
	/* A directory where a file should go. */
	assert_int_equal(mkdir(at(t.path, "d"), 0755), 0);
	o = put_file_opt(at(t.path, "d"), data, 1, 0644);
	put_run(&a, 4, &o, data, 1, &r);
	assert_put_fails(&r, MERR_EXISTS, "is a directory");
	assert_entries(t.path, 2);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
expect_refused(struct agent *a, uint32_t id, const char *root,
    const char *path, const char *text)
{
	struct popt o = put_file_opt(path, "x", 1, 0644);
	struct pres r;

	o.root = root;
	o.mkdir = 1;
	put_run(a, id, &o, "x", 1, &r);
	assert_false(r.ready);
	assert_put_fails(&r, MERR_INVAL, text);
}

static void
test_put_root_confinement(void **state)
{
	struct tdir t, outside;
	struct agent a;
	struct popt o;
	struct pres r;
	char root[PATH_MAX], link[PATH_MAX];

	tdir_make(&t);
	tdir_make(&outside);
	assert_true(snprintf(root, sizeof(root), "%s/root", t.path) <
	    (int)sizeof(root));
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(at(root, "a"), 0755), 0);
	assert_int_equal(symlink(outside.path, at(root, "evil")), 0);
	assert_int_equal(symlink(outside.path, at(root, "a/evil")), 0);
	agent_start(&a);
	expect_refused(&a, 1, root, "../x", "\"..\"");
	expect_refused(&a, 2, root, "a/../../x", "\"..\"");
	expect_refused(&a, 3, root, "a/..", "\"..\"");
	expect_refused(&a, 4, root, at(t.path, "x"), "absolute");
	expect_refused(&a, 5, root, "./x", "\".\"");
	expect_refused(&a, 6, root, "a//x", "\"\"");
	expect_refused(&a, 7, root, "a/", "\"\"");
	expect_refused(&a, 8, root, "", "empty");
	expect_refused(&a, 9, root, "evil/f", "symbolic link");
	expect_refused(&a, 10, root, "a/evil/f", "symbolic link");
	expect_refused(&a, 11, root, "evil/sub/f", "symbolic link");
	/* Nothing was written outside, nor anywhere under root. */
	assert_entries(outside.path, 0);
	assert_entries(t.path, 1);
	assert_entries(root, 2);
	/* The root itself may be reached through a symlink: it is what the
	 * user named. */
	assert_int_equal(symlink(root, at(t.path, "rootlink")), 0);
	o = put_file_opt("a/ok", "x", 1, 0644);
	assert_true(snprintf(link, sizeof(link), "%s/rootlink/", t.path) <
	    (int)sizeof(link));
	o.root = link;
	put_run(&a, 12, &o, "x", 1, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(root, "a/ok"), "x", 1);
	agent_finish(&a);
	tdir_remove(&outside);
	tdir_remove(&t);
}

static void
test_put_nul_in_path(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Put p = MUSTER__PUT__INIT;
	struct tdir t;
	struct agent a;
	struct pres r;
	char path[PATH_MAX];
	size_t len;

	tdir_make(&t);
	len = snprintf(path, sizeof(path), "%s/a", t.path);
	path[len++] = '\0';
	path[len++] = 'b';
	p.path.data = (uint8_t *)path;
	p.path.len = len;
	p.kind = KIND_DIR;
	p.mode = 0755;
	p.uid = p.gid = -1;
	env.stream = 7;
	env.body_case = MUSTER__ENVELOPE__BODY_PUT;
	env.put = &p;
	agent_start(&a);
	assert_int_equal(agent_send(&a, &env), 0);
	pres_init(&r, 7);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_INVAL, "NUL");
	assert_entries(t.path, 0);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_over_symlink(void **state)
{
	const char *data = "replacement\n", *old = "target stays\n";
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "target"), old, strlen(old), 0644);
	assert_int_equal(symlink(at(t.path, "target"), at(t.path, "f")), 0);
	assert_int_equal(symlink(at(t.path, "target"), at(t.path, "g")), 0);
	agent_start(&a);
	/* Without a root, the last component is not followed either. */
	o = put_file_opt(at(t.path, "f"), data, strlen(data), 0600);
	put_run(&a, 1, &o, data, strlen(data), &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "f"), data, strlen(data));
	assert_file_is(at(t.path, "target"), old, strlen(old));
	/* Even when the symlink's target has the very content. */
	o = put_file_opt("g", old, strlen(old), 0644);
	o.root = t.path;
	put_run(&a, 2, &o, old, strlen(old), &r);
	assert_put_ok(&r, 1);
	assert_false(r.unchanged);
	assert_file_is(at(t.path, "g"), old, strlen(old));
	assert_entries(t.path, 3);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_directory(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	struct stat st;

	tdir_make(&t);
	agent_start(&a);
	o = put_other_opt(at(t.path, "d"), KIND_DIR, 0751, NULL);
	put_run(&a, 1, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	assert_false(r.ready);
	assert_int_equal(lstat(at(t.path, "d"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* The mode exactly, whatever the umask. */
	assert_int_equal(st.st_mode & 07777, 0751);
	put_run(&a, 2, &o, NULL, 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.ready && r.unchanged);
	o.mode = 01777;
	put_run(&a, 3, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	assert_int_equal(mode_of(at(t.path, "d")), 01777);
	/* mkdir governs parents only. */
	o = put_other_opt(at(t.path, "p/q"), KIND_DIR, 0755, NULL);
	put_run(&a, 4, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_NOTFOUND, "parent directory does not");
	o.mkdir = 1;
	put_run(&a, 5, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	/* Something else in the way. */
	write_file(at(t.path, "file"), "x", 1, 0644);
	o = put_other_opt(at(t.path, "file"), KIND_DIR, 0755, NULL);
	put_run(&a, 6, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "not a directory");
	assert_int_equal(symlink("d", at(t.path, "dlink")), 0);
	o = put_other_opt(at(t.path, "dlink"), KIND_DIR, 0755, NULL);
	put_run(&a, 7, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "not a directory");
	assert_entries(t.path, 4);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_symlink(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	char buf[PATH_MAX];
	ssize_t n;

	tdir_make(&t);
	agent_start(&a);
	o = put_other_opt(at(t.path, "l"), KIND_LINK, 0, "some/target");
	put_run(&a, 1, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "l"), buf, sizeof(buf));
	assert_int_equal(n, strlen("some/target"));
	assert_memory_equal(buf, "some/target", n);
	put_run(&a, 2, &o, NULL, 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.ready && r.unchanged);
	o.target = "/other";
	put_run(&a, 3, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "l"), buf, sizeof(buf));
	assert_int_equal(n, 6);
	assert_memory_equal(buf, "/other", 6);
	/* Over a regular file: replaced. */
	write_file(at(t.path, "f"), "x", 1, 0644);
	o = put_other_opt(at(t.path, "f"), KIND_LINK, 0, "l");
	put_run(&a, 4, &o, NULL, 0, &r);
	assert_put_ok(&r, 1);
	n = readlink(at(t.path, "f"), buf, sizeof(buf));
	assert_int_equal(n, 1);
	/* Over a directory: refused. */
	assert_int_equal(mkdir(at(t.path, "d"), 0755), 0);
	o = put_other_opt(at(t.path, "d"), KIND_LINK, 0, "l");
	put_run(&a, 5, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_EXISTS, "is a directory");
	o = put_other_opt(at(t.path, "e"), KIND_LINK, 0, "");
	put_run(&a, 6, &o, NULL, 0, &r);
	assert_put_fails(&r, MERR_INVAL, "target");
	assert_entries(t.path, 3);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_put_empty_file(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), "not empty", 9, 0644);
	agent_start(&a);
	o = put_file_opt(at(t.path, "f"), "", 0, 0600);
	put_run(&a, 1, &o, "", 0, &r);
	assert_put_ok(&r, 1);
	assert_int_equal(r.bytes, 0);
	assert_file_is(at(t.path, "f"), "", 0);
	assert_int_equal(mode_of(at(t.path, "f")), 0600);
	put_run(&a, 2, &o, "", 0, &r);
	assert_put_ok(&r, 0);
	assert_true(r.unchanged);
	assert_entries(t.path, 1);
	agent_finish(&a);
	tdir_remove(&t);
}

/* Relative paths without a root are relative to the agent's directory. */
static void
test_put_relative(void **state)
{
	char cwd[PATH_MAX];
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(t.path), 0);
	agent_start(&a);
	assert_int_equal(chdir(cwd), 0);
	o = put_file_opt("sub/f", "rel", 3, 0644);
	o.mkdir = 1;
	put_run(&a, 1, &o, "rel", 3, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "sub/f"), "rel", 3);
	o = put_file_opt("sub/../g", "rel", 3, 0644);
	put_run(&a, 2, &o, "rel", 3, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "g"), "rel", 3);
	agent_finish(&a);
	tdir_remove(&t);
}

/* 5 MiB in frames of 40000 bytes: the agent's window (1 MiB) is used up
 * several times over, so the upload lives on the Credits it returns. */
static void
test_put_large_credit_limited(void **state)
{
	const size_t n = 5u << 20;
	uint8_t *data = pattern(n, 3);
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	agent_start(&a);
	o = put_file_opt(at(t.path, "big"), data, n, 0644);
	pres_init(&r, 5);
	send_put(&a, 5, &o);
	put_wait(&a, &r, 0);
	put_send_data(&a, &r, data, n, 40000);
	send_eof(&a, 5, 0);
	put_wait(&a, &r, 1);
	assert_put_ok(&r, 1);
	assert_int_equal(r.bytes, n);
	assert_int_equal(r.credited, n);
	assert_file_is(at(t.path, "big"), data, n);
	assert_entries(t.path, 1);
	/* And unchanged the second time, after hashing 5 MiB in slices. */
	put_run(&a, 7, &o, data, n, &r);
	assert_put_ok(&r, 0);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

/* Start a Put of n bytes over an existing file and send half of them,
 * waiting until they are on disk. */
static void
put_half(struct agent *a, struct pres *r, const char *path,
    const uint8_t *data, size_t n)
{
	double deadline = now_ms() + WAIT_MS;
	struct popt o = put_file_opt(path, data, n, 0644);

	pres_init(r, 9);
	send_put(a, 9, &o);
	put_wait(a, r, 0);
	assert_true(r->ready && !r->unchanged);
	put_send_data(a, r, data, n / 2, FRAME_DATA_CHUNK);
	while (r->credited < n / 2) {
		assert_true(now_ms() < deadline);
		(void)put_pump(a, r, deadline - now_ms());
	}
}

static void
test_put_cancel(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 4);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error e = MUSTER__ERROR__INIT;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_start(&a);
	put_half(&a, &r, at(t.path, "f"), data, n);
	send_cancel(&a, 9);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_int_equal(r.bytes, n / 2);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* An Error from the controller is a Cancel too. */
	put_half(&a, &r, at(t.path, "f"), data, n);
	e.code = -MERR_IO;
	env.stream = 9;
	env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
	env.error = &e;
	assert_int_equal(agent_send(&a, &env), 0);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	/* Cancel after the end is dropped. */
	send_cancel(&a, 9);
	send_ping(&a, 5);
	expect_pong(&a, 5);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

/* The channel ends (stdin EOF) in the middle of a file: the Put ends with
 * a Result, and the agent leaves nothing behind. */
static void
test_put_channel_end(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 5);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;
	int st;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_start(&a);
	put_half(&a, &r, at(t.path, "f"), data, n);
	agent_close(&a);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "shutting down");
	st = agent_wait(&a, WAIT_MS);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

/* SIGKILL in the middle: with O_TMPFILE there is no name to leave. */
static void
test_put_agent_killed(void **state)
{
	const size_t n = 300000;
	uint8_t *data = pattern(n, 6);
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct pres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_start(&a);
	put_half(&a, &r, at(t.path, "f"), data, n);
	assert_int_equal(kill(a.pid, SIGKILL), 0);
	(void)agent_wait(&a, WAIT_MS);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	assert_entries(t.path, 1);
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

static void
test_put_protocol_misuse(void **state)
{
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;

	tdir_make(&t);
	agent_start(&a);
	/* Data on fd 1 ends the stream with an Error, and its temporary
	 * file goes. */
	o = put_file_opt(at(t.path, "f"), "abc", 3, 0644);
	pres_init(&r, 1);
	send_put(&a, 1, &o);
	put_wait(&a, &r, 0);
	assert_int_equal(send_data(&a, 1, 1, "abc", 3), 0);
	expect_error(&a, 1, MERR_PROTOCOL);
	/* A second Put on an open id. */
	pres_init(&r, 2);
	send_put(&a, 2, &o);
	put_wait(&a, &r, 0);
	send_put(&a, 2, &o);
	expect_error(&a, 2, MERR_PROTOCOL);
	/* The open one carries on. */
	assert_int_equal(send_data(&a, 2, 0, "abc", 3), 0);
	send_eof(&a, 2, 0);
	put_wait(&a, &r, 1);
	assert_put_ok(&r, 1);
	/* Eof before PutReady: the Put and the Eof in one write, so that
	 * the agent reads both before the Put's first step. */
	{
		Muster__Envelope env = MUSTER__ENVELOPE__INIT;
		Muster__Put put = MUSTER__PUT__INIT;
		Muster__Eof eof = MUSTER__EOF__INIT;
		struct buf b;

		o = put_file_opt(at(t.path, "g"), "abc", 3, 0644);
		put.path.data = (uint8_t *)o.path;
		put.path.len = strlen(o.path);
		put.mode = o.mode;
		put.size = o.size;
		put.sha256.data = o.sha;
		put.sha256.len = SHA_LEN;
		put.uid = put.gid = -1;
		env.stream = 3;
		env.body_case = MUSTER__ENVELOPE__BODY_PUT;
		env.put = &put;
		buf_init(&b, 4096);
		assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
		env.body_case = MUSTER__ENVELOPE__BODY_EOF;
		env.eof = &eof;
		assert_int_equal(frame_encode(&b, &env, FRAME_MAX_DEFAULT), 0);
		assert_int_equal(agent_send_raw(&a, buf_ptr(&b), buf_len(&b)),
		    0);
		buf_free(&b);
	}
	expect_error(&a, 3, MERR_PROTOCOL);
	/* Nothing more comes for it. */
	send_ping(&a, 1);
	expect_pong(&a, 1);
	assert_entries(t.path, 1);
	agent_finish(&a);
	tdir_remove(&t);
}

/* ENOSPC on a 64 KiB tmpfs, EROFS on a read-only bind mount. The mounts
 * go in the teardown, which runs even after a failed assertion. */
struct mounts {
	struct tdir t;
	char small[PATH_MAX];
	char ro[PATH_MAX];
};

static int
mounts_setup(void **state)
{
	struct mounts *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return -1;
	tdir_make(&m->t);
	snprintf(m->small, sizeof(m->small), "%s/small", m->t.path);
	snprintf(m->ro, sizeof(m->ro), "%s/ro", m->t.path);
	if (mkdir(m->small, 0755) != 0 || mkdir(m->ro, 0755) != 0)
		return -1;
	*state = m;
	return 0;
}

static int
mounts_teardown(void **state)
{
	struct mounts *m = *state;

	(void)umount2(m->ro, MNT_DETACH);
	(void)umount2(m->small, MNT_DETACH);
	tdir_remove(&m->t);
	free(m);
	return 0;
}

static void
test_put_disk_errors(void **state)
{
	const size_t n = 200000;
	struct mounts *m = *state;
	const char *old = "old\n";
	uint8_t *data;
	struct agent a;
	struct popt o;
	struct pres r;

	if (mount("tmpfs", m->small, "tmpfs", 0, "size=64k") != 0)
		skip();
	data = pattern(n, 7);
	write_file(at(m->small, "f"), old, strlen(old), 0644);
	agent_start(&a);
	o = put_file_opt(at(m->small, "f"), data, n, 0644);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_fails(&r, MERR_SYS, "No space left on device");
	assert_non_null(strstr(r.msg, "write "));
	assert_file_is(at(m->small, "f"), old, strlen(old));
	assert_entries(m->small, 1);

	if (mount(m->small, m->ro, NULL, MS_BIND, NULL) == 0) {
		assert_int_equal(mount(NULL, m->ro, NULL,
				     MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
		    0);
		o = put_file_opt(at(m->ro, "f"), "x", 1, 0644);
		put_run(&a, 2, &o, "x", 1, &r);
		assert_put_fails(&r, MERR_SYS, "Read-only file system");
		o = put_other_opt(at(m->ro, "d"), KIND_DIR, 0755, NULL);
		put_run(&a, 3, &o, NULL, 0, &r);
		assert_put_fails(&r, MERR_SYS, "Read-only file system");
	}
	agent_finish(&a);
	assert_file_is(at(m->small, "f"), old, strlen(old));
	assert_entries(m->small, 1);
	free(data);
}

/*
 * In the agent's process: openat with O_TMPFILE fails with EOPNOTSUPP, as
 * on a file system without it. Every file system this machine can mount
 * has O_TMPFILE, so a seccomp filter stands in for one that has not.
 */
static void
no_tmpfile(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_openat, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, args[2])),
		/* O_TMPFILE is __O_TMPFILE | O_DIRECTORY. */
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 020000000, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(code) / sizeof(code[0]), code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		_exit(125);
}

/* Whether no_tmpfile works here, tried in a child: valgrind does not
 * emulate seccomp(2) (the test program itself runs under it in
 * tests/valgrind), and the agent would then never start. */
static int
seccomp_usable(void)
{
	pid_t pid;
	int st;

	if ((pid = fork()) == 0) {
		no_tmpfile();
		_exit(0);
	}
	assert_true(pid != -1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Without O_TMPFILE the new file has a temporary name from the start;
 * every failure removes it, only SIGKILL leaves it behind. */
static void
test_put_without_tmpfile(void **state)
{
	const size_t n = 300000;
	uint8_t *data;
	const char *old = "old\n";
	struct tdir t;
	struct agent a;
	struct popt o;
	struct pres r;
	int temps;

#if !defined(__x86_64__)
	skip();
#endif
	if (!seccomp_usable())
		skip();
	data = pattern(n, 13);
	tdir_make(&t);
	write_file(at(t.path, "f"), old, strlen(old), 0644);
	agent_child_setup = no_tmpfile;
	agent_start(&a);
	agent_child_setup = NULL;
	o = put_file_opt(at(t.path, "g"), data, n, 0644);
	put_run(&a, 1, &o, data, n, &r);
	assert_put_ok(&r, 1);
	assert_file_is(at(t.path, "g"), data, n);
	assert_entries(t.path, 2);
	o = put_file_opt(at(t.path, "f"), data, n, 0644);
	o.sha[0] ^= 1;
	put_run(&a, 3, &o, data, n, &r);
	assert_put_fails(&r, MERR_IO, "checksum mismatch");
	assert_entries(t.path, 2);
	put_half(&a, &r, at(t.path, "f"), data, n);
	/* The named temporary file is there while the data comes. */
	assert_int_equal(count_entries(t.path, &temps), 3);
	assert_int_equal(temps, 1);
	send_cancel(&a, 9);
	put_wait(&a, &r, 1);
	assert_put_fails(&r, MERR_EOF, "cancelled");
	assert_entries(t.path, 2);
	put_half(&a, &r, at(t.path, "f"), data, n);
	assert_int_equal(kill(a.pid, SIGKILL), 0);
	(void)agent_wait(&a, WAIT_MS);
	assert_int_equal(count_entries(t.path, &temps), 3);
	assert_int_equal(temps, 1);
	assert_file_is(at(t.path, "f"), old, strlen(old));
	agent_free(&a);
	tdir_remove(&t);
	free(data);
}

/* --- Get tests ------------------------------------------------------- */

static void
test_get_file(void **state)
{
	const size_t n = 300001;
	uint8_t *data = pattern(n, 8);
	struct tdir t;
	struct agent a;
	struct gres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, n, 0640);
	agent_start(&a);
	get_run(&a, &r, 1, at(t.path, "f"), 0);
	assert_true(r.ok);
	assert_int_equal(r.n, 1);
	assert_got_file(&r, 0, "", data, n, 0640);
	assert_int_equal(r.bytes, n);
	assert_int_equal(r.entries, 1);
	gres_free(&r);
	/* recursive on a file is the same. */
	get_run(&a, &r, 3, at(t.path, "f"), 1);
	assert_true(r.ok);
	assert_got_file(&r, 0, "", data, n, 0640);
	gres_free(&r);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

static void
test_get_errors(void **state)
{
	struct tdir t;
	struct agent a;
	struct gres r;

	tdir_make(&t);
	agent_start(&a);
	get_run(&a, &r, 1, at(t.path, "missing"), 0);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_NOTFOUND);
	assert_non_null(strstr(r.msg, "No such file or directory"));
	assert_int_equal(r.n, 0);
	gres_free(&r);
	get_run(&a, &r, 3, t.path, 0);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_INVAL);
	assert_non_null(strstr(r.msg, "is a directory (use -r)"));
	assert_int_equal(r.n, 0);
	gres_free(&r);
	assert_int_equal(mkfifo(at(t.path, "fifo"), 0644), 0);
	get_run(&a, &r, 5, at(t.path, "fifo"), 0);
	assert_false(r.ok);
	assert_non_null(strstr(r.msg, "not a regular file"));
	gres_free(&r);
	/* Data is not for a Get: it ends the stream with an Error. */
	write_file(at(t.path, "f"), "abc", 3, 0644);
	gres_init(&r, 7, 1);
	send_get(&a, 7, at(t.path, "f"), 0, 1);
	while (r.received < 1)
		assert_int_equal(get_pump(&a, &r, 0, WAIT_MS), 1);
	assert_int_equal(send_data(&a, 7, 0, "x", 1), 0);
	expect_error(&a, 7, MERR_PROTOCOL);
	gres_free(&r);
	send_ping(&a, 2);
	expect_pong(&a, 2);
	agent_finish(&a);
	tdir_remove(&t);
}

static void
test_get_tree(void **state)
{
	const size_t nbig = 200000;
	uint8_t *big = pattern(nbig, 9);
	const char *odd = "sp ace \xc3\xa9\xff";
	struct tdir t;
	struct agent a;
	struct gres r;
	char top[PATH_MAX], oddpath[PATH_MAX];
	size_t i;

	tdir_make(&t);
	assert_true(
	    snprintf(top, sizeof(top), "%s/top", t.path) < (int)sizeof(top));
	assert_int_equal(mkdir(top, 0750), 0);
	write_file(at(top, "a.txt"), "hello\n", 6, 0644);
	write_file(at(top, "empty"), "", 0, 0600);
	assert_true(snprintf(oddpath, sizeof(oddpath), "%s/%s", top, odd) <
	    (int)sizeof(oddpath));
	write_file(oddpath, "odd", 3, 0644);
	assert_int_equal(mkdir(at(top, "sub"), 0755), 0);
	assert_int_equal(mkdir(at(top, "sub/deep"), 0700), 0);
	write_file(at(top, "sub/deep/f"), big, nbig, 0755);
	assert_int_equal(symlink("a.txt", at(top, "link")), 0);
	/* Not followed: /etc's contents must not appear. */
	assert_int_equal(symlink("/etc", at(top, "dirlink")), 0);
	assert_int_equal(mkfifo(at(top, "fifo"), 0644), 0);
	agent_start(&a);
	get_run(&a, &r, 1, top, 1);
	if (!r.ok)
		fail_msg("get failed: %s", r.msg);
	/* Sorted bytewise, depth first, each directory before its
	 * contents; the FIFO is skipped. */
	assert_int_equal(r.n, 9);
	assert_int_equal(r.entries, 9);
	assert_string_equal(r.e[0].path, "");
	assert_int_equal(r.e[0].kind, KIND_DIR);
	assert_int_equal(r.e[0].mode, 0750);
	assert_got_file(&r, 1, "a.txt", "hello\n", 6, 0644);
	assert_string_equal(r.e[2].path, "dirlink");
	assert_int_equal(r.e[2].kind, KIND_LINK);
	assert_string_equal(r.e[2].target, "/etc");
	assert_got_file(&r, 3, "empty", "", 0, 0600);
	assert_string_equal(r.e[4].path, "link");
	assert_int_equal(r.e[4].kind, KIND_LINK);
	assert_string_equal(r.e[4].target, "a.txt");
	assert_got_file(&r, 5, odd, "odd", 3, 0644);
	assert_string_equal(r.e[6].path, "sub");
	assert_int_equal(r.e[6].kind, KIND_DIR);
	assert_int_equal(r.e[6].mode, 0755);
	assert_string_equal(r.e[7].path, "sub/deep");
	assert_int_equal(r.e[7].mode, 0700);
	assert_got_file(&r, 8, "sub/deep/f", big, nbig, 0755);
	assert_int_equal(r.bytes, 6 + 3 + nbig);
	for (i = 0; i < r.n; i++)
		if (r.e[i].kind != KIND_FILE)
			assert_int_equal(r.e[i].size, 0);
	gres_free(&r);
	/* An empty directory is one entry. */
	get_run(&a, &r, 3, at(top, "sub/deep/../../sub/deep"), 1);
	assert_true(r.ok);
	assert_int_equal(r.n, 2);
	gres_free(&r);
	agent_finish(&a);
	tdir_remove(&t);
	free(big);
}

static void
test_get_too_deep(void **state)
{
	struct tdir t;
	struct agent a;
	struct gres r;
	char path[PATH_MAX];
	size_t len;
	int i;

	tdir_make(&t);
	len = snprintf(path, sizeof(path), "%s", t.path);
	for (i = 0; i < 65; i++) {
		len += snprintf(path + len, sizeof(path) - len, "/d");
		assert_int_equal(mkdir(path, 0755), 0);
	}
	agent_start(&a);
	get_run(&a, &r, 1, t.path, 1);
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_LIMIT);
	/* The top and 64 levels below it were sent; the 65th is skipped,
	 * saying why. */
	assert_int_equal(r.n, 66);
	assert_int_equal(r.entries, 65);
	assert_int_equal(r.skipped, 1);
	assert_int_equal(r.e[65].code, -MERR_LIMIT);
	gres_free(&r);
	/* 64 levels are fine. */
	get_run(&a, &r, 3, at(t.path, "d"), 1);
	assert_true(r.ok);
	assert_int_equal(r.n, 65);
	gres_free(&r);
	agent_finish(&a);
	tdir_remove(&t);
}

/* The agent stops at exactly the credit it has, and the last grant ends
 * exactly on the file's end: EntryEnd and Result need no credit. */
static void
test_get_credit_limited(void **state)
{
	const size_t n = 1000000, window = 10000;
	uint8_t *data = pattern(n, 10);
	double deadline = now_ms() + WAIT_MS;
	uint64_t step = 7000;
	struct tdir t;
	struct agent a;
	struct gres r;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, n, 0644);
	agent_start(&a);
	gres_init(&r, 1, window);
	send_get(&a, 1, at(t.path, "f"), 0, window);
	while (r.received < window) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_int_equal(get_pump(&a, &r, 0, 300), 0);
	assert_int_equal(r.received, window);
	while (!r.done) {
		assert_true(now_ms() < deadline);
		if (r.received == r.granted && r.granted < n) {
			if (step > n - r.granted)
				step = n - r.granted;
			assert_int_equal(send_credit(&a, 1, step), 0);
			r.granted += step;
			step = step * 3 / 2;
		}
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_true(r.ok);
	assert_got_file(&r, 0, "", data, n, 0644);
	gres_free(&r);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

/* A file that grows while it is read: what was sent is described by its
 * EntryEnd, and the Get fails. */
static void
test_get_file_changed(void **state)
{
	const size_t n = 100000;
	uint8_t *data = pattern(n, 11);
	double deadline = now_ms() + WAIT_MS;
	struct tdir t;
	struct agent a;
	struct gres r;
	uint8_t sha[SHA_LEN];
	int fd;

	tdir_make(&t);
	write_file(at(t.path, "f"), data, n, 0644);
	agent_start(&a);
	gres_init(&r, 1, 1000);
	send_get(&a, 1, at(t.path, "f"), 0, 1000);
	while (r.received < 1000) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_true((fd = open(at(t.path, "f"), O_WRONLY | O_APPEND)) != -1);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
	assert_int_equal(send_credit(&a, 1, n), 0);
	r.granted += n;
	while (!r.done) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_IO);
	assert_non_null(strstr(r.msg, "file changed while reading"));
	assert_int_equal(r.n, 1);
	assert_true(r.e[0].ended);
	assert_false(r.e[0].consistent);
	assert_int_equal(buf_len(&r.e[0].data), n);
	sha256_of(buf_ptr(&r.e[0].data), n, sha);
	assert_memory_equal(r.e[0].sha, sha, SHA_LEN);
	gres_free(&r);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

/*
 * A file last changed long ago is vouched for after one read (the test
 * files, all just written, take the second read that racy timestamps
 * call for): any old system file will do.
 */
static void
test_get_old_file(void **state)
{
	static const char *const candidates[] = {
		"/usr/bin/env",
		"/bin/sh",
		"/etc/hostname",
		"/etc/os-release",
	};
	struct agent a;
	struct gres r;
	struct stat st;
	uint8_t sha[SHA_LEN];
	const char *path = NULL;
	size_t i;
	char *data;
	int fd;

	(void)state;
	for (i = 0; i < sizeof(candidates) / sizeof(*candidates); i++)
		if (stat(candidates[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_ctime < time(NULL) - 10 && st.st_size > 0 &&
		    st.st_size < (1 << 20)) {
			path = candidates[i];
			break;
		}
	if (path == NULL)
		skip();
	assert_non_null(data = malloc(st.st_size));
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(read(fd, data, st.st_size), st.st_size);
	close(fd);
	agent_start(&a);
	get_run(&a, &r, 1, path, 0);
	assert_true(r.ok);
	assert_int_equal(r.n, 1);
	assert_true(r.e[0].consistent);
	sha256_of(data, st.st_size, sha);
	assert_memory_equal(r.e[0].sha, sha, SHA_LEN);
	gres_free(&r);
	agent_finish(&a);
	free(data);
}

static void
test_get_cancel(void **state)
{
	double deadline = now_ms() + WAIT_MS;
	struct agent a;
	struct gres r;

	agent_start(&a);
	/* /dev/zero is not regular: a large file of our own instead. */
	gres_init(&r, 1, 5000);
	send_get(&a, 1, getenv("MUSTER_AGENT"), 0, 5000);
	while (r.received < 5000) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	send_cancel(&a, 1);
	while (!r.done) {
		assert_true(now_ms() < deadline);
		(void)get_pump(&a, &r, 0, deadline - now_ms());
	}
	assert_false(r.ok);
	assert_int_equal(r.code, -MERR_EOF);
	assert_non_null(strstr(r.msg, "cancelled"));
	assert_int_equal(r.bytes, 5000);
	gres_free(&r);
	agent_finish(&a);
}

/* A Get, a Put and an Exec at once: streams of every kind share the
 * channel, and a Put's data interleaves with a Get's. */
static void
test_mixed_streams(void **state)
{
	const size_t n = 3000000, chunk = 50000;
	uint8_t *data = pattern(n, 12);
	double deadline = now_ms() + WAIT_MS;
	uint64_t window, sent = 0;
	Muster__Envelope *env, x = MUSTER__ENVELOPE__INIT;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	struct tdir t;
	struct agent a;
	struct gres g;
	struct pres p;
	struct popt o;
	size_t len;
	int exited = 0;

	tdir_make(&t);
	write_file(at(t.path, "src"), data, n, 0644);
	agent_start(&a);
	window = a.hello->hello->window;
	gres_init(&g, 1, 128 * 1024);
	send_get(&a, 1, at(t.path, "src"), 0, 128 * 1024);
	o = put_file_opt(at(t.path, "dst"), data, n, 0600);
	pres_init(&p, 3);
	send_put(&a, 3, &o);
	ex.shell_command.data = (uint8_t *)"echo hi";
	ex.shell_command.len = 7;
	x.stream = 5;
	x.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	x.exec = &ex;
	assert_int_equal(agent_send(&a, &x), 0);
	while (!g.done || !p.done || !exited) {
		assert_true(now_ms() < deadline);
		if (p.ready && !p.done && sent < n &&
		    sent + chunk - p.credited <= window) {
			len = n - sent < chunk ? n - sent : chunk;
			assert_int_equal(send_data(&a, 3, 0, data + sent, len),
			    0);
			if ((sent += len) == n)
				send_eof(&a, 3, 0);
			continue;
		}
		if ((env = agent_recv(&a, deadline - now_ms())) == NULL)
			continue;
		if (env->stream == 1)
			get_take(&a, &g, env, 1);
		else if (env->stream == 3)
			put_take(&p, env);
		else {
			assert_int_equal(env->stream, 5);
			exited |= env->body_case ==
			    MUSTER__ENVELOPE__BODY_EXIT;
			frame_free(env);
		}
	}
	assert_true(g.ok);
	assert_got_file(&g, 0, "", data, n, 0644);
	assert_put_ok(&p, 1);
	assert_file_is(at(t.path, "dst"), data, n);
	gres_free(&g);
	agent_finish(&a);
	tdir_remove(&t);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_new_file),
		cmocka_unit_test(test_put_unchanged),
		cmocka_unit_test(test_put_same_size_other_content),
		cmocka_unit_test(test_put_mode_only),
		cmocka_unit_test(test_put_owner),
		cmocka_unit_test(test_put_checksum_mismatch),
		cmocka_unit_test(test_put_too_many_bytes),
		cmocka_unit_test(test_put_mkdir),
		cmocka_unit_test(test_put_parent_is_file),
		cmocka_unit_test(test_put_root_confinement),
		cmocka_unit_test(test_put_nul_in_path),
		cmocka_unit_test(test_put_over_symlink),
		cmocka_unit_test(test_put_directory),
		cmocka_unit_test(test_put_symlink),
		cmocka_unit_test(test_put_empty_file),
		cmocka_unit_test(test_put_relative),
		cmocka_unit_test(test_put_large_credit_limited),
		cmocka_unit_test(test_put_cancel),
		cmocka_unit_test(test_put_channel_end),
		cmocka_unit_test(test_put_agent_killed),
		cmocka_unit_test(test_put_protocol_misuse),
		cmocka_unit_test_setup_teardown(test_put_disk_errors,
		    mounts_setup, mounts_teardown),
		cmocka_unit_test(test_put_without_tmpfile),
		cmocka_unit_test(test_get_file),
		cmocka_unit_test(test_get_errors),
		cmocka_unit_test(test_get_tree),
		cmocka_unit_test(test_get_too_deep),
		cmocka_unit_test(test_get_credit_limited),
		cmocka_unit_test(test_get_file_changed),
		cmocka_unit_test(test_get_old_file),
		cmocka_unit_test(test_get_cancel),
		cmocka_unit_test(test_mixed_streams),
	};
	const char *wrap = getenv("MUSTER_AGENT_WRAPPER");
	const char *filter = getenv("MUSTER_TEST_FILTER");

	if (wrap != NULL && *wrap != '\0')
		slow = 6;
	if (filter != NULL && *filter != '\0')
		cmocka_set_test_filter(filter);
	signal(SIGPIPE, SIG_IGN);
	/* Modes of created directories are checked against 0755. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
