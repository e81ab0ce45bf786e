/*
 * The output modes' front: the entry points every mode goes through
 * (set-up, capture under the --max-output/--max-total-output bounds, the
 * per-host counts and the summary line), the streamed "host: line" writer
 * (LINES), the JSON writer (the object itself: output_json.c), and the
 * text neutralisation every human mode shares. The folding modes live in
 * output_gather.c (GATHER, DIFF) and output_live.c (LIVE); what they share
 * with this file is in output_int.h.
 */
#include "output.h"
#include "output_int.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

/* --- text neutralisation -------------------------------------------- */

static bool
passes(uint8_t c, bool keep_newline)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t' ||
	    (keep_newline && c == '\n');
}

/*
 * Append p as text that cannot drive the terminal: C0 controls, DEL, C1
 * controls (U+0080-U+009F, which xterm and others obey in UTF-8 as well)
 * and bytes outside well-formed UTF-8 become "\xHH".
 */
int
output_put_text(struct buf *b, const uint8_t *p, size_t n, bool raw,
    bool keep_newline)
{
	static const char hex[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', 0, 0 };
	size_t i = 0, run, seq, k;
	uint32_t cp = 0;
	int r;

	if (raw)
		return buf_append(b, p, n);
	while (i < n) {
		for (run = i; run < n && passes(p[run], keep_newline); run++)
			;
		if ((r = buf_append(b, p + i, run - i)) != 0)
			return r;
		if ((i = run) == n)
			break;
		seq = p[i] >= 0x80 ? utf8_seq(p + i, n - i, &cp) : 0;
		if (seq > 0 && cp >= 0xa0) {
			if ((r = buf_append(b, p + i, seq)) != 0)
				return r;
			i += seq;
			continue;
		}
		for (k = 0; k < (seq > 0 ? seq : 1); k++) {
			esc[2] = hex[p[i + k] >> 4];
			esc[3] = hex[p[i + k] & 0xf];
			if ((r = buf_append(b, esc, sizeof(esc))) != 0)
				return r;
		}
		i += k;
	}
	return 0;
}

int
output_put_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* Where to cut a full line buffer so no UTF-8 sequence is split. */
size_t
output_utf8_cut(const uint8_t *p, size_t n)
{
	size_t k, need;

	for (k = 1; k <= 3 && k <= n; k++) {
		if ((p[n - k] & 0xc0) == 0x80)
			continue;
		if (p[n - k] >= 0xc0) {
			need = p[n - k] >= 0xf0 ? 4 : p[n - k] >= 0xe0 ? 3 : 2;
			if (need > k && k < n)
				return n - k;
		}
		break;
	}
	return n;
}

/* "exited with code 3", "killed by signal 9 (SIGKILL)", "timeout: why". */
int
output_put_status(struct buf *b, enum host_status st, int exit_code, int sig,
    const char *error)
{
	const char *signame;
	char what[96];
	int r;

	if (st == HS_FAILED && sig != 0) {
		if ((signame = sigabbrev_np(sig)) != NULL)
			snprintf(what, sizeof(what),
			    "killed by signal %d "
			    "(SIG%s)",
			    sig, signame);
		else
			snprintf(what, sizeof(what), "killed by signal %d",
			    sig);
	} else if (st == HS_FAILED && exit_code >= 0)
		snprintf(what, sizeof(what), "exited with code %d", exit_code);
	else
		snprintf(what, sizeof(what), "%s", host_status_str(st));
	if ((r = output_put_str(b, what)) != 0)
		return r;
	if (error == NULL || *error == '\0')
		return 0;
	/* Error texts may quote the peer (banners, agent messages). */
	if ((r = output_put_str(b, ": ")) != 0)
		return r;
	return output_put_text(b, (const uint8_t *)error, strlen(error), false,
	    false);
}

int
output_write_buf(FILE *f, const struct buf *b)
{
	if (buf_len(b) > 0 &&
	    fwrite(buf_ptr(b), 1, buf_len(b), f) != buf_len(b))
		return MERR_IO;
	return 0;
}

/* --- set-up ---------------------------------------------------------- */

void
output_init(struct output *o, enum output_mode mode, FILE *out, FILE *err,
    bool raw, size_t max_capture)
{
	memset(o, 0, sizeof(*o));
	o->mode = mode;
	o->out = out;
	o->err = err;
	o->raw = raw;
	o->max_capture = max_capture;
	o->max_total = o->host_share = SIZE_MAX;
	o->live_interval = 1.0;
}

void
output_set_total(struct output *o, size_t max_total, size_t nhosts)
{
	o->max_total = max_total;
	if (o->mode != OUTPUT_LINES && o->mode != OUTPUT_JSON && nhosts > 0)
		o->host_share = max_total / nhosts;
}

/* Captured bytes go back to the --max-total-output budget when freed. */
void
output_release_capture(struct output *o, struct buf *b)
{
	o->held -= buf_len(b) < o->held ? buf_len(b) : o->held;
	buf_free(b);
}

void
output_free(struct output *o)
{
	gathered_clear(o);
	live_free(o);
}

int
output_host_init(struct output *o, struct output_host *h, const char *name)
{
	int fd;

	memset(h, 0, sizeof(*h));
	if ((h->name = strdup(name)) == NULL)
		return MERR_NOMEM;
	for (fd = 0; fd < 2; fd++) {
		buf_init(&h->partial[fd], OUTPUT_LINE_MAX);
		/* Never more storage than the share either. */
		buf_init(&h->capture[fd],
		    o->max_capture < o->host_share ?
			o->max_capture :
			o->host_share);
	}
	return 0;
}

void
output_host_free(struct output_host *h)
{
	int fd;

	for (fd = 0; fd < 2; fd++) {
		buf_free(&h->partial[fd]);
		buf_free(&h->capture[fd]);
	}
	free(h->name);
	memset(h, 0, sizeof(*h));
}

/* --- LINES ------------------------------------------------------------ */

/* One fwrite per line: stdio may split it, but never mixes in another. */
static int
emit_line(struct output *o, FILE *f, struct buf *line, const char *name,
    const uint8_t *p, size_t n)
{
	int r;

	buf_reset(line);
	if ((r = output_put_str(line, name)) != 0 ||
	    (r = buf_append(line, ": ", 2)) != 0 ||
	    (r = output_put_text(line, p, n, o->raw, false)) != 0 ||
	    (r = buf_append(line, "\n", 1)) != 0)
		return r;
	return output_write_buf(f, line);
}

static int
lines_data(struct output *o, struct output_host *h, int fd, const uint8_t *p,
    size_t n)
{
	struct buf *part = &h->partial[fd - 1], line;
	FILE *f = fd == 1 ? o->out : o->err;
	const uint8_t *nl;
	size_t take, cut;
	bool wrote = false;
	int r = 0;

	buf_init(&line, strlen(h->name) + ESCAPED_MAX(OUTPUT_LINE_MAX));
	while (n > 0 && r == 0) {
		/* Cut a full buffer only once more than a newline follows,
		 * so a line of exactly OUTPUT_LINE_MAX stays whole. */
		if (buf_room(part) == 0) {
			cut = *p == '\n' ?
			    buf_len(part) :
			    output_utf8_cut(buf_ptr(part), buf_len(part));
			r = emit_line(o, f, &line, h->name, buf_ptr(part),
			    cut);
			buf_consume(part, cut);
			if (*p == '\n') {
				p++;
				n--;
			}
			wrote = true;
			continue;
		}
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (buf_len(part) == 0 && nl != NULL &&
		    take <= OUTPUT_LINE_MAX) {
			/* A whole line in the chunk needs no copy. */
			r = emit_line(o, f, &line, h->name, p, take);
			wrote = true;
			p += take + 1;
			n -= take + 1;
			continue;
		}
		if (take > buf_room(part))
			take = buf_room(part);
		if ((r = buf_append(part, p, take)) != 0)
			break;
		p += take;
		n -= take;
		if (n > 0 && *p == '\n') {
			r = emit_line(o, f, &line, h->name, buf_ptr(part),
			    buf_len(part));
			buf_reset(part);
			wrote = true;
			p++;
			n--;
		}
	}
	if (wrote && fflush(f) != 0 && r == 0)
		r = MERR_IO;
	buf_free(&line);
	return r;
}

static int
lines_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	struct buf line;
	FILE *f;
	int fd, r = 0;

	buf_init(&line, strlen(h->name) + ESCAPED_MAX(OUTPUT_LINE_MAX));
	for (fd = 0; fd < 2 && r == 0; fd++) {
		if (buf_len(&h->partial[fd]) == 0)
			continue;
		f = fd == 0 ? o->out : o->err;
		r = emit_line(o, f, &line, h->name, buf_ptr(&h->partial[fd]),
		    buf_len(&h->partial[fd]));
		buf_reset(&h->partial[fd]);
		if (fflush(f) != 0 && r == 0)
			r = MERR_IO;
	}
	if (r == 0 && res->status != HS_OK) {
		buf_reset(&line);
		if ((r = output_put_str(&line,
			 res->host != NULL ? res->host : h->name)) == 0 &&
		    (r = buf_append(&line, ": ", 2)) == 0 &&
		    (r = output_put_status(&line, res->status, res->exit_code,
			 res->signal, res->error)) == 0 &&
		    (r = buf_append(&line, "\n", 1)) == 0)
			r = output_write_buf(o->err, &line);
		if (fflush(o->err) != 0 && r == 0)
			r = MERR_IO;
	}
	buf_free(&line);
	return r;
}

