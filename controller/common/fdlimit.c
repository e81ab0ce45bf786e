/* The open-file limit; see fdlimit.h. */
#include "fdlimit.h"

#include <sys/resource.h>

unsigned long long
fdlimit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0 &&
		    getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return 1024;
	}
	return (unsigned long long)rl.rlim_cur;
}
