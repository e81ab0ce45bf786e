/*
 * What glibc has and another C library (musl, for the small agent) may
 * lack. Include after the system headers; each declaration here comes with
 * a definition in compat.c that makes the system call itself.
 */
#ifndef MUSTER_AGENT_COMPAT_H
#define MUSTER_AGENT_COMPAT_H

#if !defined(__GLIBC__)
/* musl 1.2.3 has the system call number but no wrapper. */
int close_range(unsigned int first, unsigned int last, int flags);
#endif

#endif
