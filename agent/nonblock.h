/*
 * O_NONBLOCK on a descriptor, for the agent's ends of its pipes, its
 * terminal and its own stdin/stdout: the one event loop must never wait in
 * a read or a write.
 */
#ifndef MUSTER_AGENT_NONBLOCK_H
#define MUSTER_AGENT_NONBLOCK_H

/* 0, or MERR_SYS with errno set. */
int nonblock_set(int fd);

#endif
