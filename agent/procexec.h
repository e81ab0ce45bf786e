/*
 * Starting a command, the part before it is a proc: its argv, its pipes or
 * terminal, and the fork into a process group of its own. The child side
 * never returns: it execs or exits 127 with the reason on its stderr.
 *
 * proc.c owns the command once forked (watchers, state, signals); this
 * module knows no struct proc and no event loop. Errors are returned as
 * MERR_* with errno kept for MERR_SYS.
 */
#ifndef MUSTER_AGENT_PROCEXEC_H
#define MUSTER_AGENT_PROCEXEC_H

#include <sys/types.h>

#include "muster.pb-c.h"

/* The descriptors of a command being spawned, -1 where there is none:
 * the child's ends and the agent's, until the agent's move into the proc
 * (set each moved one to -1 here). */
struct procexec_fds {
	int out[2][2]; /* pipes for the child's fd 1 and 2 (not tty) */
	int in[2];     /* the stdin pipe; tty: [1] a second master */
	int master;    /* tty: the terminal */
	int slave;
};

void procexec_fds_init(struct procexec_fds *f);
/* Closes every descriptor still in f. */
void procexec_fds_close(struct procexec_fds *f);
/* A terminal (no echo, a size) or pipes, the agent's ends non-blocking
 * and every descriptor close-on-exec; stdin only if need_stdin. */
int procexec_fds_open(struct procexec_fds *f, int tty, int need_stdin);

/* argv for execvp, or sh -c for the shell command; free with
 * bytes_free_argv (bytes.h). Never 0 without an argv. */
int procexec_argv(const Muster__Exec *ex, char ***out);

/* Forks the child, which execs argv ("sudo" when become, a bare name
 * looked up in PATH) on the child's ends of f, registered with the guard
 * (grace_ms) before exec. Signals are blocked across the fork. */
int procexec_fork(const Muster__Exec *ex, char **argv, int become,
    const struct procexec_fds *f, unsigned grace_ms, pid_t *pid);

/* Closes *fd if open and sets it to -1. */
void procexec_close_fd(int *fd);

#endif
