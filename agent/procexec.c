/*
 * Starting a command: its argv, its pipes or terminal, and the fork and
 * exec into a process group (tty: a session) of its own. proc.c owns what
 * happens after; this module knows no proc and no event loop.
 */
#include "procexec.h"

#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <termios.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "compat.h"
#include "err.h"
#include "guard.h"
#include "nonblock.h"

/* Fallback bound for closing inherited descriptors without close_range. */
#define PROC_CLOSE_MAX 65536

static void
close_from(int lowfd)
{
	long max;
	int fd;

	if (close_range(lowfd, ~0U, 0) == 0)
		return;
	/* Old kernels: the agent's own descriptors are close-on-exec, this
	 * only catches what sshd or a shell left open for us. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > PROC_CLOSE_MAX)
		max = PROC_CLOSE_MAX;
	for (fd = lowfd; fd < max; fd++)
		(void)close(fd);
}

static void
child_fail(const char *what, int err)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof(msg), "muster-agent: cannot execute %s: %s\n",
	    what, strerror(err));
	if (n > (int)sizeof(msg) - 1)
		n = sizeof(msg) - 1;
	if (n > 0)
		(void)write(STDERR_FILENO, msg, n);
	_exit(127);
}

/* In the child: never returns. Only the descriptors given survive. */
static void
child_exec(const char *path, char *const argv[], char *const direct[],
    int use_path, int stdin_fd, int out_fd, int err_fd, int tty,
    unsigned grace_ms)
{
	/* A terminal needs a session of its own to be the controlling one
	 * (setsid also makes the process group). */
	if (tty) {
		if (setsid() == -1 || ioctl(out_fd, TIOCSCTTY, 0) == -1)
			_exit(127);
	} else
		(void)setpgid(0, 0);
	/* Before exec, so that no moment exists in which the agent could
	 * die and leave the group unguarded. */
	guard_register(grace_ms);
	/* Ignored signals survive exec: SIGPIPE in particular must not. */
	guard_child_signals();

	if (dup2(out_fd, STDOUT_FILENO) == -1 ||
	    dup2(err_fd, STDERR_FILENO) == -1)
		_exit(127);
	if (stdin_fd == -1 &&
	    (stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		child_fail("/dev/null", errno);
	if (dup2(stdin_fd, STDIN_FILENO) == -1)
		child_fail("(stdin)", errno);
	close_from(STDERR_FILENO + 1);
	/* A command sh would only look up and exec (shell_direct): that,
	 * and where it does not run, the shell, which says why as before. */
	if (direct != NULL)
		execvp(direct[0], direct);
	if (use_path)
		execvp(path, argv);
	else
		execv(path, argv);
	child_fail(path, errno);
}

/* Shell builtins and reserved words: sh runs these itself, or differently
 * from a program of the same name (printf, pwd, kill without arguments;
 * bash's `time` when /bin/sh is bash). true and false are not here: the
 * programs do the same. A builtin with no program of its name needs no
 * entry: the exec fails and the shell runs it. */
static const char *const shell_words[] = { ".", ":", "[", "alias", "bg",
	"break", "builtin", "case", "cd", "command", "continue", "coproc",
	"declare", "do", "done", "echo", "elif", "else", "esac", "eval",
	"exec", "exit", "export", "fc", "fg", "fi", "for", "function",
	"getopts", "hash", "if", "in", "jobs", "kill", "let", "local",
	"newgrp", "printf", "pwd", "read", "readonly", "return", "select",
	"set", "shift", "source", "test", "then", "time", "times", "trap",
	"type", "typeset", "ulimit", "umask", "unalias", "unset", "until",
	"wait", "while" };

/*
 * Whether `sh -c CMD` would do no more than look CMD up in PATH and exec
 * it with no arguments, so the agent may do that itself and save the
 * shell's exec (bench/README.md, "Where a start's CPU goes"): one word of
 * characters no shell gives a meaning, not a builtin or reserved word, not
 * an option, with PATH set (sh has a default path of its own) and PWD
 * already naming the working directory (sh exports PWD, and keeps a
 * value that names "."; otherwise it would put one in the command's
 * environment). The exec falls back to the shell if it fails.
 */
static bool
shell_direct(const char *cmd)
{
	const char *pwd = getenv("PWD"), *c;
	struct stat a, b;
	size_t i;

	if (cmd[0] == '\0' || cmd[0] == '-' || strlen(cmd) > 255 ||
	    getenv("PATH") == NULL)
		return false;
	for (c = cmd; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
			*c == '/' || *c == '-' || *c == '+'))
			return false;
	for (i = 0; i < sizeof(shell_words) / sizeof(shell_words[0]); i++)
		if (strcmp(cmd, shell_words[i]) == 0)
			return false;
	return pwd != NULL && pwd[0] == '/' && stat(pwd, &a) == 0 &&
	    stat(".", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/*
 * vfork, not fork: the child only makes its group, registers it, resets
 * signals, moves descriptors and execs (child_exec: system calls on its own
 * stack frames and descriptor table, no allocation, no stdio), so it need
 * not copy the agent's page tables, and neither side pays copy-on-write
 * faults afterwards; on a VM that was most of the agent's share of a
 * start's CPU (bench/README.md, "Where a start's CPU goes"). The caller
 * blocks every signal until the child has reset them, so no handler of
 * ours runs on the shared memory. A frame of its own: nothing of the
 * caller's lives across the vfork.
 */
static pid_t __attribute__((noinline)) spawn_child(const char *path,
    char *const argv[], char *const direct[], int use_path, int stdin_fd,
    int out_fd, int err_fd, int tty, unsigned grace_ms)
{
	pid_t pid;

	// NOLINTNEXTLINE(clang-analyzer-security.insecureAPI.vfork)
	if ((pid = vfork()) == 0) {
		/* Only system calls on the child's own frames: see above. */
		// NOLINTNEXTLINE(clang-analyzer-unix.Vfork)
		child_exec(path, argv, direct, use_path, stdin_fd, out_fd,
		    err_fd, tty, grace_ms);
	}
	return pid;
}

/* A terminal for --tty: no echo (stdin bytes, a password above all,
 * must not come back as output) and no "\r\n" for "\n", since the
 * output is read by a program; a size, as full-screen programs want one. */
static int
open_pty(int *master, int *slave)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	struct termios t;
	char name[128];

	*master = *slave = -1;
	if ((*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    grantpt(*master) != 0 || unlockpt(*master) != 0 ||
	    ptsname_r(*master, name, sizeof(name)) != 0 ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1 ||
	    tcgetattr(*slave, &t) != 0)
		goto fail;
	t.c_lflag &= ~(ECHO | ECHONL);
	t.c_oflag &= ~ONLCR;
	if (tcsetattr(*slave, TCSANOW, &t) != 0 ||
	    ioctl(*slave, TIOCSWINSZ, &ws) != 0)
		goto fail;
	return 0;
fail:
	procexec_close_fd(master);
	procexec_close_fd(slave);
	return MERR_SYS;
}

void
procexec_close_fd(int *fd)
{
	if (*fd != -1) {
		(void)close(*fd);
		*fd = -1;
	}
}

int
procexec_argv(const Muster__Exec *ex, char ***out)
{
	size_t i, n = ex->n_argv > 0 ? ex->n_argv : 3;
	char **argv;
	int r = 0;

	*out = NULL;
	if ((argv = calloc(n + 1, sizeof(*argv))) == NULL)
		return MERR_NOMEM;
	if (ex->n_argv > 0) {
		for (i = 0; i < ex->n_argv; i++)
			if ((argv[i] = bytes_cstr(&ex->argv[i], &r)) == NULL)
				goto fail;
	} else {
		if ((argv[0] = strdup("sh")) == NULL ||
		    (argv[1] = strdup("-c")) == NULL) {
			r = MERR_NOMEM;
			goto fail;
		}
		if ((argv[2] = bytes_cstr(&ex->shell_command, &r)) == NULL)
			goto fail;
	}
	*out = argv;
	return 0;
fail:
	bytes_free_argv(argv);
	/* Never 0 without argv: the caller would exec NULL. */
	return r != 0 ? r : MERR_INVAL;
}

void
procexec_fds_init(struct procexec_fds *f)
{
	f->out[0][0] = f->out[0][1] = f->out[1][0] = f->out[1][1] = -1;
	f->in[0] = f->in[1] = f->master = f->slave = -1;
}

void
procexec_fds_close(struct procexec_fds *f)
{
	int i;

	for (i = 0; i < 2; i++) {
		procexec_close_fd(&f->out[i][0]);
		procexec_close_fd(&f->out[i][1]);
		procexec_close_fd(&f->in[i]);
	}
	procexec_close_fd(&f->master);
	procexec_close_fd(&f->slave);
}

int
procexec_fds_open(struct procexec_fds *f, int tty, int need_stdin)
{
	if (tty) {
		if (open_pty(&f->master, &f->slave) != 0 ||
		    nonblock_set(f->master) != 0)
			return MERR_SYS;
		/* The write side gets its own descriptor, so that it can
		 * be closed on its own. */
		if (need_stdin &&
		    (f->in[1] = fcntl(f->master, F_DUPFD_CLOEXEC, 0)) == -1)
			return MERR_SYS;
		return 0;
	}
	if (pipe2(f->out[0], O_CLOEXEC) == -1 ||
	    pipe2(f->out[1], O_CLOEXEC) == -1)
		return MERR_SYS;
	if (need_stdin && pipe2(f->in, O_CLOEXEC) == -1)
		return MERR_SYS;
	if (nonblock_set(f->out[0][0]) != 0 ||
	    nonblock_set(f->out[1][0]) != 0 ||
	    (f->in[1] != -1 && nonblock_set(f->in[1]) != 0))
		return MERR_SYS;
	return 0;
}

int
procexec_fork(const Muster__Exec *ex, char **argv, int become,
    const struct procexec_fds *f, unsigned grace_ms, pid_t *pid)
{
	const char *path;
	char *direct[2] = { NULL, NULL };
	sigset_t all, old;
	int saved;

	/* make_argv returned 0: argv holds n_argv words. */
	path = become ?
	    "sudo" :
	    ex->n_argv > 0 ?
	    argv[0] :
	    "/bin/sh"; /* NOLINT(clang-analyzer-core.NullDereference) */
	/* Block everything across vfork so that no handler of ours (libev
	 * writes to its wakeup pipe) runs in the child before it resets. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	if (!become && ex->n_argv == 0 && shell_direct(argv[2]))
		direct[0] = argv[2];
	*pid = spawn_child(path, argv, direct[0] != NULL ? direct : NULL,
	    ex->tty ? 1 : become || ex->n_argv > 0,
	    ex->tty ? f->slave : f->in[0], ex->tty ? f->slave : f->out[0][1],
	    ex->tty ? f->slave : f->out[1][1], ex->tty, grace_ms);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (*pid == -1) {
		errno = saved;
		return MERR_SYS;
	}
	/* The child does the same; whichever runs first wins, so a kill of
	 * the group can never miss the child. A tty child must make its
	 * group with setsid, which fails in a group someone else made. */
	if (!ex->tty)
		(void)setpgid(*pid, *pid);
	return 0;
}
