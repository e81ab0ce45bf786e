#include "source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "array.h"
#include "err.h"

#define SOURCE_DEPTH_MAX 64
#define HASH_BUF (256u * 1024)

static int
hash_file(const char *path, uint64_t size, uint8_t out[32], char *err,
    size_t errlen)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *buf = NULL;
	uint64_t total = 0;
	unsigned int mdlen;
	ssize_t n;
	int fd, r = MERR_SYS;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MERR_SYS;
	}
	if ((buf = malloc(HASH_BUF)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = MERR_NOMEM;
		goto out;
	}
	while ((n = read(fd, buf, HASH_BUF)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "read %s: %s", path,
			    strerror(errno));
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		total += (uint64_t)n;
	}
	if (total != size) {
		snprintf(err, errlen, "%s changed while it was read", path);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, out, &mdlen);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return r;
}

static int
add_entry(struct source *src, const char *rel, const char *abs,
    const struct stat *st, char *err, size_t errlen)
{
	struct source_entry *e;
	char target[4096];
	ssize_t n;
	int i, r;

	if ((r = ARRAY_RESERVE(src->v, src->cap, src->n + 1, 16)) != 0)
		return r;
	e = &src->v[src->n];
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	e->mode = st->st_mode & 07777;
	if ((e->rel = strdup(rel)) == NULL || (e->abs = strdup(abs)) == NULL)
		goto nomem;
	if (S_ISREG(st->st_mode)) {
		e->kind = SOURCE_FILE;
		e->size = (uint64_t)st->st_size;
		if ((r = hash_file(abs, e->size, e->sha256, err, errlen)) !=
		    0) {
			free(e->rel);
			free(e->abs);
			return r;
		}
		for (i = 0; i < 32; i++)
			snprintf(e->sha256_hex + 2 * i, 3, "%02x",
			    e->sha256[i]);
		src->total_bytes += e->size;
	} else if (S_ISDIR(st->st_mode))
		e->kind = SOURCE_DIR;
	else if (S_ISLNK(st->st_mode)) {
		e->kind = SOURCE_LINK;
		if ((n = readlink(abs, target, sizeof(target) - 1)) < 0) {
			snprintf(err, errlen, "readlink %s: %s", abs,
			    strerror(errno));
			free(e->rel);
			free(e->abs);
			return MERR_SYS;
		}
		target[n] = '\0';
		if ((e->link_target = strdup(target)) == NULL)
			goto nomem;
	}
	src->n++;
	return 0;
nomem:
	free(e->rel);
	free(e->abs);
	return MERR_NOMEM;
}

static int
source_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pre-order walk, names sorted so pushes are reproducible. Sockets, fifos
 * and devices are skipped: they cannot be copied as content. */
static int
walk(struct source *src, const char *abs, const char *rel, int depth,
    char *err, size_t errlen)
{
	char **names = NULL, cabs[4096], crel[4096];
	size_t n = 0, cap = 0, i;
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int r = 0;

	if (depth > SOURCE_DEPTH_MAX) {
		snprintf(err, errlen, "%s: directories nested too deep", abs);
		return MERR_LIMIT;
	}
	if ((dir = opendir(abs)) == NULL) {
		snprintf(err, errlen, "%s: %s", abs, strerror(errno));
		return MERR_SYS;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 ||
		    strcmp(d->d_name, "..") == 0)
			continue;
		if ((r = ARRAY_RESERVE(names, cap, n + 1, 32)) != 0)
			goto out;
		if ((names[n] = strdup(d->d_name)) == NULL) {
			r = MERR_NOMEM;
			goto out;
		}
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), source_name_cmp);
	for (i = 0; i < n && r == 0; i++) {
		if ((size_t)snprintf(cabs, sizeof(cabs), "%s/%s", abs,
			names[i]) >= sizeof(cabs) ||
		    (size_t)snprintf(crel, sizeof(crel), "%s%s%s", rel,
			*rel ? "/" : "", names[i]) >= sizeof(crel)) {
			snprintf(err, errlen, "%s/%s: path too long", abs,
			    names[i]);
			r = MERR_LIMIT;
			break;
		}
		if (lstat(cabs, &st) != 0) {
			snprintf(err, errlen, "%s: %s", cabs, strerror(errno));
			r = MERR_SYS;
			break;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
		    !S_ISLNK(st.st_mode))
			continue;
		if ((r = add_entry(src, crel, cabs, &st, err, errlen)) != 0)
			break;
		if (S_ISDIR(st.st_mode))
			r = walk(src, cabs, crel, depth + 1, err, errlen);
	}
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return r;
}

