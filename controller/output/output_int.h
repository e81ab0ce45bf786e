/*
 * What output.c and its folding modes (output_gather.c, output_live.c)
 * share, and nothing outside output/ includes: the text neutralisation of
 * the human modes, a finished host as the folding modes keep it, and the
 * per-mode hooks output.c dispatches to. Captured bytes count against
 * o->held until output_release_capture gives them back.
 */
#ifndef MUSTER_OUTPUT_INT_H
#define MUSTER_OUTPUT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "status.h"

/* Only the names of output.h's types: output.h stays out of this header,
 * so that output and output_int include each other in no cycle; the .c
 * files include both. */
struct host_result;
struct output;
struct output_host;

#define RULE "---------------\n"
/* "\xHH" per byte at worst, plus room for the fixed parts of a line. */
#define ESCAPED_MAX(n) (4 * (n) + 256)

/* A finished host in GATHER, DIFF or LIVE, kept until output_finish. */
struct gathered {
	char *name;
	struct buf capture[2];
	bool truncated[2];
	enum host_status status;
	int exit_code;
	int signal;
	char *error;
	uint64_t hash; /* of everything that decides the group */
};

/* A group of alike hosts, for printing. */
struct gather_group {
	char *folded;
	struct gathered **members; /* into the sorted pointer array */
	size_t count;
};

/* --- text (output.c) --- */

/* Append p as text that cannot drive the terminal (unless raw): C0 and
 * C1 controls, DEL and bytes outside UTF-8 become "\xHH"; tab and, with
 * keep_newline, newline pass. */
int output_put_text(struct buf *b, const uint8_t *p, size_t n, bool raw,
    bool keep_newline);
int output_put_str(struct buf *b, const char *s);
/* Where to cut a full buffer of n bytes so no UTF-8 sequence is split. */
size_t output_utf8_cut(const uint8_t *p, size_t n);
/* "exited with code 3", "killed by signal 9 (SIGKILL)", "timeout: why". */
int output_put_status(struct buf *b, enum host_status st, int exit_code,
    int sig, const char *error);
/* b whole on f; MERR_IO on a short write. */
int output_write_buf(FILE *f, const struct buf *b);
/* Free a capture and give its bytes back to the --max-total-output
 * budget. */
void output_release_capture(struct output *o, struct buf *b);

/* --- GATHER and DIFF (output_gather.c) --- */

/* Fill g from the finished host, taking its captures over. */
int gathered_take(struct output *o, struct output_host *h,
    const struct host_result *res, struct gathered *g);
void gathered_free(struct output *o, struct gathered *g);
/* Forget every stored host of GATHER and DIFF. */
void gathered_clear(struct output *o);
/* qsort order over struct gathered *: 0 when alike. */
int gathered_cmp(const void *va, const void *vb);
/* ok and no output at all: counted, never printed. */
bool gathered_silent(const struct gathered *g);
/* The group's header between rules (tag, if not NULL, in brackets), then
 * its first member's stdout and stderr. */
int gather_print_group(struct output *o, const struct gather_group *grp,
    const char *tag);
int gather_done(struct output *o, struct output_host *h,
    const struct host_result *res);
void gather_finish(struct output *o);
void gather_diff_finish(struct output *o);

/* --- LIVE (output_live.c) --- */

int live_done(struct output *o, struct output_host *h,
    const struct host_result *res);
void live_finish(struct output *o);
void live_free(struct output *o);

#endif
