/*
 * The agent's --become and --tty pieces: the sudo command line and the
 * marker filter (agent/become.c, compiled in here: it is agent code, not
 * in the controller library), then the built agent end to end: a command
 * on a pseudo-terminal, and become through a fake sudo put first in PATH
 * (a real one needs root and a sudoers entry; t_ergonomics.sh has that).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../agent/become.c"
#include "../../agent/bytes.c"

#include "agent_client.h"

/* --- become_argv ------------------------------------------------------ */

static size_t
argv_len(char **argv)
{
	size_t n = 0;

	while (argv[n] != NULL)
		n++;
	return n;
}

static void
test_argv_shell(void **state)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	const char *cmd = "echo '$HOME' \"; rm -rf /\"";
	char **argv;

	ex.shell_command.data = (uint8_t *)cmd;
	ex.shell_command.len = strlen(cmd);
	ex.become_user.data = (uint8_t *)"postgres";
	ex.become_user.len = 8;
	assert_int_equal(become_argv(&ex, "MARK", "", 0, &argv), 0);
	assert_int_equal(argv_len(argv), 13);
	assert_string_equal(argv[0], "sudo");
	assert_string_equal(argv[1], "-n");
	assert_string_equal(argv[2], "-u");
	assert_string_equal(argv[3], "postgres");
	assert_string_equal(argv[4], "--");
	assert_string_equal(argv[5], "/bin/sh");
	assert_string_equal(argv[6], "-c");
	assert_string_equal(argv[7], wrapper_pipes);
	assert_string_equal(argv[8], "MARK");
	assert_string_equal(argv[9], "");
	/* The user's command is one argument, never inside a shell
	 * string of ours. */
	assert_string_equal(argv[10], "/bin/sh");
	assert_string_equal(argv[11], "-c");
	assert_string_equal(argv[12], cmd);
	bytes_free_argv(argv);
}

static void
test_argv_password_and_argv(void **state)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	ProtobufCBinaryData args[2] = { { 6, (uint8_t *)"printf" },
		{ 3, (uint8_t *)"a b" } };
	char **argv;

	ex.n_argv = 2;
	ex.argv = args;
	ex.become_user.data = (uint8_t *)"root";
	ex.become_user.len = 4;
	ex.become_password.data = (uint8_t *)"pw";
	ex.become_password.len = 2;
	assert_int_equal(become_argv(&ex, "M", "S", 0, &argv), 0);
	assert_string_equal(argv[1], "-S");
	assert_string_equal(argv[2], "-p");
	assert_string_equal(argv[3], "");
	assert_string_equal(argv[5], "root");
	assert_string_equal(argv[10], "M");
	assert_string_equal(argv[11], "S");
	assert_string_equal(argv[12], "printf");
	assert_string_equal(argv[13], "a b");
	assert_null(argv[14]);
	/* The password itself is never an argument. */
	for (size_t i = 0; argv[i] != NULL; i++)
		assert_null(strstr(argv[i], "pw"));
	bytes_free_argv(argv);
}

static void
test_argv_refused(void **state)
{
	Muster__Exec ex = MUSTER__EXEC__INIT;
	char **argv = NULL;

	ex.shell_command.data = (uint8_t *)"true";
	ex.shell_command.len = 4;
	ex.become_user.data = (uint8_t *)"-root";
	ex.become_user.len = 5;
	assert_int_equal(become_argv(&ex, "M", "", 0, &argv), MERR_INVAL);
	ex.become_user.data = (uint8_t *)"ro\0t";
	ex.become_user.len = 4;
	assert_int_equal(become_argv(&ex, "M", "", 0, &argv), MERR_INVAL);
	ex.become_user.data = (uint8_t *)"root";
	ex.become_password.data = (uint8_t *)"pw";
	ex.become_password.len = 2;
	assert_int_equal(become_argv(&ex, "M", "S", 1, &argv), MERR_INVAL);
	assert_null(argv);
}

static void
test_preamble(void **state)
{
	ProtobufCBinaryData pw = { 5, (uint8_t *)"s3c t" };
	ProtobufCBinaryData bad = { 3, (uint8_t *)"a\nb" };
	uint8_t out[64];
	size_t len;

	assert_int_equal(become_preamble(&pw, "SM", out, sizeof(out), &len),
	    0);
	assert_int_equal(len, 5 + 1 + BECOME_PAD_LINES + 3);
	assert_memory_equal(out, "s3c t\n\n\n\nSM\n", len);
	assert_int_equal(become_preamble(&bad, "SM", out, sizeof(out), &len),
	    MERR_INVAL);
	assert_int_equal(become_preamble(&pw, "SM", out, 8, &len), MERR_LIMIT);
}

