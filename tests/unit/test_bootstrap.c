/*
 * Unit tests for the agent bootstrap: reading what the start command
 * prints (bootstrap_scan) and the start command itself, which is run here
 * with the local /bin/sh under a temporary HOME.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "agentbin.h"
#include "agentdir.h"
#include "bootstrap.h"
#include "buf.h"
#include "err.h"
#include "frame.h"

#define SCAN_BUF_MAX (1u << 20)

static void
append(struct buf *b, const char *s)
{
	assert_int_equal(buf_append(b, s, strlen(s)), 0);
}

/* The rest of the buffer equals s (n bytes). */
static void
assert_left(const struct buf *b, const void *s, size_t n)
{
	assert_int_equal(buf_len(b), n);
	if (n > 0)
		assert_memory_equal(buf_ptr(b), s, n);
}

/* --- bootstrap_scan -------------------------------------------------- */

static void
test_scan_empty(void **state)
{
	struct buf b;
	char arch[32] = "untouched";

	/* Never written to: no data pointer at all. */
	buf_init(&b, SCAN_BUF_MAX);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_string_equal(arch, "untouched");
	/* Emptied again after use. */
	append(&b, "x\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	buf_free(&b);
}

static void
test_scan_marker_alone(void **state)
{
	struct buf b;
	char arch[32] = "";

	buf_init(&b, SCAN_BUF_MAX);
	append(&b, AGENT_MARKER);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_scan_junk_then_marker(void **state)
{
	struct buf b;
	char arch[32] = "";

	buf_init(&b, SCAN_BUF_MAX);
	append(&b,
	    "Linux host 6.1.0 #1 SMP x86_64\n"
	    "\n"
	    "The programs included with the Debian GNU/Linux system are free "
	    "software;\n"
	    "Last login: Mon Jan  1 00:00:00 2024 from 10.0.0.1\n"
	    "\r\n"
	    "bashrc says hello\n"
	    "\t  \n"
	    "\x1b[1;32mcolours\x1b[0m\n" AGENT_MARKER);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_scan_frames_stay(void **state)
{
	Muster__Envelope env = MUSTER__ENVELOPE__INIT, *got;
	Muster__Hello hello = MUSTER__HELLO__INIT;
	struct buf frames, b;
	char arch[32] = "";

	/* A real first frame: its bytes may contain '\n' and even text that
	 * looks like a marker, and must all be left alone. */
	buf_init(&frames, 4096);
	hello.version = MUSTER_PROTO_VERSION;
	hello.build_id.data = (uint8_t *)"\n" AGENT_MARKER "\n";
	hello.build_id.len = strlen(AGENT_MARKER) + 2;
	hello.arch.data = (uint8_t *)"x86_64";
	hello.arch.len = 6;
	hello.window = 10; /* 0x0a */
	env.body_case = MUSTER__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	assert_int_equal(frame_encode(&frames, &env, FRAME_MAX_DEFAULT), 0);
	assert_non_null(memchr(buf_ptr(&frames), '\n', buf_len(&frames)));

	buf_init(&b, SCAN_BUF_MAX);
	append(&b, "motd\n" AGENT_MARKER);
	assert_int_equal(buf_append(&b, buf_ptr(&frames), buf_len(&frames)),
	    0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_left(&b, buf_ptr(&frames), buf_len(&frames));
	assert_int_equal(frame_decode(&b, FRAME_MAX_DEFAULT, &got), 0);
	assert_int_equal(got->body_case, MUSTER__ENVELOPE__BODY_HELLO);
	assert_int_equal(got->hello->window, 10);
	frame_free(got);
	buf_free(&b);

	/* A second marker line after the first is data, not a marker. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, AGENT_MARKER AGENT_MARKER "tail");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_left(&b, AGENT_MARKER "tail", strlen(AGENT_MARKER) + 4);
	buf_free(&b);
	buf_free(&frames);
}

static void
test_scan_need(void **state)
{
	struct buf b;
	char arch[32];

	buf_init(&b, SCAN_BUF_MAX);
	append(&b, AGENT_NEED_MARKER "x86_64\n");
	memset(arch, 'Q', sizeof(arch));
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "x86_64");
	assert_int_equal(buf_len(&b), 0);

	/* As the start command prints it: junk, an empty line, the request;
	 * whatever follows the line stays. */
	append(&b,
	    "motd\nno newline from .bashrc\n" AGENT_NEED_MARKER
	    "aarch64\nafter");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "aarch64");
	assert_left(&b, "after", 5);
	buf_reset(&b);

	/* No arch at all. */
	append(&b, AGENT_NEED_MARKER "\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "");
	assert_int_equal(buf_len(&b), 0);

	/* Without the blank after the word it is not the request. */
	append(&b, "MUSTER-NEED-AGENT\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_scan_need_truncated(void **state)
{
	char line[600], arch[16];
	struct buf b;
	size_t i;

	memcpy(line, AGENT_NEED_MARKER, strlen(AGENT_NEED_MARKER));
	for (i = strlen(AGENT_NEED_MARKER); i < sizeof(line) - 2; i++)
		line[i] = 'a' + i % 26;
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';

	/* Cut to the room given, NUL-terminated, no byte past it written. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, line);
	append(&b, "rest");
	memset(arch, 'Z', sizeof(arch));
	assert_int_equal(bootstrap_scan(&b, arch, 8, NULL), MARKER_NEED);
	assert_int_equal(strlen(arch), 7);
	assert_memory_equal(arch, line + strlen(AGENT_NEED_MARKER), 7);
	for (i = 8; i < sizeof(arch); i++)
		assert_int_equal(arch[i], 'Z');
	/* The whole line is consumed all the same. */
	assert_left(&b, "rest", 4);
	buf_reset(&b);

	/* Room for the terminator only. */
	append(&b, AGENT_NEED_MARKER "x86_64\n");
	memset(arch, 'Z', sizeof(arch));
	assert_int_equal(bootstrap_scan(&b, arch, 1, NULL), MARKER_NEED);
	assert_int_equal(arch[0], '\0');
	assert_int_equal(arch[1], 'Z');
	buf_reset(&b);

	/* Exactly fitting. */
	append(&b, AGENT_NEED_MARKER "0123456789abcde\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "0123456789abcde");
	buf_free(&b);
}

static void
test_scan_partial(void **state)
{
	static const char text[] = "banner line\nsecond\n" AGENT_MARKER;
	struct buf b;
	char arch[32] = "";
	size_t i, len = strlen(text);

	/* Half a marker: wait, keep the bytes. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, "MUSTER-AGE");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_left(&b, "MUSTER-AGE", 10);
	append(&b, "NT/1");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_int_equal(buf_append(&b, "\n\0\0", 3), 0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_left(&b, "\0\0", 2);
	buf_reset(&b);

	/* A byte at a time: complete junk lines go, the partial one stays,
	 * and the marker is reported exactly when its newline arrives. */
	for (i = 0; i < len; i++) {
		assert_int_equal(buf_append(&b, text + i, 1), 0);
		if (i + 1 < len) {
			assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch),
					     NULL),
			    MARKER_NONE);
			assert_true(buf_len(&b) <= strlen(AGENT_MARKER));
		} else
			assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch),
					     NULL),
			    MARKER_AGENT);
	}
	assert_int_equal(buf_len(&b), 0);

	/* A request for the agent cut inside the arch: no truncated arch. */
	append(&b, AGENT_NEED_MARKER "x86");
	strcpy(arch, "before");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_string_equal(arch, "before");
	append(&b, "_64\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "x86_64");
	buf_free(&b);
}

static void
test_scan_junk_limit(void **state)
{
	char *junk;
	struct buf b;
	char arch[32] = "";
	size_t i;

	junk = malloc(BOOTSTRAP_JUNK_MAX + 2);
	assert_non_null(junk);
	memset(junk, 'j', BOOTSTRAP_JUNK_MAX + 1);
	junk[BOOTSTRAP_JUNK_MAX + 1] = '\0';

	/* Up to the limit without a newline: still waiting. */
	buf_init(&b, SCAN_BUF_MAX);
	assert_int_equal(buf_append(&b, junk, BOOTSTRAP_JUNK_MAX), 0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NONE);
	assert_int_equal(buf_len(&b), BOOTSTRAP_JUNK_MAX);
	/* One byte more: give up. */
	assert_int_equal(buf_append(&b, "j", 1), 0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_JUNK);
	buf_free(&b);

	/* Complete lines do not count against it, however many. */
	buf_init(&b, SCAN_BUF_MAX);
	for (i = 0; i < 8 * BOOTSTRAP_JUNK_MAX / 1024; i++) {
		junk[1023] = '\n';
		assert_int_equal(buf_append(&b, junk, 1024), 0);
		assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
		    MARKER_NONE);
		assert_int_equal(buf_len(&b), 0);
	}
	append(&b, AGENT_MARKER);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	buf_reset(&b);

	/* Neither does one long line that does end. */
	junk[1023] = 'j';
	junk[BOOTSTRAP_JUNK_MAX] = '\n';
	assert_int_equal(buf_append(&b, junk, BOOTSTRAP_JUNK_MAX + 1), 0);
	append(&b, AGENT_NEED_MARKER "riscv64\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_string_equal(arch, "riscv64");
	buf_reset(&b);

	/* A complete line, then too long a partial one. */
	append(&b, "fine\n");
	junk[BOOTSTRAP_JUNK_MAX] = 'j';
	assert_int_equal(buf_append(&b, junk, BOOTSTRAP_JUNK_MAX + 1), 0);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_JUNK);
	buf_free(&b);
	free(junk);
}

static void
test_scan_not_a_marker(void **state)
{
	static const char *const lines[] = {
		"echo MUSTER-AGENT/1\n",
		" MUSTER-AGENT/1\n",
		"xMUSTER-AGENT/1\n",
		"MUSTER-AGENT/1 \n",
		"MUSTER-AGENT/1x\n",
		"MUSTER-AGENT/2\n",
		"MUSTER-AGENT/\n",
		"MUSTER-AGENT/1\r\n",
		"muster-agent/1\n",
		"# MUSTER-NEED-AGENT x86_64\n",
		"xMUSTER-NEED-AGENT x86_64\n",
		"MUSTER-NEED-AGENTx86_64\n",
	};
	struct buf b;
	char arch[32];
	size_t i;

	buf_init(&b, SCAN_BUF_MAX);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		strcpy(arch, "same");
		append(&b, lines[i]);
		assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
		    MARKER_NONE);
		/* Skipped as junk: the line is gone, arch untouched. */
		assert_int_equal(buf_len(&b), 0);
		assert_string_equal(arch, "same");
	}
	/* All of them in front of the real one. */
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		append(&b, lines[i]);
	append(&b, AGENT_MARKER "F");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_left(&b, "F", 1);
	buf_free(&b);
}

