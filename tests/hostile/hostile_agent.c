/*
 * A fake muster-agent that breaks the protocol on purpose, for
 * tests/integration/t_hostile.sh. It prints the marker line, a Hello with
 * our build id (unless the mode is about the Hello), waits for the first
 * Exec and then misbehaves as its one argument says:
 *
 *   oversize      a length prefix far above the frame maximum
 *   truncated     half a frame, then EOF
 *   garbage       a frame whose body is not protobuf
 *   unknown       an Envelope with a body field we do not know
 *   badstream     Data for a stream id never opened
 *   credit        more stdout Data than the Exec's window allows
 *   flood         the window's worth of output as 1-byte Data frames,
 *                 then a normal end (the controller must cope, and count)
 *   hello-version a Hello with another protocol version
 *   hello-build   a Hello with another build id
 *   stall         half a frame, then silence with stdout open
 *   escape        answers the first Exec, Put or Watch with an error text
 *                 full of terminal escape sequences (it must be shown
 *                 neutralised)
 *
 * It never reads stdin after the Exec, like a broken agent would not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "build_id.h"
#include "err.h"
#include "frame.h"

#define FLOOD_BYTES 300000

static void
write_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(STDOUT_FILENO, b, n)) <= 0)
			exit(1);
		b += w;
		n -= (size_t)w;
	}
}

static void
send_env(const Muster__Envelope *env)
{
	struct buf b;

	buf_init(&b, 2 * FRAME_MAX_DEFAULT);
	if (frame_encode(&b, env, FRAME_MAX_DEFAULT) != 0)
		exit(1);
	write_all(buf_ptr(&b), buf_len(&b));
	buf_free(&b);
}

static void
send_hello(uint32_t version, const char *build_id)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Hello h = MUSTER__HELLO__INIT;

	h.version = version;
	h.build_id.data = (uint8_t *)build_id;
	h.build_id.len = strlen(build_id);
	h.max_frame = FRAME_MAX_DEFAULT;
	h.max_streams = 256;
	h.window = 1u << 20;
	h.arch.data = (uint8_t *)"x86_64";
	h.arch.len = 6;
	h.pid = (uint32_t)getpid();
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &h;
	send_env(&env);
}

static void
send_data(uint32_t stream, const uint8_t *p, size_t n)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Data d = MUSTER__DATA__INIT;

	d.fd = 1;
	d.data.data = (uint8_t *)p;
	d.data.len = n;
	env.stream = stream;
	env.body_case = MUSTER__ENVELOPE__BODY_DATA;
	env.data = &d;
	send_env(&env);
}

/*
 * Read frames until the first that opens a stream (Exec, Put, Get or
 * Watch): its kind, stream id and, for an Exec, output window.
 */
static int
wait_open(uint32_t *stream, uint32_t *window)
{
	int kind;

	Muster__Envelope *env;
	struct buf in;
	uint8_t *p;
	ssize_t n;
	int r, framed = 0;

	buf_init(&in, 2 * FRAME_MAX_DEFAULT);
	for (;;) {
		/* The controller's lead-in before the first frame, as the
		 * real agent skips it (PROTOCOL.md, "Start"). */
		while (!framed && buf_len(&in) > 0 && buf_ptr(&in)[0] == '\n')
			buf_consume(&in, 1);
		if (buf_len(&in) > 0)
			framed = 1;
		while ((r = frame_decode(&in, FRAME_MAX_DEFAULT, &env)) == 0) {
			kind = env->body_case;
			if (kind == MUSTER__ENVELOPE__BODY_EXEC ||
			    kind == MUSTER__ENVELOPE__BODY_PUT ||
			    kind == MUSTER__ENVELOPE__BODY_GET ||
			    kind == MUSTER__ENVELOPE__BODY_WATCH) {
				*stream = env->stream;
				*window = kind == MUSTER__ENVELOPE__BODY_EXEC ?
				    env->exec->window :
				    0;
				frame_free(env);
				buf_free(&in);
				return kind;
			}
			frame_free(env);
		}
		if (r != MERR_AGAIN || buf_reserve(&in, 65536, &p) != 0)
			exit(1);
		if ((n = read(STDIN_FILENO, p, 65536)) <= 0)
			exit(0);
		buf_commit(&in, (size_t)n);
	}
}

/* Title change, screen clear, colour: what a terminal would act on. */
#define ESCAPES                                         \
	"evil \x1b]0;owned\x07\x1b[2J\x1b[31m red \x9b" \
	"1m end"