static void
test_marker_random(void **state)
{
	char a[BECOME_MARKER_LEN + 1], b[BECOME_MARKER_LEN + 1];

	assert_int_equal(become_marker(a), 0);
	assert_int_equal(become_marker(b), 0);
	assert_int_equal(strlen(a), BECOME_MARKER_LEN);
	assert_memory_equal(a, "MUSTER-BECOME-", 14);
	assert_string_not_equal(a, b);
}

/* --- the filter ----------------------------------------------------------- */

static void
collect_emit(void *arg, const uint8_t *p, size_t n)
{
	assert_int_equal(buf_append(arg, p, n), 0);
}

/* Feed in in pieces of `step` bytes; return what passed. */
static void
filter_run(const char *marker, const char *in, size_t len, size_t step,
    struct buf *out, struct become_filter *f)
{
	size_t off, n;

	become_filter_init(f, marker);
	for (off = 0; off < len; off += n) {
		n = len - off < step ? len - off : step;
		become_filter_feed(f, (const uint8_t *)in + off, n,
		    collect_emit, out);
	}
}

static void
test_filter_every_split(void **state)
{
	const char *marker = "MUSTER-BECOME-0123456789abcdef";
	/* A false start of the marker right before the real one. */
	const char *in = "lecture\nMUSTER-BECOMMUSTER-BECOME-0123456789abcdef"
			 "\r\nout 1\nout 2";
	const char *want = "lecture\nMUSTER-BECOMout 1\nout 2";
	struct become_filter f;
	struct buf out;
	size_t step, len = strlen(in);

	for (step = 1; step <= len; step++) {
		buf_init(&out, 1 << 20);
		filter_run(marker, in, len, step, &out, &f);
		assert_true(become_filter_found(&f));
		assert_int_equal(buf_len(&out), strlen(want));
		assert_memory_equal(buf_ptr(&out), want, strlen(want));
		buf_free(&out);
	}
}

static void
test_filter_no_marker(void **state)
{
	const char *in = "sudo: a password is required\n";
	const uint8_t *held;
	struct become_filter f;
	struct buf out;
	size_t step;

	for (step = 1; step < 8; step++) {
		buf_init(&out, 1 << 20);
		filter_run("MUSTER-BECOME-x", in, strlen(in), step, &out, &f);
		/* Nothing passes; it is the reason for the failure. */
		assert_false(become_filter_found(&f));
		assert_int_equal(buf_len(&out), 0);
		assert_int_equal(become_filter_held(&f, &held), strlen(in));
		assert_memory_equal(held, in, strlen(in));
		buf_free(&out);
	}
}

static void
test_filter_spill(void **state)
{
	const char *marker = "MUSTER-BECOME-y";
	size_t big = BECOME_HELD_MAX * 3 + 7, len, i;
	struct become_filter f;
	struct buf out;
	char *in;

	/* Long output before the marker passes through, in order, with the
	 * marker still found at the end; held never grows past its size. */
	assert_non_null(in = malloc(big + 64));
	for (i = 0; i < big; i++)
		in[i] = (char)('a' + i % 26);
	len = big + (size_t)sprintf(in + big, "%s\nafter", marker);
	buf_init(&out, 1 << 20);
	filter_run(marker, in, len, 1000, &out, &f);
	assert_true(become_filter_found(&f));
	assert_int_equal(buf_len(&out), big + 5);
	assert_memory_equal(buf_ptr(&out), in, big);
	assert_memory_equal(buf_ptr(&out) + big, "after", 5);
	buf_free(&out);
	free(in);
}

/* --- the built agent ------------------------------------------------------ */

struct xres {
	struct buf out[3];
	int eof[3];
	int exited;
	Muster__Exit exit;
	char become_error[1024];
};

static void
xres_init(struct xres *r)
{
	int i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < 3; i++)
		buf_init(&r->out[i], 1 << 20);
}

static void
xres_free(struct xres *r)
{
	int i;

	for (i = 0; i < 3; i++)
		buf_free(&r->out[i]);
}

static bool
xres_is(const struct xres *r, int fd, const char *want)
{
	return buf_len(&r->out[fd]) == strlen(want) &&
	    memcmp(buf_ptr(&r->out[fd]), want, strlen(want)) == 0;
}

struct xspec {
	const char *sh;
	int tty;
	int want_stdin;
	const char *user;
	const char *password;
	const char *input; /* sent as stdin, then Eof */
};

