/*
 * The open-file limit. Every host a process reaches costs it a socket (a
 * relay's hosts cost the relay one each), and the soft limit a login or a
 * service gets is often 1024 while the hard one is far higher: a process
 * of ours takes all it is allowed, once, at start.
 */
#ifndef MUSTER_FDLIMIT_H
#define MUSTER_FDLIMIT_H

/* Raise the soft RLIMIT_NOFILE to the hard one; the soft limit now (1024
 * when it cannot be read). */
unsigned long long fdlimit_raise(void);

#endif
