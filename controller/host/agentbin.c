#include "agentbin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "err.h"

/* No agent is anywhere near this; a bigger file is not ours. */
#define AGENT_MAX_SIZE (64u * 1024 * 1024)

void
sha256_hex(const uint8_t *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[64] = '\0';
}

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	uint8_t *p;
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return MERR_SYS;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > AGENT_MAX_SIZE || st.st_size == 0) {
		close(fd);
		errno = EINVAL;
		return MERR_SYS;
	}
	if ((p = malloc(st.st_size)) == NULL) {
		close(fd);
		return MERR_NOMEM;
	}
	while (off < (size_t)st.st_size) {
		n = read(fd, p + off, st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			close(fd);
			errno = n == 0 ? EIO : errno;
			return MERR_SYS;
		}
		off += n;
	}
	close(fd);
	*data = p;
	*len = off;
	return 0;
}

int
agentbin_load(struct agentbin *ab, char *err, size_t errlen)
{
	const char *env = getenv("MUSTER_AGENT");
	char exe[PATH_MAX], cand[PATH_MAX + 64], *slash;
	const char *suffixes[] = { "/muster-agent",
	    "/../libexec/muster/muster-agent" };
	ssize_t n;
	size_t i;

	memset(ab, 0, sizeof(*ab));
	if (env != NULL && *env != '\0')
		snprintf(cand, sizeof(cand), "%s", env);
	else {
		if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) < 0) {
			snprintf(err, errlen, "cannot find own executable: %s",
			    strerror(errno));
			return MERR_SYS;
		}
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < 2; i++) {
			snprintf(cand, sizeof(cand), "%s%s", exe, suffixes[i]);
			if (access(cand, R_OK) == 0)
				break;
		}
	}
	if (read_file(cand, &ab->data, &ab->len) != 0) {
		snprintf(err, errlen, "cannot read the agent binary %s: %s "
		    "(set MUSTER_AGENT to its path)", cand, strerror(errno));
		return MERR_NOTFOUND;
	}
	if ((ab->path = strdup(cand)) == NULL) {
		agentbin_free(ab);
		return MERR_NOMEM;
	}
	sha256_hex(ab->data, ab->len, ab->sha256);
	return 0;
}

void
agentbin_free(struct agentbin *ab)
{
	free(ab->path);
	free(ab->data);
	memset(ab, 0, sizeof(*ab));
}