/* --- bootstrap_start_command ----------------------------------------- */

/* Something that looks like what agentbin computes. */
#define FAKE_SHA \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p;

	for (p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* An agent set of one: the given hash for this machine's architecture. */
static void
set_of_one(struct agentset *set, struct agentbin *ab, const char *sha)
{
	static const char *const arches[] = { "x86_64", "aarch64", "armv7l",
		"riscv64", "ppc64le", "s390x", "i686" };
	struct utsname u;
	size_t i;

	assert_int_equal(uname(&u), 0);
	memset(set, 0, sizeof(*set));
	memset(ab, 0, sizeof(*ab));
	set->v = ab;
	set->n = 1;
	snprintf(set->id, sizeof(set->id), "%s", FAKE_SHA);
	snprintf(ab->sha256, sizeof(ab->sha256), "%s", sha);
	for (i = 0; i < sizeof(arches) / sizeof(arches[0]); i++) {
		snprintf(ab->arch, sizeof(ab->arch), "%s", arches[i]);
		if (agentset_find(set, u.machine) == ab)
			return;
	}
	fail_msg("no agent architecture serves uname -m %s", u.machine);
}

/* --agent-dir, agent_dir=: the one place, checked before it reaches a
 * command; the fast start execs the link there, the probe tries it alone
 * and names it as place 1. */
static void
test_command_agent_dir(void **state)
{
	const char *bad[] = { "", "rel/dir", "~user/x", "/a b", "/a'b",
		"/$(id)", "/a`id`", "/a\\b", "/a\"b", "/a;b", "/a/../b",
		"/a//b", "/a/", "/", "~/", "/a/.", "/x!y", "/a\nb", "/a*" };
	const char *good[] = { "/opt/muster", "~/bin/m", "/a.b/c_d-e/F9" };
	struct agentset set;
	struct agentbin ab;
	char why[160], *cmd;
	size_t i;

	(void)state;
	set_of_one(&set, &ab, FAKE_SHA);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (agentdir_ok(bad[i], why, sizeof(why)))
			fail_msg("agent dir '%s' accepted", bad[i]);
		assert_true(why[0] != '\0');
		assert_null(bootstrap_start_command(FAKE_SHA, NULL, bad[i]));
		assert_null(bootstrap_probe_command(&set, NULL, bad[i]));
	}
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!agentdir_ok(good[i], why, sizeof(why)))
			fail_msg("agent dir '%s' refused: %s", good[i], why);
	cmd = bootstrap_start_command(FAKE_SHA, NULL, "~/bin/m");
	assert_string_equal(cmd,
	    "exec ~/bin/m/muster-agent-set-" FAKE_SHA " --stdio");
	free(cmd);
	cmd = bootstrap_probe_command(&set, NULL, "~/bin/m");
	assert_non_null(cmd);
	/* Only the named place, and the link only where the path is safe. */
	assert_non_null(strstr(cmd, "set -- \"$HOME/bin/m\"; "));
	assert_null(strstr(cmd, "/dev/shm"));
	assert_non_null(strstr(cmd, "chain \"$h\" && safe \"$a\""));
	free(cmd);
	cmd = bootstrap_probe_command(&set, NULL, "/opt/muster");
	assert_non_null(strstr(cmd, "set -- \"/opt/muster\"; "));
	free(cmd);
}

