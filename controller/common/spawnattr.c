/* The attributes of a child of its own (spawnattr.h). */
#include "spawnattr.h"

#include <signal.h>

int
spawnattr_own_group(posix_spawnattr_t *attr)
{
	sigset_t none, all;
	int sr;

	sigemptyset(&none);
	sigfillset(&all);
	if ((sr = posix_spawnattr_setflags(attr,
		 POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		     POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (sr = posix_spawnattr_setpgroup(attr, 0)) != 0 ||
	    (sr = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (sr = posix_spawnattr_setsigdefault(attr, &all)) != 0)
		return sr;
	return 0;
}
