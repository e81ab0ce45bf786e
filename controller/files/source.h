/*
 * What a push sends: the local file or tree, scanned and hashed once, and
 * a small shared cache of chunks so that hosts moving through a file at
 * about the same pace are fed from one read, while a host that falls behind
 * re-reads from the page cache instead of pinning memory.
 */
#ifndef MUSTER_SOURCE_H
#define MUSTER_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum source_kind {
	SOURCE_FILE = 0, /* values match Put.kind */
	SOURCE_DIR = 1,
	SOURCE_LINK = 2,
};

struct source_entry {
	char *rel; /* path below the source root; "" for the root */
	char *abs; /* local path */
	enum source_kind kind;
	uint32_t mode;
	uint64_t size;
	uint8_t sha256[32];
	char sha256_hex[65];
	char *link_target;
	int fd; /* open while some host reads it */
	unsigned readers;
};

#define SOURCE_CHUNK (64u * 1024)
#define SOURCE_CACHE_SLOTS 32 /* 2 MiB shared by all hosts */

struct source_slot {
	size_t entry;
	uint64_t chunk; /* chunk index + 1; 0 = empty */
	size_t len;
	uint8_t *data;
};

struct source {
	struct source_entry *v;
	size_t n, cap;
	bool tree;
	uint64_t total_bytes; /* sum of regular file sizes */
	struct source_slot slots[SOURCE_CACHE_SLOTS];
	uint64_t reads, hits; /* cache statistics */
};

/* Scan path (a tree when recursive), hashing every regular file. The root
 * comes first and every directory before its contents. */
int source_scan(const char *path, bool recursive, struct source *src,
    char *err, size_t errlen);
void source_free(struct source *src);

/* Reading an entry: acquire, read chunks, release. */
int source_acquire(struct source *src, size_t entry);
void source_release(struct source *src, size_t entry);
/* The chunk of entry at offset off (a multiple of SOURCE_CHUNK). *p stays
 * valid until the next call. */
int source_chunk(struct source *src, size_t entry, uint64_t off,
    const uint8_t **p, size_t *len);

#endif
