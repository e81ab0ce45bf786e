/*
 * How the controller's children start (a ProxyCommand, an --alert-exec
 * command): posix_spawn attributes that give the child a process group of
 * its own, so that a kill reaches whatever it started, and a clean signal
 * state, since the dispositions we ignore (SIGPIPE) and the mask of the
 * loop thread would otherwise survive exec.
 */
#ifndef MUSTER_SPAWNATTR_H
#define MUSTER_SPAWNATTR_H

#include <spawn.h>

/*
 * Set on an initialised attr: a new process group, an empty signal mask,
 * every signal at its default disposition. Returns 0 or the error number
 * posix_spawnattr_* gave.
 */
int spawnattr_own_group(posix_spawnattr_t *attr);

#endif
