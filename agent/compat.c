#include "compat.h"

#if !defined(__GLIBC__)
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int
close_range(unsigned int first, unsigned int last, int flags)
{
#ifdef SYS_close_range
	return (int)syscall(SYS_close_range, first, last, flags);
#else
	/* Callers fall back to closing one descriptor at a time. */
	errno = ENOSYS;
	return -1;
#endif
}
#endif