/* GATHER: the last stderr line of a host, when it had no newline. */
static int
gather_stderr_end(struct output *o, struct output_host *h)
{
	struct buf line;
	int r;

	if (buf_len(&h->partial[1]) == 0)
		return 0;
	buf_init(&line, strlen(h->name) + ESCAPED_MAX(OUTPUT_LINE_MAX));
	r = emit_line(o, o->err, &line, h->name, buf_ptr(&h->partial[1]),
	    buf_len(&h->partial[1]));
	buf_reset(&h->partial[1]);
	if (fflush(o->err) != 0 && r == 0)
		r = MERR_IO;
	buf_free(&line);
	return r;
}

/* --- JSON (the object itself: output_json.c) ---------------------------- */

static int
json_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	char *s;
	int r = 0;

	if ((s = output_json_object(res, h)) == NULL)
		return MERR_NOMEM;
	if (fwrite(s, 1, strlen(s), o->out) != strlen(s) ||
	    fputc('\n', o->out) == EOF || fflush(o->out) != 0)
		r = MERR_IO;
	free(s);
	return r;
}

/* --- entry points -------------------------------------------------------- */

int
output_host_data(struct output *o, struct output_host *h, int fd,
    const uint8_t *p, size_t n)
{
	struct buf *cap;
	size_t keep, share;
	int r;

	if (fd != 1 && fd != 2)
		return MERR_INVAL;
	if (n == 0)
		return 0;
	/* -b keeps which host said what on stderr, as clush: its lines go
	 * out as they come, labelled; only stdout is gathered. */
	if (o->mode == OUTPUT_LINES || (o->mode == OUTPUT_GATHER && fd == 2))
		return lines_data(o, h, fd, p, n);
	cap = &h->capture[fd - 1];
	/* Not buf_room: with a share the buffer's own limit is lower, and
	 * a cut there is the total's, to be reported as such. */
	keep = o->max_capture - buf_len(cap);
	keep = n < keep ? n : keep;
	share = buf_len(&h->capture[0]) + buf_len(&h->capture[1]);
	share = share < o->host_share ? o->host_share - share : 0;
	if (keep > o->max_total - o->held || keep > share) {
		keep = share < o->max_total - o->held ?
		    share :
		    o->max_total - o->held;
		o->total_hit = true;
	}
	if (keep < n)
		h->truncated[fd - 1] = true;
	if ((r = buf_append(cap, p, keep)) == 0)
		o->held += keep;
	return r;
}