/* push/pull --become: the agent is started through sudo -n; a user name
 * that could break out of the quoting is refused. */
static void
test_command_become(void **state)
{
	const char *bad[] = { "", "-u", "a'b", "a b", "$(id)", "a;b", "a\nb",
		"abcdefghijklmnopqrstuvwxyz0123456789" };
	struct agentset set;
	struct agentbin ab;
	char *cmd = bootstrap_start_command(FAKE_SHA, "root", NULL);
	size_t i;

	set_of_one(&set, &ab, FAKE_SHA);
	assert_non_null(cmd);
	assert_string_equal(cmd,
	    "exec sudo -n -u root -- ~/.cache/muster/" BOOTSTRAP_LINK FAKE_SHA
	    " --stdio");
	free(cmd);
	cmd = bootstrap_probe_command(&set, "root", NULL);
	assert_non_null(cmd);
	assert_non_null(strstr(cmd, "exec sudo -n -u root -- \"$a\" --stdio"));
	assert_int_equal(count(cmd, "'"), 2);
	free(cmd);
	cmd = bootstrap_start_command(FAKE_SHA, "svc_user-1.x", NULL);
	assert_non_null(cmd);
	assert_non_null(strstr(cmd, "-u svc_user-1.x -- "));
	free(cmd);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(bootstrap_user_ok(bad[i]));
		assert_null(bootstrap_start_command(FAKE_SHA, bad[i], NULL));
		assert_null(bootstrap_probe_command(&set, bad[i], NULL));
	}
}