static void
send_escapes(int kind, uint32_t stream)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Error e = MUSTER__ERROR__INIT;
	Muster__Result res = MUSTER__RESULT__INIT;

	if (kind == MUSTER__ENVELOPE__BODY_PUT) {
		/* A failed Put: its message is shown per host. */
		res.code = (uint32_t)-MERR_IO;
		res.message.data = (uint8_t *)ESCAPES;
		res.message.len = strlen(ESCAPES);
		env.stream = stream;
		env.body_case = MUSTER__ENVELOPE__BODY_RESULT;
		env.result = &res;
	} else {
		/* Exec: the stream's error; else the channel's. */
		e.code = (uint32_t)-MERR_IO;
		e.message.data = (uint8_t *)ESCAPES;
		e.message.len = strlen(ESCAPES);
		env.stream = kind == MUSTER__ENVELOPE__BODY_EXEC ? stream : 0;
		env.body_case = MUSTER__ENVELOPE__BODY_ERROR;
		env.error = &e;
	}
	send_env(&env);
}

static void
stall(void)
{
	/* stdout stays open: only a deadline of the controller ends this. */
	sleep(600);
	exit(0);
}

int
main(int argc, char *argv[])
{
	static const uint8_t big_header[] = { 0xff, 0xff, 0xff, 0xf0, 0x08 };
	static const uint8_t garbage[] = { 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };
	/* Envelope{stream = 1, field 40 (unknown) = "x"}: a body protobuf-c
	 * keeps as an unknown field, so body_case is 0. */
	uint8_t unknown[] = { 0, 0, 0, 6, 0x08, 0x01, 0xc2, 0x02, 0x01, 'x' };
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Eof eof = MUSTER__EOF__INIT;
	Muster__Exit ex = MUSTER__EXIT__INIT;
	const char *mode;
	uint32_t stream, window, i;
	int kind;
	uint8_t *big;
	uint8_t one = 'x';

	if (argc != 2) {
		fprintf(stderr, "usage: hostile_agent MODE\n");
		return 2;
	}
	mode = argv[1];
	write_all(AGENT_MARKER, strlen(AGENT_MARKER));
	if (strcmp(mode, "hello-version") == 0) {
		send_hello(MUSTER_PROTO_VERSION + 98, MUSTER_BUILD_ID);
		stall();
	}
	if (strcmp(mode, "hello-build") == 0) {
		send_hello(MUSTER_PROTO_VERSION,
		    "0000000000000000000000000000000000000000000000000000000000000000");
		stall();
	}
	send_hello(MUSTER_PROTO_VERSION, MUSTER_BUILD_ID);
	kind = wait_open(&stream, &window);
	if (strcmp(mode, "escape") == 0) {
		send_escapes(kind, stream);
		stall();
	}
	if (kind != MUSTER__ENVELOPE__BODY_EXEC) {
		fprintf(stderr, "hostile_agent: mode %s wants an Exec\n",
		    mode);
		return 2;
	}
	if (strcmp(mode, "oversize") == 0) {
		write_all(big_header, sizeof(big_header));
		stall();
	} else if (strcmp(mode, "truncated") == 0) {
		write_all(garbage, 7);
		return 0;
	} else if (strcmp(mode, "garbage") == 0) {
		write_all(garbage, sizeof(garbage));
		stall();
	} else if (strcmp(mode, "unknown") == 0) {
		unknown[5] = (uint8_t)stream; /* ids are small */
		write_all(unknown, sizeof(unknown));
		stall();
	} else if (strcmp(mode, "badstream") == 0) {
		send_data(stream + 1000, &one, 1);
		stall();
	} else if (strcmp(mode, "credit") == 0) {
		/* One frame past the whole window: returned credit cannot
		 * make it legal. */
		if ((big = calloc(1, (size_t)window + 1)) == NULL)
			return 1;
		send_data(stream, big, (size_t)window + 1);
		stall();
	} else if (strcmp(mode, "flood") == 0) {
		for (i = 0; i < FLOOD_BYTES; i++)
			send_data(stream, &one, 1);
		env.stream = stream;
		env.body_case = MUSTER__ENVELOPE__BODY_EOF;
		env.eof = &eof;
		eof.fd = 1;
		send_env(&env);
		eof.fd = 2;
		send_env(&env);
		env.body_case = MUSTER__ENVELOPE__BODY_EXIT;
		env.exit = &ex;
		send_env(&env);
		stall();
	} else if (strcmp(mode, "stall") == 0) {
		write_all(garbage, 6);
		stall();
	}
	fprintf(stderr, "hostile_agent: unknown mode %s\n", mode);
	return 2;
}