int
output_host_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	int r;

	switch (res->status) {
	case HS_OK: o->n_ok++; break;
	case HS_FAILED: o->n_failed++; break;
	case HS_TIMEOUT:
		if (res->ran)
			o->n_failed++;
		else
			o->n_unreachable++;
		break;
	case HS_SKIPPED: o->n_skipped++; break;
	default: o->n_unreachable++; break;
	}
	switch (o->mode) {
	case OUTPUT_LINES: return lines_done(o, h, res);
	case OUTPUT_JSON:
		r = json_done(o, h, res);
		output_release_capture(o, &h->capture[0]);
		output_release_capture(o, &h->capture[1]);
		return r;
	case OUTPUT_GATHER:
		if ((r = gather_stderr_end(o, h)) != 0)
			return r;
		return gather_done(o, h, res);
	case OUTPUT_DIFF: return gather_done(o, h, res);
	case OUTPUT_LIVE: return live_done(o, h, res);
	}
	return MERR_INVAL;
}

void
output_finish(struct output *o, double wall_seconds)
{
	size_t total = o->n_ok + o->n_failed + o->n_unreachable + o->n_skipped;
	char skipped[48] = "";

	if (o->mode == OUTPUT_GATHER)
		gather_finish(o);
	else if (o->mode == OUTPUT_DIFF)
		gather_diff_finish(o);
	else if (o->mode == OUTPUT_LIVE)
		live_finish(o);
	gathered_clear(o);
	live_free(o);
	fflush(o->out);
	if (o->total_hit)
		fprintf(o->err,
		    "muster: output past --max-total-output (%zu "
		    "bytes held across hosts, %zu each) was dropped and the "
		    "hosts marked truncated; --outdir/--errdir keep "
		    "everything\n",
		    o->max_total,
		    o->host_share != SIZE_MAX ? o->host_share : o->max_total);
	if (o->n_skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %zu skipped",
		    o->n_skipped);
	fprintf(o->err,
	    "muster: %zu host%s: %zu ok, %zu failed, "
	    "%zu unreachable%s (%.2f s)\n",
	    total, total == 1 ? "" : "s", o->n_ok, o->n_failed,
	    o->n_unreachable, skipped, wall_seconds);
	fflush(o->err);
}

char *
output_escape(const char *s)
{
	struct buf b;
	char *out = NULL;

	buf_init(&b, ESCAPED_MAX(strlen(s)));
	if (output_put_text(&b, (const uint8_t *)s, strlen(s), false, false) ==
		0 &&
	    (out = malloc(buf_len(&b) + 1)) != NULL) {
		if (buf_len(&b) > 0)
			memcpy(out, buf_ptr(&b), buf_len(&b));
		out[buf_len(&b)] = '\0';
	}
	buf_free(&b);
	return out;
}
