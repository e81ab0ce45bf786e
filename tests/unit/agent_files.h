/*
 * What the test_agent_{put,put_faults,get}.c programs share: a fresh
 * directory under /tmp per test and checks on what lands in it, and the
 * Put and Get streams spoken to the built agent (agent_client.h): the
 * messages sent, the results gathered (struct pres, struct gres).
 * Checksums come from libcrypto, independent of the agent's own SHA-256.
 */
#ifndef MUSTER_TEST_AGENT_FILES_H
#define MUSTER_TEST_AGENT_FILES_H

#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent_client.h"

#define SHA_LEN 32
#define KIND_FILE 0
#define KIND_DIR 1
#define KIND_LINK 2
#define TMP_PREFIX ".muster-tmp."

struct tdir {
	char path[64];
};

void tdir_make(struct tdir *t);

void tdir_remove(struct tdir *t);

/* A test's start: a fresh directory and a started agent. */
void files_begin(struct tdir *t, struct agent *a);

/* Its end: the agent finished (agent_finish's checks), the directory gone. */
void files_end(struct tdir *t, struct agent *a);

/* dir/name in a static buffer, one of a few in rotation. */
const char *at(const char *dir, const char *name);

void write_file(const char *path, const void *p, size_t n, mode_t mode);

/* The file's bytes are exactly p[0..n). */
void assert_file_is(const char *path, const void *p, size_t n);

/* Entries in dir, temporary files of ours among them. */
int count_entries(const char *dir, int *temps);

void assert_entries(const char *dir, int want);

uint8_t *pattern(size_t n, unsigned seed);

void sha256_of(const void *p, size_t n, uint8_t out[SHA_LEN]);

struct popt {
	const char *path;
	const char *root; /* NULL: no root */
	uint32_t kind;
	uint32_t mode;
	uint64_t size;
	uint8_t sha[SHA_LEN];
	size_t sha_len;
	const char *target;
	int mkdir;
	int64_t uid;
	int64_t gid;
};

struct popt put_file_opt(const char *path, const void *p, size_t n,
    uint32_t mode);

struct popt put_other_opt(const char *path, uint32_t kind, uint32_t mode,
    const char *target);

void send_put(struct agent *a, uint32_t id, const struct popt *o);

/* What a Put stream sent back. */
struct pres {
	uint32_t id;
	int ready;
	int unchanged;
	uint64_t credited;
	int done;
	int ok;
	int changed;
	uint64_t bytes;
	uint32_t code;
	char msg[1024];
};

/* Take a frame of stream r->id (and free it). Nothing may follow the
 * Result, and PutReady comes at most once, before it. */
void put_take(struct pres *r, Muster__Envelope *env);

/* The next frame, of stream r->id; 0 on timeout. */
int put_pump(struct agent *a, struct pres *r, double ms);

void put_wait(struct agent *a, struct pres *r, int until_done);

/* Send p[0..n) as Data within the agent's window, in chunks of at most
 * chunk bytes. */
void put_send_data(struct agent *a, struct pres *r, const uint8_t *p, size_t n,
    size_t chunk);

void pres_init(struct pres *r, uint32_t id);

/* Send the Put request of stream id and wait for its PutReady (or an
 * early Result), or with until_done for the Result itself. */
void put_start(struct agent *a, uint32_t id, const struct popt *o,
    struct pres *r, int until_done);

/* A whole Put: request, data if asked for, Eof, Result. */
void put_run(struct agent *a, uint32_t id, const struct popt *o, const void *p,
    size_t n, struct pres *r);

void assert_put_ok(const struct pres *r, int changed);

void assert_put_fails(const struct pres *r, int code, const char *text);

#endif