static void
test_scan_counts_junk(void **state)
{
	struct buf b;
	char arch[32];
	size_t junk = 0;

	/* A silent login shell: only the start command's own newline. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, "\n" AGENT_NEED_MARKER "x86_64\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), &junk),
	    MARKER_NEED);
	assert_int_equal(junk, 1);
	/* One blank line from ~/.bashrc is enough to break SFTP. */
	junk = 0;
	append(&b, "\n\n" AGENT_NEED_MARKER "x86_64\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), &junk),
	    MARKER_NEED);
	assert_int_equal(junk, 2);
	/* Counted across calls, as the bytes arrive. */
	junk = 0;
	append(&b, "motd\npartial");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), &junk),
	    MARKER_NONE);
	assert_int_equal(junk, 5);
	append(&b, "\n" AGENT_NEED_MARKER "x86_64\n");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), &junk),
	    MARKER_NEED);
	assert_int_equal(junk, 13);
	buf_free(&b);
}

/* --- bootstrap_stderr_line ------------------------------------------- */

static void
test_stderr_line(void **state)
{
	struct buf b;
	const char *line;
	char big[2048];

	buf_init(&b, 8192);
	assert_string_equal(bootstrap_stderr_line(&b), "");
	append(&b,
	    "stty: 'standard input': Inappropriate ioctl\r\nsudo: no\n");
	assert_string_equal(bootstrap_stderr_line(&b),
	    ": stty: 'standard input': Inappropriate ioctl  sudo: no");
	/* A login shell's whole chatter is cut to one bounded line. */
	memset(big, 'e', sizeof(big));
	assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
	line = bootstrap_stderr_line(&b);
	assert_true(strlen(line) < 512);
	assert_null(strchr(line, '\n'));
	buf_free(&b);
}

