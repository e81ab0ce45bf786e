/*
 * The relay's agent cache on the gateway: see relaycache.h.
 */
#include "relaycache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

/* 64 lowercase hex digits: a name made from it stays in the directory. */
static bool
hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
			(s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

int
relaycache_dir(char *out, size_t outlen)
{
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return MERR_SYS;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL || slash == exe)
		return MERR_INVAL;
	*slash = '\0';
	if (snprintf(out, outlen, "%s", exe) >= (int)outlen)
		return MERR_LIMIT;
	return 0;
}

static int
agent_path(char *out, size_t outlen, const char *dir, const char *sha256,
    const char *suffix)
{
	if (!hex64(sha256))
		return MERR_INVAL;
	if (snprintf(out, outlen, "%s/muster-agent-%s%s", dir, sha256,
		suffix) >= (int)outlen)
		return MERR_LIMIT;
	return 0;
}

int
relaycache_load(const char *dir, const char *sha256, uint8_t **data,
    size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	*data = NULL;
	*len = 0;
	if ((r = agent_path(path, sizeof(path), dir, sha256, "")) != 0)
		return r;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return errno == ENOENT ? MERR_NOTFOUND : MERR_SYS;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > RELAYCACHE_AGENT_MAX ||
	    (p = malloc((size_t)st.st_size)) == NULL) {
		close(fd);
		return MERR_NOTFOUND;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, p + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(p);
		return MERR_IO;
	}
	*data = p;
	*len = got;
	return 0;
}

int
relaycache_save(const char *dir, const char *sha256, const uint8_t *data,
    size_t len)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	size_t put = 0;
	ssize_t n;
	bool ok;
	int fd, r;

	if ((r = agent_path(path, sizeof(path), dir, sha256, "")) != 0 ||
	    (r = agent_path(tmp, sizeof(tmp), dir, sha256, ".XXXXXX")) != 0)
		return r;
	if ((fd = mkstemp(tmp)) < 0)
		return MERR_SYS;
	while (put < len) {
		n = write(fd, data + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		put += (size_t)n;
	}
	/* Executable by its owner only, as the bootstrap leaves an agent. */
	ok = put == len && fchmod(fd, 0700) == 0 && fsync(fd) == 0;
	if (close(fd) != 0)
		ok = false;
	if (!ok) {
		unlink(tmp);
		return MERR_IO;
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return MERR_SYS;
	}
	return 0;
}
