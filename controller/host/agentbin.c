#include "agentbin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "array.h"
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

/* Each architecture muster can build an agent for (agent/musl.cmake), and
 * the `uname -m` names that agent serves. */
static const struct {
	const char *arch;
	const char *machines;
} arches[] = {
	{ "x86_64", "x86_64|amd64" },
	{ "aarch64", "aarch64|arm64" },
	/* A 32-bit userland on a 64-bit ARM kernel says armv8l. */
	{ "armv7l", "armv7l|armv8l" },
	{ "riscv64", "riscv64" },
	{ "ppc64le", "ppc64le" },
	{ "s390x", "s390x" },
	{ "i686", "i686" },
};
#define N_ARCHES (sizeof(arches) / sizeof(arches[0]))

#if defined(__x86_64__)
#define NATIVE_ARCH "x86_64"
#elif defined(__aarch64__)
#define NATIVE_ARCH "aarch64"
#elif defined(__arm__)
#define NATIVE_ARCH "armv7l"
#elif defined(__riscv) && __riscv_xlen == 64
#define NATIVE_ARCH "riscv64"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NATIVE_ARCH "ppc64le"
#elif defined(__s390x__)
#define NATIVE_ARCH "s390x"
#elif defined(__i386__)
#define NATIVE_ARCH "i686"
#else
/* None of the table's: only muster-agent.<arch> files are loaded. */
#define NATIVE_ARCH ""
#endif

const char *
agentbin_machines(const char *arch)
{
	size_t i;

	for (i = 0; i < N_ARCHES; i++)
		if (strcmp(arches[i].arch, arch) == 0)
			return arches[i].machines;
	return NULL;
}

/* Does the '|'-separated list hold name? */
static bool
machine_in(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list, *bar;

	for (;;) {
		bar = strchr(p, '|');
		if ((bar != NULL ? (size_t)(bar - p) : strlen(p)) == n &&
		    strncmp(p, name, n) == 0)
			return true;
		if (bar == NULL)
			return false;
		p = bar + 1;
	}
}

static const char *
canonical(const char *machine)
{
	size_t i;

	for (i = 0; i < N_ARCHES; i++)
		if (machine_in(arches[i].machines, machine))
			return arches[i].arch;
	return NULL;
}

/* The directory this executable is in. */
static int
exe_dir(char *out, size_t outlen, char *err, size_t errlen)
{
	char *slash;
	ssize_t n;

	if ((n = readlink("/proc/self/exe", out, outlen - 1)) < 0) {
		snprintf(err, errlen, "cannot find own executable: %s",
		    strerror(errno));
		return MERR_SYS;
	}
	out[n] = '\0';
	if ((slash = strrchr(out, '/')) != NULL)
		*slash = '\0';
	return 0;
}

/* The first of PROG<suffix> next to us or in ../libexec/muster that
 * exists, into out; false when neither does. */
static bool
find_beside(const char *dir, const char *prog, const char *suffix, char *out,
    size_t outlen)
{
	const char *places[] = { "/", "/../libexec/muster/" };
	size_t i;

	for (i = 0; i < 2; i++) {
		snprintf(out, outlen, "%s%s%s%s", dir, places[i], prog,
		    suffix);
		if (access(out, R_OK) == 0)
			return true;
	}
	return false;
}

static int
add_agent(struct agentset *set, const char *arch, const char *path,
    const char *env_name, char *err, size_t errlen)
{
	struct agentbin *ab;
	int r;

	if ((r = ARRAY_RESERVE(set->v, set->cap, set->n + 1, 4)) != 0)
		return r;
	ab = &set->v[set->n];
	memset(ab, 0, sizeof(*ab));
	if (read_file(path, &ab->data, &ab->len) != 0) {
		snprintf(err, errlen,
		    "cannot read the %s binary %s: %s "
		    "(set %s to its path)",
		    set->relays ? "relay" : "agent", path, strerror(errno),
		    env_name);
		return MERR_NOTFOUND;
	}
	if ((ab->path = strdup(path)) == NULL) {
		free(ab->data);
		return MERR_NOMEM;
	}
	snprintf(ab->arch, sizeof(ab->arch), "%s", arch);
	sha256_hex(ab->data, ab->len, ab->sha256);
	set->n++;
	return 0;
}

/*
 * Every build of prog there is: prog.<arch> for each architecture, and for
 * the controller's own $env_name, prog.<arch> or prog, which must exist.
 */
