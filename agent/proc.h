/*
 * One command run by the agent: its process group, its pipes, its timers.
 *
 * The owner (the stream layer) decides how much output may be read and is
 * told, through struct proc_cb, about output, end of output, stdin bytes
 * that left the buffer and finally the exit. exit is the last callback; the
 * owner frees the proc afterwards, outside the callback.
 *
 * State diagram:
 *   RUNNING -> TERM_SENT -> KILL_SENT -> LINGER -> DONE
 *   RUNNING -> EXITED -> DONE
 *   RUNNING -> KILL_SENT            (proc_kill_now)
 *   TERM_SENT -> EXITED_TERM -> DONE
 *   EXITED -> EXITED_TERM           (proc_cancel after the child exited)
 *
 * RUNNING: the child lives and nobody asked it to stop. proc_cancel (or
 * the timeout) sends SIGTERM to the group (TERM_SENT) and arms the grace
 * timer; when it fires the group gets SIGKILL (KILL_SENT). Once the child
 * is reaped the state says how it went: EXITED on its own, EXITED_TERM
 * during the grace period (SIGKILL when it ends, then the pipes close),
 * LINGER after SIGKILL (the pipes get a short while to deliver what the
 * dead group left, then close). DONE once reaped and both outputs are
 * closed: the exit callback has run. proc_signal sends a signal without
 * changing the state; the owner's shutdown ends with proc_kill_now.
 */
#ifndef MUSTER_AGENT_PROC_H
#define MUSTER_AGENT_PROC_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "muster.pb-c.h"

#define PROC_KILL_GRACE_DEFAULT_MS 2000

struct proc;

struct proc_status {
	int code; /* exit code, -1 when killed by a signal */
	int signal;
	int timed_out;
	int core_dumped;
	/* become: sudo did not start the command; what it said (held back
	 * from the output), valid during the exit callback only. */
	int become_failed;
	const uint8_t *become_msg;
	size_t become_msg_len;
};

struct proc_cb {
	/* n bytes read from the child's fd 1 or 2. */
	void (*output)(void *arg, int fd, const uint8_t *p, size_t n);
	/* fd 1 or 2 reached end of file (or was closed after a kill). */
	void (*eof)(void *arg, int fd);
	/* n bytes of stdin left the buffer: written, or dropped because the
	 * child closed its end. */
	void (*stdin_done)(void *arg, size_t n);
	/* Reaped and both output pipes closed. Last callback. */
	void (*exit)(void *arg, const struct proc_status *st);
};

/*
 * Start ex in a new process group (with tty: a new session on a
 * pseudo-terminal; with become_user: through sudo, see become.h).
 * stdin_max bounds the stdin buffer.
 * MERR_INVAL for an argument with a NUL byte, MERR_SYS if pipe or fork
 * failed (errno is kept), MERR_NOMEM.
 */
int proc_spawn(struct ev_loop *loop, const Muster__Exec *ex, size_t stdin_max,
    const struct proc_cb *cb, void *arg, struct proc **out);
/* Allow reading up to allowed bytes of output. With 0 nothing is read,
 * but the end of an empty pipe is still reported. */
void proc_output(struct proc *p, size_t allowed);
/* MERR_PROTOCOL if the stream has no stdin or it was closed already,
 * MERR_CREDIT if the buffer would exceed stdin_max. */
int proc_write_stdin(struct proc *p, const uint8_t *data, size_t n);
/* Close stdin once the buffer has drained. */
int proc_close_stdin(struct proc *p);
/* SIGTERM the group, SIGKILL after the grace period, then stop waiting for
 * output. timed_out is reported in the exit status. */
void proc_cancel(struct proc *p, int timed_out);
/* Signal the whole group now (shutdown). */
void proc_signal(struct proc *p, int sig);
/*
 * The end of a shutdown: SIGKILL the group, reap the child, pass on what
 * the pipes already hold (within the allowance) and report the end with
 * the eof and exit callbacks, all before returning. The status is the one
 * the child died with: SIGTERM if that got it first, else SIGKILL.
 */
void proc_kill_now(struct proc *p);
/* Block until the child is reaped; for the final exit only. */
void proc_wait(struct proc *p);
void proc_free(struct proc *p);

#endif
