/*
 * What the test_output_*.c programs share: an output writing into two
 * memory streams (struct sink), bytes fed to it as a host's stream would
 * deliver them, and a host's result.
 */
#ifndef MUSTER_TEST_OUTPUT_SINK_H
#define MUSTER_TEST_OUTPUT_SINK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "output.h"
#include "udiff.h"

/* An output writing into two memory streams. */
struct sink {
	struct output o;
	FILE *out, *err;
	char *out_text, *err_text;
	size_t out_len, err_len;
};

void sink_open(struct sink *s, enum output_mode mode, bool raw,
    size_t max_capture);

/* Make what was written readable in out_text / err_text. */
void sink_sync(struct sink *s);

void sink_close(struct sink *s);

void feed(struct sink *s, struct output_host *h, int fd, const char *p,
    size_t n);

struct host_result result(const char *host, enum host_status st, int code,
    int sig, const char *error);

#endif