static void
run_exec(struct agent *a, uint32_t id, const struct xspec *x, struct xres *r)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT, *in;
	Muster__Exec ex = MUSTER__EXEC__INIT;
	double deadline = now_ms() + WAIT_MS;
	size_t n;

	ex.shell_command.data = (uint8_t *)x->sh;
	ex.shell_command.len = strlen(x->sh);
	ex.tty = x->tty;
	ex.want_stdin = x->want_stdin || x->input != NULL;
	if (x->user != NULL) {
		ex.become_user.data = (uint8_t *)x->user;
		ex.become_user.len = strlen(x->user);
	}
	if (x->password != NULL) {
		ex.become_password.data = (uint8_t *)x->password;
		ex.become_password.len = strlen(x->password);
	}
	env.stream = id;
	env.body_case = MUSTER__ENVELOPE__BODY_EXEC;
	env.exec = &ex;
	assert_int_equal(agent_send(a, &env), 0);
	if (x->input != NULL) {
		assert_int_equal(
		    send_data(a, id, 0, x->input, strlen(x->input)), 0);
		send_eof(a, id, 0);
	}
	xres_init(r);
	while (!r->exited) {
		assert_true(now_ms() < deadline);
		if ((in = agent_recv(a, deadline - now_ms())) == NULL)
			fail_msg("agent ended or was silent");
		assert_int_equal(in->stream, id);
		switch (in->body_case) {
		case MUSTER__ENVELOPE__BODY_DATA:
			assert_true(in->data->fd == 1 || in->data->fd == 2);
			assert_false(r->eof[in->data->fd]);
			assert_int_equal(
			    buf_append(&r->out[in->data->fd],
				in->data->data.data, in->data->data.len),
			    0);
			break;
		case MUSTER__ENVELOPE__BODY_EOF: r->eof[in->eof->fd]++; break;
		case MUSTER__ENVELOPE__BODY_CREDIT: break;
		case MUSTER__ENVELOPE__BODY_EXIT:
			r->exited = 1;
			r->exit = *in->exit;
			n = in->exit->become_error.len;
			if (n >= sizeof(r->become_error))
				n = sizeof(r->become_error) - 1;
			if (n > 0)
				memcpy(r->become_error,
				    in->exit->become_error.data, n);
			r->become_error[n] = '\0';
			r->exit.become_error.data = NULL;
			break;
		default: fail_msg("unexpected message %d", (int)in->body_case);
		}
		frame_free(in);
	}
	/* Each output fd ended once, before the Exit. */
	assert_int_equal(r->eof[1], 1);
	assert_int_equal(r->eof[2], 1);
}

static void
test_tty_exec(void **state)
{
	struct xspec x = {
		.sh = "test -t 0 && test -t 1 && test -t 2 && "
		      "echo tty; echo err >&2; printf 'a\\nb\\n'; exit 4",
		.tty = 1
	};
	struct agent a;
	struct xres r;

	agent_start(&a);
	run_exec(&a, 1, &x, &r);
	/* One stream, and "\n" stays "\n" (no ONLCR). */
	assert_true(xres_is(&r, 1, "tty\nerr\na\nb\n"));
	assert_int_equal(buf_len(&r.out[2]), 0);
	assert_int_equal(r.exit.code, 4);
	xres_free(&r);
	agent_finish(&a);
}

static void
test_tty_stdin(void **state)
{
	/* No echo: what is typed does not come back as output; the EOF
	 * character ends the input after a partial line too. */
	struct xspec x = { .sh = "cat; echo end",
		.tty = 1,
		.input = "line 1\npartial" };
	struct agent a;
	struct xres r;

	agent_start(&a);
	run_exec(&a, 1, &x, &r);
	assert_true(xres_is(&r, 1, "line 1\npartialend\n"));
	assert_int_equal(r.exit.code, 0);
	xres_free(&r);
	agent_finish(&a);
}

static char fake_dir[] = "/tmp/test_become.XXXXXX";

/* sudo [-n|-S -p ''] -u USER -- CMD...: runs CMD, or fails like sudo. */
static const char fake_sudo[] =
    "#!/bin/sh\n"
    "readpw=0\n"
    "while [ $# -gt 0 ]; do case $1 in -S) readpw=1;; -p|-u) shift;; "
    "--) shift; break;; esac; shift; done\n"
    "if [ -n \"$FAKE_SUDO_FAIL\" ]; then\n"
    "  echo 'sudo: a password is required' >&2; exit 1; fi\n"
    "if [ $readpw = 1 ] && [ -z \"$FAKE_SUDO_NOPASSWD\" ]; then\n"
    "  IFS= read -r pw\n"
    "  [ \"$pw\" = right ] || { echo 'Sorry, try again.' >&2; exit 1; }\n"
    "fi\n"
    "exec \"$@\"\n";

