/*
 * Presenting per-host results: streamed "host: line" output, gathered
 * output folded by identical content (clush -b), or one JSON object per host
 * per line. Output modules never see the network: run.c feeds them bytes and
 * final results.
 */
#ifndef MUSTER_OUTPUT_H
#define MUSTER_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "status.h"

struct json_t;

enum output_mode {
	OUTPUT_LINES,
	OUTPUT_GATHER,
	OUTPUT_JSON,
	OUTPUT_LIVE, /* -L: gather, printed as groups form */
	OUTPUT_DIFF, /* --diff: unified diffs against the most common */
};

/* Everything known about one host when it is done. */
struct host_result {
	const char *host;
	enum host_status status;
	int exit_code; /* -1 when none (signal, never ran) */
	int signal;    /* 0 when none */
	int64_t duration_ms;
	const char *error; /* NULL or a one-line reason */
	bool ran;	   /* the command started (a timeout then counts
				 * as failed, not unreachable) */
	/* JSON: the host without the "#k" of host above, the command line
	 * and its 1-based index among -c (NULL, 0: not given). */
	const char *host_name;
	const char *command;
	unsigned command_index;
};

/* LINES: the longest line printed whole; longer ones are cut into pieces
 * this long (never inside a UTF-8 sequence). */
#define OUTPUT_LINE_MAX (64 * 1024)

/* Per-host output state, owned by the caller, set up by output_host_init. */
struct output_host {
	char *name;
	struct buf
	    partial[2]; /* LINES: bytes after the last newline, per fd */
	struct buf capture[2]; /* GATHER/JSON: stdout and stderr, bounded */
	bool truncated[2];
};

struct output {
	enum output_mode mode;
	FILE *out, *err;
	bool raw;	    /* do not neutralise control characters */
	size_t max_capture; /* per host per fd, GATHER and JSON */
	/* All captures held at once (hosts running, and every finished
	 * host in GATHER): many hosts each under max_capture can still
	 * add up to more memory than the controller has. */
	size_t max_total; /* SIZE_MAX unless set by output_set_total */
	/* GATHER, DIFF, LIVE: what one host may hold, stdout and stderr
	 * together: max_total shared out equally, so identical outputs are
	 * cut at the same byte and still fold. */
	size_t host_share;
	size_t held;
	bool total_hit; /* output was dropped for max_total */
	/* GATHER: finished hosts, kept until output_finish */
	struct gathered *gathered;
	size_t ngathered, gathered_cap;
	/* LIVE: groups in order of appearance, kept until output_finish */
	struct live_group **live;
	size_t nlive, live_cap;
	double live_interval; /* seconds between reports of joining hosts */
	double live_last;     /* when they were last reported */
	/* counts for the summary */
	size_t n_ok, n_failed, n_unreachable, n_skipped;
};

/*
 * Human modes (LINES, GATHER) print control characters, C1 controls and
 * bytes that are not UTF-8 as "\xHH" unless raw; tab and, in GATHER, newline
 * pass. Error texts are always neutralised.
 */
void output_init(struct output *o, enum output_mode mode, FILE *out, FILE *err,
    bool raw, size_t max_capture);
void output_free(struct output *o);

/* Cap what all nhosts hold at once at max_total (before any
 * output_host_init). */
void output_set_total(struct output *o, size_t max_total, size_t nhosts);

int output_host_init(struct output *o, struct output_host *h,
    const char *name);
void output_host_free(struct output_host *h);

/*
 * Bytes from one of a host's pipes (fd 1 or 2). LINES prints every complete
 * line at once as "host: line" with one fwrite per line so lines of two
 * hosts never mix; a line longer than the partial buffer is cut and printed
 * in pieces. GATHER and JSON keep up to max_capture bytes per host, and
 * up to max_total across all captures held (the folding modes: up to
 * host_share per host), then mark the capture truncated (output_finish
 * then says so on o->err).
 */
int output_host_data(struct output *o, struct output_host *h, int fd,
    const uint8_t *p, size_t n);

/*
 * The host is finished. LINES prints what is left of a last line without a
 * newline (adding one) and, unless the status is ok, a line on o->err
 * saying why. JSON prints the host's object. GATHER stores the result.
 * The caller may free h afterwards.
 */
int output_host_done(struct output *o, struct output_host *h,
    const struct host_result *res);

/* GATHER: print every distinct output once with its folded host set
 * (hosts that succeeded without any output are only counted) and forget
 * the stored results. Hosts are alike when stdout, stderr, status, exit
 * code, signal, error and truncation match.
 * All modes: the summary line on o->err with the wall time. */
void output_finish(struct output *o, double wall_seconds);

/* s made safe for a terminal (controls as "\xHH", as in the human
 * modes), malloc'd; NULL on allocation failure. */
char *output_escape(const char *s);
/* A JSON string for a text of ours that may quote a peer: bytes that are
 * not UTF-8 become U+FFFD. */
struct json_t *output_json_text(const char *s);

/* Print o as one compact line on f and release it (push and pull use
 * this for their own per-host objects). Returns 0, or the errno of the
 * failed write (ENOMEM without the memory to format it). */
int output_json_line(FILE *f, struct json_t *o);

/*
 * The JSON object for one host (exposed for unit tests), compact, without
 * newline; caller frees with free(). h may be NULL (no output). Keys: host,
 * status, exit_code, signal, signal_name ("KILL"; null without signal),
 * stdout, stderr, duration_ms, error. A capture that is not UTF-8 or holds
 * NUL is null and given as base64 in stdout_b64 / stderr_b64 instead;
 * stdout_truncated / stderr_truncated appear (true) only when truncated.
 */
char *output_json_object(const struct host_result *res,
    const struct output_host *h);

#endif
