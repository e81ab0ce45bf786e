/*
 * The guard process (guard.h). Why a process and not PR_SET_PDEATHSIG in
 * each child: the death signal reaches the direct child only, not the
 * rest of its process group (`sleep 1000 & sleep 1000`), and the kernel
 * clears it across a set-user-ID exec, which is how `become` runs (sudo).
 * A subreaper does not help either: it is the agent itself, which is
 * dead. A separate process that learns of the agent's death by end of
 * file on a pipe sees every way the agent can end, and signals whole
 * groups, through sudo too (sudo passes SIGTERM on to its command).
 */
#include "guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "err.h"

/* Groups registered at once: the channel has at most 256 streams
 * (MUX_MAX_STREAMS); a group past this many is not guarded. */
#define GUARD_MAX_GROUPS 1024
/* How often the guard looks whether the groups it signalled are gone. */
#define GUARD_POLL_NS (50 * 1000 * 1000)
#define GUARD_TITLE "muster guard"

/* One message on the pipe; 12 bytes, so each write is atomic (PIPE_BUF). */
struct guard_msg {
	int32_t op; /* '+' register, '-' forget */
	int32_t pgid;
	uint32_t grace_ms;
};

struct guard_group {
	pid_t pgid;
	uint32_t grace_ms;
};

/* The agent's write end; -1 without a guard. */
static int guard_fd = -1;

static void
guard_send(const struct guard_msg *m)
{
	ssize_t n;

	if (guard_fd == -1)
		return;
	/* Non-blocking: a guard that does not read (stopped) must not stop
	 * the agent; a lost message leaves one group unguarded. */
	do
		n = write(guard_fd, m, sizeof(*m));
	while (n == -1 && errno == EINTR);
}

void
guard_register(unsigned grace_ms)
{
	struct guard_msg m = { '+', (int32_t)getpid(), grace_ms };

	guard_send(&m);
}

void
guard_forget(pid_t pgid)
{
	struct guard_msg m = { '-', (int32_t)pgid, 0 };

	if (pgid > 0)
		guard_send(&m);
}

/* Show GUARD_TITLE as the command line, overwriting main's argv in place
 * (as OpenSSH's setproctitle does), and as the process name. */
static void
set_title(int argc, char **argv)
{
	char *start, *end;
	size_t room;

	(void)prctl(PR_SET_NAME, GUARD_TITLE, 0, 0, 0);
	if (argc < 1 || argv[0] == NULL)
		return;
	start = argv[0];
	end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	if (end <= start)
		return;
	room = (size_t)(end - start);
	memset(start, 0, room);
	memcpy(start, GUARD_TITLE,
	    room - 1 < sizeof(GUARD_TITLE) - 1 ?
		room - 1 :
		sizeof(GUARD_TITLE) - 1);
}

static int
group_alive(pid_t pgid)
{
	return killpg(pgid, 0) == 0 || errno == EPERM;
}

/* The agent is gone: cancel what it left running, as it would have. */
static void
guard_fire(struct guard_group *g, size_t n)
{
	struct timespec tick = { 0, GUARD_POLL_NS };
	uint64_t waited_ms = 0;
	size_t i, left;

	for (i = 0; i < n; i++)
		(void)killpg(g[i].pgid, SIGTERM);
	for (;;) {
		left = 0;
		for (i = 0; i < n; i++) {
			if (g[i].pgid == 0)
				continue;
			if (!group_alive(g[i].pgid))
				g[i].pgid = 0;
			else if (waited_ms >= g[i].grace_ms) {
				(void)killpg(g[i].pgid, SIGKILL);
				g[i].pgid = 0;
			} else
				left++;
		}
		if (left == 0)
			return;
		(void)nanosleep(&tick, NULL);
		waited_ms += GUARD_POLL_NS / 1000000;
	}
}

/* The guard's life: follow the agent's messages until end of file. */
static void __attribute__((noreturn)) guard_main(int fd)
{
	static struct guard_group groups[GUARD_MAX_GROUPS];
	union {
		struct guard_msg m;
		uint8_t b[sizeof(struct guard_msg)];
	} in;
	size_t have = 0, n = 0, i;
	ssize_t r;

	for (;;) {
		r = read(fd, in.b + have, sizeof(in) - have);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		if (have < sizeof(in))
			continue;
		have = 0;
		if (in.m.op == '+' && in.m.pgid > 1 && n < GUARD_MAX_GROUPS) {
			groups[n].pgid = in.m.pgid;
			groups[n].grace_ms = in.m.grace_ms;
			n++;
		} else if (in.m.op == '-') {
			for (i = 0; i < n; i++)
				if (groups[i].pgid == in.m.pgid) {
					groups[i] = groups[--n];
					break;
				}
		}
	}
	guard_fire(groups, n);
	_exit(0);
}

void
guard_child_signals(void)
{
	struct sigaction sa;
	sigset_t none;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

int
guard_start(int argc, char **argv)
{
	int p[2], fd;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return MERR_SYS;
	if ((pid = fork()) == -1) {
		close(p[0]);
		close(p[1]);
		return MERR_SYS;
	}
	if (pid == 0) {
		/* Its own session: signals for the agent's group or terminal
		 * are not for the guard. It keeps none of the agent's
		 * descriptors, so sshd sees the agent's end when it ends. */
		(void)setsid();
		guard_child_signals();
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			(void)dup2(fd, STDIN_FILENO);
			(void)dup2(fd, STDOUT_FILENO);
			(void)dup2(fd, STDERR_FILENO);
			if (fd > STDERR_FILENO)
				(void)close(fd);
		}
		if (p[0] != 3 && dup2(p[0], 3) == -1)
			_exit(1);
		if (close_range(4, ~0U, 0) != 0)
			for (fd = 4; fd < 1024; fd++)
				(void)close(fd);
		set_title(argc, argv);
		guard_main(3);
	}
	close(p[0]);
	if (fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK) == -1) {
		close(p[1]);
		return MERR_SYS;
	}
	guard_fd = p[1];
	return 0;
}