static int
fake_setup(void **state)
{
	char path[128], *old = getenv("PATH"), *np;
	FILE *f;

	if (mkdtemp(fake_dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/sudo", fake_dir);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(fake_sudo, f);
	fclose(f);
	chmod(path, 0755);
	/* The agent inherits PATH and finds this sudo first. */
	if (asprintf(&np, "%s:%s", fake_dir, old ? old : "/usr/bin:/bin") < 0)
		return -1;
	setenv("PATH", np, 1);
	free(np);
	return 0;
}

static int
fake_teardown(void **state)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/sudo", fake_dir);
	unlink(path);
	rmdir(fake_dir);
	return 0;
}

static void
test_become_ok(void **state)
{
	struct xspec x = { .sh = "echo out; echo err >&2", .user = "root" };
	struct agent a;
	struct xres r;

	unsetenv("FAKE_SUDO_FAIL");
	agent_start(&a);
	run_exec(&a, 1, &x, &r);
	/* The marker lines are gone from both streams. */
	assert_true(xres_is(&r, 1, "out\n"));
	assert_true(xres_is(&r, 2, "err\n"));
	assert_false(r.exit.become_failed);
	assert_int_equal(r.exit.code, 0);
	xres_free(&r);
	agent_finish(&a);
}

static void
test_become_refused(void **state)
{
	struct xspec x = { .sh = "echo never",
		.user = "root",
		.input = "data\n" };
	struct agent a;
	struct xres r;

	setenv("FAKE_SUDO_FAIL", "1", 1);
	agent_start(&a);
	run_exec(&a, 1, &x, &r);
	unsetenv("FAKE_SUDO_FAIL");
	assert_true(r.exit.become_failed);
	assert_string_equal(r.become_error, "sudo: a password is required\n");
	/* sudo's words are the reason, not output. */
	assert_int_equal(buf_len(&r.out[1]), 0);
	assert_int_equal(buf_len(&r.out[2]), 0);
	assert_int_equal(r.exit.code, 1);
	xres_free(&r);
	agent_finish(&a);
}

static void
test_become_password(void **state)
{
	struct xspec x = { .sh = "cat; id -u >/dev/null",
		.user = "root",
		.password = "right",
		.input = "user data\nline 2\n" };
	struct xspec wrong = x;
	struct agent a;
	struct xres r;

	agent_start(&a);
	/* sudo takes the password; the command's stdin is its own. */
	run_exec(&a, 1, &x, &r);
	assert_false(r.exit.become_failed);
	assert_true(xres_is(&r, 1, "user data\nline 2\n"));
	xres_free(&r);
	/* sudo needs no password: it never reaches the command either. */
	setenv("FAKE_SUDO_NOPASSWD", "1", 1);
	run_exec(&a, 3, &x, &r);
	unsetenv("FAKE_SUDO_NOPASSWD");
	assert_false(r.exit.become_failed);
	assert_true(xres_is(&r, 1, "user data\nline 2\n"));
	xres_free(&r);
	/* No stdin asked for: the command reads an empty one. */
	x.input = NULL;
	run_exec(&a, 5, &x, &r);
	assert_false(r.exit.become_failed);
	assert_int_equal(buf_len(&r.out[1]), 0);
	assert_int_equal(r.exit.code, 0);
	xres_free(&r);
	wrong.password = "wrong";
	run_exec(&a, 7, &wrong, &r);
	assert_true(r.exit.become_failed);
	assert_string_equal(r.become_error, "Sorry, try again.\n");
	assert_int_equal(buf_len(&r.out[1]), 0);
	xres_free(&r);
	agent_finish(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_argv_shell),
		cmocka_unit_test(test_argv_password_and_argv),
		cmocka_unit_test(test_argv_refused),
		cmocka_unit_test(test_preamble),
		cmocka_unit_test(test_marker_random),
		cmocka_unit_test(test_filter_every_split),
		cmocka_unit_test(test_filter_no_marker),
		cmocka_unit_test(test_filter_spill),
		cmocka_unit_test(test_tty_exec),
		cmocka_unit_test(test_tty_stdin),
		cmocka_unit_test(test_become_ok),
		cmocka_unit_test(test_become_refused),
		cmocka_unit_test(test_become_password),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, fake_setup, fake_teardown);
}