int
source_scan(const char *path, bool recursive, struct source *src, char *err,
    size_t errlen)
{
	struct stat st;
	int r;

	memset(src, 0, sizeof(*src));
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return MERR_SYS;
	}
	if (S_ISDIR(st.st_mode) && !recursive) {
		snprintf(err, errlen, "%s is a directory (use -r)", path);
		return MERR_INVAL;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file or directory",
		    path);
		return MERR_INVAL;
	}
	src->tree = S_ISDIR(st.st_mode);
	if ((r = add_entry(src, "", path, &st, err, errlen)) != 0 ||
	    (src->tree && (r = walk(src, path, "", 1, err, errlen)) != 0)) {
		source_free(src);
		return r;
	}
	return 0;
}

void
source_free(struct source *src)
{
	size_t i;

	for (i = 0; i < src->n; i++) {
		if (src->v[i].fd >= 0)
			close(src->v[i].fd);
		free(src->v[i].rel);
		free(src->v[i].abs);
		free(src->v[i].link_target);
	}
	free(src->v);
	for (i = 0; i < SOURCE_CACHE_SLOTS; i++)
		free(src->slots[i].data);
	memset(src, 0, sizeof(*src));
}

int
source_acquire(struct source *src, size_t entry)
{
	struct source_entry *e = &src->v[entry];

	if (e->fd < 0 &&
	    (e->fd = open(e->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return MERR_SYS;
	e->readers++;
	return 0;
}

void
source_release(struct source *src, size_t entry)
{
	struct source_entry *e = &src->v[entry];
	size_t i;

	if (e->readers > 0 && --e->readers == 0 && e->fd >= 0) {
		close(e->fd);
		e->fd = -1;
		for (i = 0; i < SOURCE_CACHE_SLOTS; i++)
			if (src->slots[i].chunk != 0 &&
			    src->slots[i].entry == entry)
				src->slots[i].chunk = 0;
	}
}

int
source_chunk(struct source *src, size_t entry, uint64_t off, const uint8_t **p,
    size_t *len)
{
	struct source_entry *e = &src->v[entry];
	uint64_t chunk = off / SOURCE_CHUNK;
	struct source_slot *slot;
	size_t want, got = 0;
	ssize_t n;

	/* Direct-mapped: cheap, and hosts in step share every slot. */
	slot = &src->slots[(entry * 131 + chunk) % SOURCE_CACHE_SLOTS];
	src->reads++;
	if (slot->chunk == chunk + 1 && slot->entry == entry) {
		src->hits++;
		*p = slot->data;
		*len = slot->len;
		return 0;
	}
	if (e->fd < 0 || off >= e->size)
		return MERR_INVAL;
	if (slot->data == NULL && (slot->data = malloc(SOURCE_CHUNK)) == NULL)
		return MERR_NOMEM;
	want = e->size - off < SOURCE_CHUNK ?
	    (size_t)(e->size - off) :
	    SOURCE_CHUNK;
	slot->chunk = 0;
	while (got < want) {
		n = pread(e->fd, slot->data + got, want - got,
		    (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MERR_IO; /* the file shrank under us */
		got += (size_t)n;
	}
	slot->entry = entry;
	slot->chunk = chunk + 1;
	slot->len = got;
	*p = slot->data;
	*len = got;
	return 0;
}
