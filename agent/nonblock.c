#include "nonblock.h"

#include <fcntl.h>

#include "err.h"

int
nonblock_set(int fd)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return MERR_SYS;
	return 0;
}