/* The fast start is the login shell's exec and nothing else: no /bin/sh,
 * no hash, no quotes (fish and tcsh read it the same). */
static void
test_command_shape(void **state)
{
	char *cmd = bootstrap_start_command(FAKE_SHA, NULL, NULL);

	assert_non_null(cmd);
	assert_string_equal(cmd,
	    "exec ~/.cache/muster/muster-agent-set-" FAKE_SHA " --stdio");
	free(cmd);
}

static void
test_probe_shape(void **state)
{
	struct agentset set;
	struct agentbin ab[2];
	char *cmd;
	size_t len;

	memset(&set, 0, sizeof(set));
	memset(ab, 0, sizeof(ab));
	set.v = ab;
	set.n = 2;
	snprintf(set.id, sizeof(set.id), "%s", FAKE_SHA);
	snprintf(ab[0].arch, sizeof(ab[0].arch), "x86_64");
	snprintf(ab[0].sha256, sizeof(ab[0].sha256), "%064d", 1);
	snprintf(ab[1].arch, sizeof(ab[1].arch), "aarch64");
	snprintf(ab[1].sha256, sizeof(ab[1].sha256), "%064d", 2);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	len = strlen(cmd);
	/* Each architecture's names pick its agent's hash, which names the
	 * file and is what the content is checked against. */
	assert_non_null(strstr(cmd,
	    "x86_64|amd64) s="
	    "0000000000000000000000"
	    "000000000000000000000000000000000000000001; k=1; z=0;;"));
	assert_non_null(strstr(cmd,
	    "aarch64|arm64) s="
	    "000000000000000000000"
	    "0000000000000000000000000000000000000000002; k=1; z=0;;"));
	assert_non_null(strstr(cmd, "*) s=;; esac"));
	assert_non_null(strstr(cmd, "muster-agent-$s"));
	assert_non_null(strstr(cmd, "exec \"$a\" --stdio"));
	assert_non_null(strstr(cmd, "sha256sum"));
	assert_non_null(strstr(cmd, AGENT_NEED_MARKER));
	assert_non_null(strstr(cmd, "uname -m"));
	assert_non_null(strstr(cmd, ".cache/muster"));
	/* The start link, named by the set. */
	assert_non_null(strstr(cmd, BOOTSTRAP_LINK FAKE_SHA));
	/* Whatever the login shell is, everything runs in /bin/sh: one
	 * single-quoted argument, no quote inside it to break out. */
	assert_true(strncmp(cmd, "exec /bin/sh -c '", 17) == 0);
	assert_int_equal(cmd[len - 1], '\'');
	assert_int_equal(count(cmd, "'"), 2);
	/* The printf escapes came out as the shell's "strip the longest
	 * suffix" (sha256sum prints "HASH  -"). */
	assert_non_null(strstr(cmd, "v=${v%% *}; want=$s;"));
	assert_non_null(strstr(cmd, "p=${p%/*};"));
	free(cmd);
}