static int
load_set(struct agentset *set, const char *prog, const char *env_name,
    char *err, size_t errlen)
{
	const char *env = getenv(env_name);
	char dir[PATH_MAX], cand[PATH_MAX + 64], suffix[AGENTBIN_ARCH_MAX + 1];
	size_t i;
	int r;

	if ((r = exe_dir(dir, sizeof(dir), err, errlen)) != 0)
		return r;
	for (i = 0; i < N_ARCHES; i++) {
		snprintf(suffix, sizeof(suffix), ".%s", arches[i].arch);
		if (strcmp(arches[i].arch, NATIVE_ARCH) == 0) {
			if (env != NULL && *env != '\0')
				snprintf(cand, sizeof(cand), "%s", env);
			else if (!find_beside(dir, prog, suffix, cand,
				     sizeof(cand)) &&
			    !find_beside(dir, prog, "", cand, sizeof(cand)))
				snprintf(cand, sizeof(cand), "%s/%s", dir,
				    prog);
		} else if (!find_beside(dir, prog, suffix, cand, sizeof(cand)))
			continue;
		if ((r = add_agent(set, arches[i].arch, cand, env_name, err,
			 errlen)) != 0) {
			agentset_free(set);
			return r;
		}
	}
	if ((r = agentset_seal(set)) != 0)
		agentset_free(set);
	return r;
}

int
agentset_load(struct agentset *set, char *err, size_t errlen)
{
	memset(set, 0, sizeof(*set));
	return load_set(set, "muster-agent", "MUSTER_AGENT", err, errlen);
}

int
relayset_load(struct agentset *set, char *err, size_t errlen)
{
	memset(set, 0, sizeof(*set));
	set->relays = true;
	return load_set(set, "muster-relay", "MUSTER_RELAY", err, errlen);
}

int
agentset_seal(struct agentset *set)
{
	char *ids = NULL;
	size_t i, idlen = 0;
	FILE *f;

	/* The set's id: which agent each architecture gets. */
	if ((f = open_memstream(&ids, &idlen)) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < set->n; i++)
		fprintf(f, "%s=%s\n", set->v[i].arch, set->v[i].sha256);
	if (fclose(f) != 0) {
		free(ids);
		return MERR_NOMEM;
	}
	sha256_hex((const uint8_t *)ids, idlen, set->id);
	free(ids);
	return 0;
}

int
agentset_add(struct agentset *set, const char *arch, const uint8_t *data,
    size_t len)
{
	struct agentbin *ab;
	int r;

	if (canonical(arch) == NULL || strcmp(canonical(arch), arch) != 0)
		return MERR_INVAL;
	if ((r = ARRAY_RESERVE(set->v, set->cap, set->n + 1, 4)) != 0)
		return r;
	ab = &set->v[set->n];
	memset(ab, 0, sizeof(*ab));
	if ((ab->data = malloc(len > 0 ? len : 1)) == NULL ||
	    (ab->path = strdup("(from the controller)")) == NULL) {
		free(ab->data);
		return MERR_NOMEM;
	}
	memcpy(ab->data, data, len);
	ab->len = len;
	snprintf(ab->arch, sizeof(ab->arch), "%s", arch);
	sha256_hex(ab->data, ab->len, ab->sha256);
	set->n++;
	return 0;
}

const struct agentbin *
agentset_find(const struct agentset *set, const char *machine)
{
	const char *arch = canonical(machine);
	size_t i;

	for (i = 0; arch != NULL && i < set->n; i++)
		if (strcmp(set->v[i].arch, arch) == 0)
			return &set->v[i];
	return NULL;
}

void
agentset_missing(const struct agentset *set, const char *machine, char *out,
    size_t outlen)
{
	const char *arch = canonical(machine);
	char built[256] = "";
	size_t i, off = 0;

	for (i = 0; i < set->n && off < sizeof(built); i++)
		off += (size_t)snprintf(built + off, sizeof(built) - off,
		    "%s%s", i > 0 ? ";" : "", set->v[i].arch);
	if (set->relays) {
		/* cross.cmake knows one architecture besides the native. */
		snprintf(out, outlen,
		    "no relay for %s (this muster has relays for %s; "
		    "muster builds them for x86_64 and, with "
		    "-DMUSTER_RELAY_ARCHES=aarch64, aarch64 only)",
		    machine, built);
	} else if (arch != NULL)
		snprintf(out, outlen,
		    "no agent for %s (build with "
		    "-DMUSTER_AGENT_ARCHES=\"%s;%s\")",
		    machine, built, arch);
	else
		snprintf(out, outlen,
		    "no agent for %s (muster builds agents "
		    "for x86_64, aarch64, armv7l, riscv64, ppc64le, s390x and "
		    "i686 only)",
		    machine);
}

void
agentset_free(struct agentset *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		free(set->v[i].path);
		free(set->v[i].data);
	}
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/* The relay binaries, read and hashed once in the process for all its
 * relays. Each relay read its own before: some 10 MB each (the x86_64
 * and aarch64 builds), 20 of the controller's 66 MB at the peak of a push
 * through 2 relays, and half a gigabyte at 50 relays. Relays are opened
 * and freed on the process's one event loop: no lock. */
static struct {
	struct agentset set;
	unsigned refs;
} relay_set;

int
relayset_ref(char *err, size_t errlen)
{
	int r;

	if (relay_set.refs == 0 &&
	    (r = relayset_load(&relay_set.set, err, errlen)) != 0)
		return r;
	relay_set.refs++;
	return 0;
}

const struct agentset *
relayset_shared(void)
{
	return &relay_set.set;
}

void
relayset_unref(void)
{
	if (--relay_set.refs == 0)
		agentset_free(&relay_set.set);
}
