/*
 * The agent's guard: a small process forked when the agent starts that
 * outlives it, so that commands die with their agent even when the agent
 * is SIGKILLed and cannot clean up itself.
 *
 * The guard holds the read end of a pipe whose only write end is the
 * agent's (close-on-exec, and closed in every child before it execs). Each
 * command's child registers its process group on the pipe before it execs;
 * the agent forgets a group once the command's stream is over. When the
 * pipe reaches end of file the agent is gone: the guard signals each group
 * still registered as a cancel would (SIGTERM, then SIGKILL after the
 * command's grace period) and exits.
 */
#ifndef MUSTER_AGENT_GUARD_H
#define MUSTER_AGENT_GUARD_H

#include <sys/types.h>

/* Fork the guard. argv is main's, so that the guard can show another
 * command line than the agent's (a `pkill -f muster-agent` must not take
 * the guard along). Without a guard (MERR_SYS) commands still run. */
int guard_start(int argc, char **argv);
/* In a command's child, after it made its process group and before it
 * execs: async-signal-safe. A no-op without a guard. */
void guard_register(unsigned grace_ms);
/* In a new child: every signal back to its default action, none blocked
 * (the agent's ignored and blocked signals would survive exec). */
void guard_child_signals(void);
/* The command's stream is over: the guard lets go of its group. */
void guard_forget(pid_t pgid);

#endif