/* A temporary HOME, with a blank in its name to keep the quoting honest. */
struct home {
	char dir[256];
	char cache[300];
	char *old_home;
};

static void
home_enter(struct home *h)
{
	const char *tmp = getenv("TMPDIR");
	char muster[320];

	snprintf(h->dir, sizeof(h->dir), "%s/muster ut home.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(h->dir));
	snprintf(h->cache, sizeof(h->cache), "%s/.cache", h->dir);
	snprintf(muster, sizeof(muster), "%s/muster", h->cache);
	assert_int_equal(mkdir(h->cache, 0700), 0);
	assert_int_equal(mkdir(muster, 0700), 0);
	h->old_home = getenv("HOME") != NULL ? strdup(getenv("HOME")) : NULL;
	assert_int_equal(setenv("HOME", h->dir, 1), 0);
}

static void
home_leave(struct home *h)
{
	char muster[320];

	snprintf(muster, sizeof(muster), "%s/muster", h->cache);
	assert_int_equal(rmdir(muster), 0);
	assert_int_equal(rmdir(h->cache), 0);
	assert_int_equal(rmdir(h->dir), 0);
	if (h->old_home != NULL) {
		assert_int_equal(setenv("HOME", h->old_home, 1), 0);
		free(h->old_home);
	} else
		unsetenv("HOME");
}

static void
agent_path(const struct home *h, const char *sha, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/muster/muster-agent-%s", h->cache, sha);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Run the command the way sshd hands it to a login shell: sh -c. Returns
 * its stdout (caller frees) and exit status. */
static char *
run_sh(const char *cmd, int *status)
{
	char *out = NULL;
	size_t outlen = 0, n;
	char chunk[4096];
	FILE *mem, *p;

	mem = open_memstream(&out, &outlen);
	assert_non_null(mem);
	/* popen runs "/bin/sh -c cmd". */
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
		assert_int_equal(fwrite(chunk, 1, n, mem), n);
	*status = pclose(p);
	assert_int_equal(fclose(mem), 0);
	return out;
}

static void
expect_need(const char *out)
{
	struct utsname u;
	struct buf b;
	char arch[65], want[200];

	assert_int_equal(uname(&u), 0);
	/* The architecture, then (when a place will do) its number and
	 * path: the home's cache is the first place. */
	snprintf(want, sizeof(want), "\n" AGENT_NEED_MARKER "%s", u.machine);
	assert_true(strncmp(out, want, strlen(want)) == 0);
	assert_true(out[strlen(want)] == '\n' || out[strlen(want)] == ' ');
	/* And the scanner understands it. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, out);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	assert_true(strncmp(arch, u.machine, strlen(u.machine)) == 0);
	assert_int_equal(buf_len(&b), 0);
	buf_free(&b);
}

static void
test_command_no_agent(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char *cmd, *out;
	int status;

	home_enter(&h);
	set_of_one(&set, &ab, FAKE_SHA);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	out = run_sh(cmd, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	expect_need(out);
	free(out);
	free(cmd);
	/* No link: the fast start fails, prints nothing on stdout, and the
	 * controller probes. */
	cmd = bootstrap_start_command(set.id, NULL, NULL);
	assert_non_null(cmd);
	out = run_sh(cmd, &status);
	assert_false(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal(out, "");
	free(out);
	free(cmd);
	home_leave(&h);
}

static const char agent_script[] =
    "#!/bin/sh\n"
    "echo \"RAN $1\"\n"
    "echo \"ARGS $#\"\n";

static void
link_path(const struct home *h, const char *id, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/muster/" BOOTSTRAP_LINK "%s", h->cache, id);
}

static void
test_command_runs_agent(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char sha[65], path[512], link[512], target[512], *cmd, *fast, *out;
	struct stat st;
	ssize_t n;
	int status;

	home_enter(&h);
	sha256_hex((const uint8_t *)agent_script, strlen(agent_script), sha);
	assert_int_equal(strlen(sha), 64);
	set_of_one(&set, &ab, sha);
	agent_path(&h, sha, path, sizeof(path));
	link_path(&h, set.id, link, sizeof(link));
	write_file(path, agent_script, 0700);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	out = run_sh(cmd, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The agent itself, with exactly one argument, after the newline
	 * that puts its marker at a line start. */
	assert_string_equal(out, "\nRAN --stdio\nARGS 1\n");
	free(out);
	/* Left in place for next time, and the start link points at it. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_true((n = readlink(link, target, sizeof(target) - 1)) > 0);
	target[n] = '\0';
	assert_string_equal(target, strrchr(path, '/') + 1);
	/* The fast start runs it through the link. */
	fast = bootstrap_start_command(set.id, NULL, NULL);
	assert_non_null(fast);
	out = run_sh(fast, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_string_equal(out, "RAN --stdio\nARGS 1\n");
	free(out);
	free(fast);
	/* The probe twice in a row works the same. */
	out = run_sh(cmd, &status);
	assert_string_equal(out, "\nRAN --stdio\nARGS 1\n");
	free(out);
	free(cmd);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(path), 0);
	home_leave(&h);
}

/* A directory others may write: the agent is not run. A group-writable
 * agent or ~/.cache: it runs, but no start link is made, so every start
 * goes through the hash again. */
static void
test_command_no_link_when_shared(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char sha[65], path[512], link[512], dir[512], *cmd, *out;
	int status;

	home_enter(&h);
	sha256_hex((const uint8_t *)agent_script, strlen(agent_script), sha);
	set_of_one(&set, &ab, sha);
	agent_path(&h, sha, path, sizeof(path));
	link_path(&h, set.id, link, sizeof(link));
	snprintf(dir, sizeof(dir), "%s/muster", h.cache);
	write_file(path, agent_script, 0700);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	/* An agent in a directory others may write is not run at all: it
	 * could have been swapped between the hash and the exec. */
	assert_int_equal(chmod(dir, 0770), 0);
	out = run_sh(cmd, &status);
	assert_null(strstr(out, "RAN"));
	free(out);
	assert_int_equal(access(link, F_OK), -1);
	/* Nor for a group-writable agent, or ~/.cache. */
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(chmod(path, 0720), 0);
	out = run_sh(cmd, &status);
	assert_string_equal(out, "\nRAN --stdio\nARGS 1\n");
	free(out);
	assert_int_equal(access(link, F_OK), -1);
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(chmod(h.cache, 0707), 0);
	out = run_sh(cmd, &status);
	assert_string_equal(out, "\nRAN --stdio\nARGS 1\n");
	free(out);
	assert_int_equal(access(link, F_OK), -1);
	assert_int_equal(chmod(h.cache, 0700), 0);
	/* Once all is the user's alone, the link is made. */
	out = run_sh(cmd, &status);
	free(out);
	assert_int_equal(access(link, F_OK), 0);
	free(cmd);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(path), 0);
	home_leave(&h);
}

static void
test_command_hash_mismatch(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char sha[65], path[512], *cmd, *out;
	int status;

	home_enter(&h);
	/* Named for the real script, holding something else (a torn copy). */
	sha256_hex((const uint8_t *)agent_script, strlen(agent_script), sha);
	set_of_one(&set, &ab, sha);
	agent_path(&h, sha, path, sizeof(path));
	write_file(path, "#!/bin/sh\necho \"TAMPERED $1\"\n", 0700);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	out = run_sh(cmd, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Not run; removed; the agent is asked for. */
	assert_null(strstr(out, "TAMPERED"));
	expect_need(out);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	free(out);

	/* A truncated copy of the right file is no better. */
	write_file(path, "#!/bin/sh\n", 0700);
	out = run_sh(cmd, &status);
	expect_need(out);
	assert_int_equal(access(path, F_OK), -1);
	free(out);

	/* An empty file neither. */
	write_file(path, "", 0700);
	out = run_sh(cmd, &status);
	expect_need(out);
	assert_int_equal(access(path, F_OK), -1);
	free(out);
	free(cmd);
	home_leave(&h);
}

static void
test_command_not_executable(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char sha[65], path[512], *cmd, *out;
	int status;

	home_enter(&h);
	sha256_hex((const uint8_t *)agent_script, strlen(agent_script), sha);
	set_of_one(&set, &ab, sha);
	agent_path(&h, sha, path, sizeof(path));
	/* The right content without the execute bit is not run. */
	write_file(path, agent_script, 0600);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	out = run_sh(cmd, &status);
	assert_null(strstr(out, "RAN"));
	expect_need(out);
	free(out);
	free(cmd);
	unlink(path);
	home_leave(&h);
}

static void
test_command_login_junk(void **state)
{
	struct agentset set;
	struct agentbin ab;
	struct home h;
	char *cmd, *wrapped, *out;
	struct buf b;
	char arch[65];
	int status;

	/* A login shell that prints a banner, the last line without a
	 * newline, before running the command. */
	home_enter(&h);
	set_of_one(&set, &ab, FAKE_SHA);
	cmd = bootstrap_probe_command(&set, NULL, NULL);
	assert_non_null(cmd);
	assert_true(
	    asprintf(&wrapped, "printf 'Welcome!\\nlast line'; %s", cmd) > 0);
	out = run_sh(wrapped, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, out);
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_NEED);
	buf_free(&b);
	free(out);
	free(wrapped);
	free(cmd);
	/* The agent's own marker starts with a newline for the same
	 * reason: the fast start has no echo in front of it. */
	buf_init(&b, SCAN_BUF_MAX);
	append(&b, "Welcome!\nlast line" AGENT_MARKER "F");
	assert_int_equal(bootstrap_scan(&b, arch, sizeof(arch), NULL),
	    MARKER_AGENT);
	assert_left(&b, "F", 1);
	buf_free(&b);
	home_leave(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_empty),
		cmocka_unit_test(test_scan_marker_alone),
		cmocka_unit_test(test_scan_junk_then_marker),
		cmocka_unit_test(test_scan_frames_stay),
		cmocka_unit_test(test_scan_need),
		cmocka_unit_test(test_scan_need_truncated),
		cmocka_unit_test(test_scan_partial),
		cmocka_unit_test(test_scan_junk_limit),
		cmocka_unit_test(test_scan_not_a_marker),
		cmocka_unit_test(test_scan_counts_junk),
		cmocka_unit_test(test_stderr_line),
		cmocka_unit_test(test_command_shape),
		cmocka_unit_test(test_probe_shape),
		cmocka_unit_test(test_command_become),
		cmocka_unit_test(test_command_agent_dir),
		cmocka_unit_test(test_command_no_agent),
		cmocka_unit_test(test_command_runs_agent),
		cmocka_unit_test(test_command_no_link_when_shared),
		cmocka_unit_test(test_command_hash_mismatch),
		cmocka_unit_test(test_command_not_executable),
		cmocka_unit_test(test_command_login_junk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
