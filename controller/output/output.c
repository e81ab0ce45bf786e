#include "output.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "array.h"
#include "err.h"
#include "hostlist.h"
#include "udiff.h"

#define RULE "---------------\n"
/* "\xHH" per byte at worst, plus room for the fixed parts of a line. */
#define ESCAPED_MAX(n) (4 * (n) + 256)

/* A finished host in GATHER mode, kept until output_finish. */
struct gathered {
	char *name;
	struct buf capture[2];
	bool truncated[2];
	enum host_status status;
	int exit_code;
	int signal;
	char *error;
	uint64_t hash;		/* of everything that decides the group */
};

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
static int
put_text(struct buf *b, const uint8_t *p, size_t n, bool raw,
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

static int
put_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/* Where to cut a full line buffer so no UTF-8 sequence is split. */
static size_t
utf8_cut(const uint8_t *p, size_t n)
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
static int
put_status(struct buf *b, enum host_status st, int exit_code, int sig,
    const char *error)
{
	const char *signame;
	char what[96];
	int r;

	if (st == HS_FAILED && sig != 0) {
		if ((signame = sigabbrev_np(sig)) != NULL)
			snprintf(what, sizeof(what), "killed by signal %d "
			    "(SIG%s)", sig, signame);
		else
			snprintf(what, sizeof(what), "killed by signal %d",
			    sig);
	} else if (st == HS_FAILED && exit_code >= 0)
		snprintf(what, sizeof(what), "exited with code %d", exit_code);
	else
		snprintf(what, sizeof(what), "%s", host_status_str(st));
	if ((r = put_str(b, what)) != 0)
		return r;
	if (error == NULL || *error == '\0')
		return 0;
	/* Error texts may quote the peer (banners, agent messages). */
	if ((r = put_str(b, ": ")) != 0)
		return r;
	return put_text(b, (const uint8_t *)error, strlen(error), false,
	    false);
}

static int
write_buf(FILE *f, const struct buf *b)
{
	if (buf_len(b) > 0 && fwrite(buf_ptr(b), 1, buf_len(b), f) !=
	    buf_len(b))
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
static void
release_capture(struct output *o, struct buf *b)
{
	o->held -= buf_len(b) < o->held ? buf_len(b) : o->held;
	buf_free(b);
}

static void
gathered_free(struct output *o, struct gathered *g)
{
	free(g->name);
	free(g->error);
	release_capture(o, &g->capture[0]);
	release_capture(o, &g->capture[1]);
}

static void
gathered_clear(struct output *o)
{
	size_t i;

	for (i = 0; i < o->ngathered; i++)
		gathered_free(o, &o->gathered[i]);
	free(o->gathered);
	o->gathered = NULL;
	o->ngathered = o->gathered_cap = 0;
}

static void live_free(struct output *o);

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
		buf_init(&h->capture[fd], o->max_capture < o->host_share ?
		    o->max_capture : o->host_share);
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
	if ((r = put_str(line, name)) != 0 ||
	    (r = buf_append(line, ": ", 2)) != 0 ||
	    (r = put_text(line, p, n, o->raw, false)) != 0 ||
	    (r = buf_append(line, "\n", 1)) != 0)
		return r;
	return write_buf(f, line);
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
			cut = *p == '\n' ? buf_len(part) :
			    utf8_cut(buf_ptr(part), buf_len(part));
			r = emit_line(o, f, &line, h->name, buf_ptr(part), cut);
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
		if ((r = put_str(&line, res->host != NULL ? res->host :
		    h->name)) == 0 &&
		    (r = buf_append(&line, ": ", 2)) == 0 &&
		    (r = put_status(&line, res->status, res->exit_code,
		    res->signal, res->error)) == 0 &&
		    (r = buf_append(&line, "\n", 1)) == 0)
			r = write_buf(o->err, &line);
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

/* --- GATHER ------------------------------------------------------------ */

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static uint64_t
gathered_hash(const struct gathered *g)
{
	uint64_t h = 14695981039346656037ULL;
	size_t len;
	int fd;

	for (fd = 0; fd < 2; fd++) {
		len = buf_len(&g->capture[fd]);
		h = fnv(h, &len, sizeof(len));
		if (len > 0)
			h = fnv(h, buf_ptr(&g->capture[fd]), len);
		h = fnv(h, &g->truncated[fd], sizeof(g->truncated[fd]));
	}
	h = fnv(h, &g->status, sizeof(g->status));
	h = fnv(h, &g->exit_code, sizeof(g->exit_code));
	h = fnv(h, &g->signal, sizeof(g->signal));
	if (g->error != NULL)
		h = fnv(h, g->error, strlen(g->error) + 1);
	return h;
}

/* Fill g from the finished host, taking its captures over rather than
 * copying them. */
static int
gathered_take(struct output *o, struct output_host *h,
    const struct host_result *res, struct gathered *g)
{
	int fd;

	memset(g, 0, sizeof(*g));
	if ((g->name = strdup(res->host != NULL ? res->host : h->name)) ==
	    NULL || (res->error != NULL &&
	    (g->error = strdup(res->error)) == NULL)) {
		gathered_free(o, g);
		return MERR_NOMEM;
	}
	for (fd = 0; fd < 2; fd++) {
		g->capture[fd] = h->capture[fd];
		g->truncated[fd] = h->truncated[fd];
		buf_init(&h->capture[fd], o->max_capture);
	}
	g->status = res->status;
	g->exit_code = res->exit_code;
	g->signal = res->signal;
	g->hash = gathered_hash(g);
	return 0;
}

static int
gather_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	int r;

	if ((r = ARRAY_RESERVE(o->gathered, o->gathered_cap, o->ngathered + 1,
	    16)) != 0)
		return r;
	if ((r = gathered_take(o, h, res, &o->gathered[o->ngathered])) != 0)
		return r;
	o->ngathered++;
	return 0;
}

static int
buf_cmp(const struct buf *a, const struct buf *b)
{
	if (buf_len(a) != buf_len(b))
		return buf_len(a) < buf_len(b) ? -1 : 1;
	if (buf_len(a) == 0)
		return 0;
	return memcmp(buf_ptr(a), buf_ptr(b), buf_len(a));
}

static int
gathered_cmp(const void *va, const void *vb)
{
	const struct gathered *a = *(struct gathered *const *)va;
	const struct gathered *b = *(struct gathered *const *)vb;
	int c, fd;

	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	if (a->status != b->status)
		return a->status < b->status ? -1 : 1;
	if (a->exit_code != b->exit_code)
		return a->exit_code < b->exit_code ? -1 : 1;
	if (a->signal != b->signal)
		return a->signal < b->signal ? -1 : 1;
	for (fd = 0; fd < 2; fd++) {
		if (a->truncated[fd] != b->truncated[fd])
			return a->truncated[fd] ? 1 : -1;
		if ((c = buf_cmp(&a->capture[fd], &b->capture[fd])) != 0)
			return c;
	}
	if (a->error == NULL || b->error == NULL)
		return (a->error != NULL) - (b->error != NULL);
	return strcmp(a->error, b->error);
}

struct gather_group {
	char *folded;
	struct gathered **members;	/* into the sorted pointer array */
	size_t count;
};

static int
gather_group_cmp(const void *va, const void *vb)
{
	const struct gather_group *a = va, *b = vb;

	return strverscmp(a->folded, b->folded);
}

/* Print a capture, neutralised, ending in a newline. In pieces cut
 * between UTF-8 sequences: a copy of the whole, up to four times its
 * size, would add to what --max-total-output bounds. */
static int
print_capture(struct output *o, FILE *f, const struct buf *cap)
{
	const uint8_t *p = buf_ptr(cap);
	size_t n = buf_len(cap), piece;
	struct buf text;
	int r = 0;

	if (n == 0 || p == NULL)
		return 0;
	buf_init(&text, ESCAPED_MAX(OUTPUT_LINE_MAX));
	for (; n > 0 && r == 0; p += piece, n -= piece) {
		piece = n > OUTPUT_LINE_MAX ? utf8_cut(p, OUTPUT_LINE_MAX) : n;
		buf_reset(&text);
		if ((r = put_text(&text, p, piece, o->raw, true)) == 0 &&
		    piece == n && p[piece - 1] != '\n')
			r = buf_append(&text, "\n", 1);
		if (r == 0)
			r = write_buf(f, &text);
	}
	buf_free(&text);
	if (fflush(f) != 0 && r == 0)
		r = MERR_IO;
	return r;
}

/* The group's header between rules; tag (NULL for none) follows the
 * host set, in brackets. */
static int
print_header(struct output *o, const struct gather_group *grp,
    const char *tag)
{
	const struct gathered *g = grp->members[0];
	struct buf head;
	char count[32];
	int r;

	buf_init(&head, ESCAPED_MAX(strlen(grp->folded) +
	    (g->error ? strlen(g->error) : 0)) + (tag ? strlen(tag) : 0));
	/* One host: its name is the header, as clush's. */
	count[0] = '\0';
	if (grp->count > 1)
		snprintf(count, sizeof(count), " (%zu)", grp->count);
	if ((r = put_str(&head, RULE)) != 0 ||
	    (r = put_str(&head, grp->folded)) != 0 ||
	    (r = put_str(&head, count)) != 0)
		goto out;
	if (tag != NULL && ((r = put_str(&head, " [")) != 0 ||
	    (r = put_str(&head, tag)) != 0 || (r = put_str(&head, "]")) != 0))
		goto out;
	if (g->status != HS_OK && ((r = buf_append(&head, " ", 1)) != 0 ||
	    (r = put_status(&head, g->status, g->exit_code, g->signal,
	    g->error)) != 0))
		goto out;
	if ((g->truncated[0] && (r = put_str(&head,
	    " [stdout truncated]")) != 0) ||
	    (g->truncated[1] && (r = put_str(&head,
	    " [stderr truncated]")) != 0) ||
	    (r = put_str(&head, "\n" RULE)) != 0)
		goto out;
	/* The other stream may be the same terminal: keep the order. */
	fflush(o->err);
	r = write_buf(o->out, &head);
out:
	buf_free(&head);
	return r;
}

static int
print_group(struct output *o, const struct gather_group *grp,
    const char *tag)
{
	const struct gathered *g = grp->members[0];
	int r;

	if ((r = print_header(o, grp, tag)) != 0 ||
	    (r = print_capture(o, o->out, &g->capture[0])) != 0)
		return r;
	if (fflush(o->out) != 0)
		return MERR_IO;
	return print_capture(o, o->err, &g->capture[1]);
}

static bool
gathered_silent(const struct gathered *g)
{
	return g->status == HS_OK && buf_len(&g->capture[0]) == 0 &&
	    buf_len(&g->capture[1]) == 0 && !g->truncated[0] &&
	    !g->truncated[1];
}

/*
 * Sort the gathered hosts and group those alike; groups[] point into
 * sorted[]. Silent hosts (ok, no output) form a group only when wanted.
 * Callers free with groups_free.
 */
static int
make_groups(struct output *o, bool with_silent, struct gathered ***sorted_out,
    struct gather_group **groups_out, size_t *ngroups_out)
{
	struct gathered **sorted = NULL;
	struct gather_group *groups = NULL;
	const char **names = NULL;
	size_t i, j, k, ngroups = 0;
	int r = MERR_NOMEM;

	if ((sorted = calloc(o->ngathered, sizeof(*sorted))) == NULL ||
	    (groups = calloc(o->ngathered, sizeof(*groups))) == NULL ||
	    (names = calloc(o->ngathered, sizeof(*names))) == NULL)
		goto out;
	for (i = 0; i < o->ngathered; i++)
		sorted[i] = &o->gathered[i];
	qsort(sorted, o->ngathered, sizeof(*sorted), gathered_cmp);
	for (i = 0; i < o->ngathered; i = j) {
		for (j = i + 1; j < o->ngathered &&
		    gathered_cmp(&sorted[i], &sorted[j]) == 0; j++)
			;
		if (!with_silent && gathered_silent(sorted[i]))
			continue;
		for (k = i; k < j; k++)
			names[k - i] = sorted[k]->name;
		/* Without memory to fold, the first name still says
		 * which output this is; the count says how many share it. */
		if ((groups[ngroups].folded = hostlist_fold(names, j - i)) ==
		    NULL && (groups[ngroups].folded =
		    strdup(sorted[i]->name)) == NULL)
			goto out;
		groups[ngroups].members = &sorted[i];
		groups[ngroups++].count = j - i;
	}
	qsort(groups, ngroups, sizeof(*groups), gather_group_cmp);
	r = 0;
out:
	free(names);
	if (r != 0) {
		for (i = 0; groups != NULL && i < ngroups; i++)
			free(groups[i].folded);
		free(groups);
		free(sorted);
		groups = NULL;
		sorted = NULL;
		ngroups = 0;
	}
	*sorted_out = sorted;
	*groups_out = groups;
	*ngroups_out = ngroups;
	return r;
}

static void
groups_free(struct gathered **sorted, struct gather_group *groups,
    size_t ngroups)
{
	size_t i;

	for (i = 0; groups != NULL && i < ngroups; i++)
		free(groups[i].folded);
	free(groups);
	free(sorted);
}

static void
gather_finish(struct output *o)
{
	struct gathered **sorted;
	struct gather_group *groups;
	size_t i, ngroups;

	if (o->ngathered == 0 ||
	    make_groups(o, false, &sorted, &groups, &ngroups) != 0)
		return;
	for (i = 0; i < ngroups; i++) {
		if (print_group(o, &groups[i], NULL) != 0)
			break;
	}
	groups_free(sorted, groups, ngroups);
}

/* --- DIFF --------------------------------------------------------------- */

/* Most hosts first; the folded names break ties so the order is stable. */
static int
diff_group_cmp(const void *va, const void *vb)
{
	const struct gather_group *a = va, *b = vb;

	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	return strverscmp(a->folded, b->folded);
}

static int
put_note(struct output *o, const char *note)
{
	if (fputs(note, o->out) == EOF)
		return MERR_IO;
	return 0;
}

/* One stream of grp as a diff against the same stream of ref. */
static int
print_diff(struct output *o, const struct gather_group *ref,
    const struct gather_group *grp, int fd)
{
	const struct buf *a = &ref->members[0]->capture[fd];
	const struct buf *b = &grp->members[0]->capture[fd];
	const char *stream = fd == 0 ? "stdout" : "stderr";
	char *la = NULL, *lb = NULL, note[160];
	struct buf d, text;
	int flags = 0, r;

	if (buf_cmp(a, b) == 0)
		return 0;
	if (asprintf(&la, "%s (%s, most common)", ref->folded, stream) < 0)
		la = NULL;
	if (asprintf(&lb, "%s (%s)", grp->folded, stream) < 0)
		lb = NULL;
	if (la == NULL || lb == NULL) {
		free(la);
		free(lb);
		return MERR_NOMEM;
	}
	/* No limit of its own: the inputs are bounded (max_capture, and
	 * udiff's line cap), and so is what a diff of them can be. */
	buf_init(&d, SIZE_MAX / 4);
	buf_init(&text, SIZE_MAX / 4);
	r = udiff(buf_len(a) ? buf_ptr(a) : (const uint8_t *)"", buf_len(a),
	    buf_len(b) ? buf_ptr(b) : (const uint8_t *)"", buf_len(b), la, lb,
	    UDIFF_CONTEXT, &d, &flags);
	if (r != 0)
		goto out;
	if (flags & UDIFF_TOO_DIFFERENT) {
		snprintf(note, sizeof(note), "[%s differs from the most common "
		    "in too many lines to diff; here in full]\n", stream);
		if ((r = put_note(o, note)) == 0)
			r = print_capture(o, fd == 0 ? o->out : o->err, b);
		goto out;
	}
	if (buf_len(&d) > 0 && ((r = put_text(&text, buf_ptr(&d),
	    buf_len(&d), o->raw, true)) != 0 ||
	    (r = write_buf(o->out, &text)) != 0))
		goto out;
	if (flags & UDIFF_CAPPED) {
		snprintf(note, sizeof(note), "[diff of the first %d lines of "
		    "%s only]\n", UDIFF_MAX_LINES, stream);
		r = put_note(o, note);
	}
out:
	if (fflush(o->out) != 0 && r == 0)
		r = MERR_IO;
	buf_free(&d);
	buf_free(&text);
	free(la);
	free(lb);
	return r;
}

static void
diff_finish(struct output *o)
{
	struct gathered **sorted;
	struct gather_group *groups;
	const struct gathered *g;
	size_t i, ngroups;
	int r = 0, fd;

	if (o->ngathered == 0 ||
	    make_groups(o, true, &sorted, &groups, &ngroups) != 0)
		return;
	qsort(groups, ngroups, sizeof(*groups), diff_group_cmp);
	for (i = 0; i < ngroups && r == 0; i++) {
		if (i == 0) {
			r = print_group(o, &groups[0], "most common");
			continue;
		}
		if ((r = print_header(o, &groups[i], NULL)) != 0)
			break;
		g = groups[i].members[0];
		/* A host that never ran has no output to compare: its
		 * status in the header says it all. */
		if (g->status != HS_OK && g->status != HS_FAILED &&
		    buf_len(&g->capture[0]) == 0 &&
		    buf_len(&g->capture[1]) == 0)
			continue;
		for (fd = 0; fd < 2 && r == 0; fd++)
			r = print_diff(o, &groups[0], &groups[i], fd);
	}
	groups_free(sorted, groups, ngroups);
}

/* --- LIVE --------------------------------------------------------------- */

/* One group of alike hosts, kept from its first host to output_finish. */
struct live_group {
	struct gathered rep;	/* the first host: decides membership */
	char **names;
	size_t n, cap;
	size_t reported;	/* names[0, reported) have been printed */
	size_t number;		/* #1, #2, ... in order of appearance */
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
live_free(struct output *o)
{
	size_t i, k;

	for (i = 0; i < o->nlive; i++) {
		gathered_free(o, &o->live[i]->rep);
		for (k = 0; k < o->live[i]->n; k++)
			free(o->live[i]->names[k]);
		free(o->live[i]->names);
		free(o->live[i]);
	}
	free(o->live);
	o->live = NULL;
	o->nlive = o->live_cap = 0;
}

static int
live_add_name(struct live_group *lg, char *name)
{
	int r;

	if ((r = ARRAY_RESERVE(lg->names, lg->cap, lg->n + 1, 8)) != 0)
		return r;
	lg->names[lg->n++] = name;
	return 0;
}

/* "#2 += 127.0.1.[4-9] (8 hosts)": the hosts that joined since the
 * group was last reported. */
static int
live_report_joins(struct output *o)
{
	struct live_group *lg;
	char *folded, head[64];
	size_t i;
	int r = 0;

	for (i = 0; i < o->nlive && r == 0; i++) {
		lg = o->live[i];
		if (lg->reported == lg->n)
			continue;
		folded = hostlist_fold((const char *const *)lg->names +
		    lg->reported, lg->n - lg->reported);
		snprintf(head, sizeof(head), "#%zu += ", lg->number);
		if (fprintf(o->out, "%s%s (%zu host%s)\n", head, folded ?
		    folded : lg->names[lg->reported], lg->n,
		    lg->n == 1 ? "" : "s") < 0)
			r = MERR_IO;
		free(folded);
		lg->reported = lg->n;
	}
	o->live_last = now_seconds();
	if (fflush(o->out) != 0 && r == 0)
		r = MERR_IO;
	return r;
}

static int
live_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	struct live_group *lg = NULL;
	struct gathered g, *pg = &g, *prep;
	struct gather_group grp;
	char tag[32], *name;
	size_t i;
	int r;

	if ((r = gathered_take(o, h, res, &g)) != 0)
		return r;
	for (i = 0; i < o->nlive; i++) {
		prep = &o->live[i]->rep;
		if (prep->hash == g.hash && gathered_cmp(&pg, &prep) == 0) {
			lg = o->live[i];
			break;
		}
	}
	if (lg != NULL) {
		/* Only the name is kept; the output is the group's. */
		name = g.name;
		g.name = NULL;
		gathered_free(o, &g);
		if ((r = live_add_name(lg, name)) != 0) {
			free(name);
			return r;
		}
		if (gathered_silent(&lg->rep))
			lg->reported = lg->n;
		else if (now_seconds() - o->live_last >= o->live_interval)
			return live_report_joins(o);
		return 0;
	}
	if ((r = ARRAY_RESERVE(o->live, o->live_cap, o->nlive + 1, 16)) != 0) {
		gathered_free(o, &g);
		return r;
	}
	if ((lg = calloc(1, sizeof(*lg))) == NULL) {
		gathered_free(o, &g);
		return MERR_NOMEM;
	}
	if ((name = strdup(g.name)) == NULL ||
	    live_add_name(lg, name) != 0) {
		free(name);
		free(lg);
		gathered_free(o, &g);
		return MERR_NOMEM;
	}
	lg->rep = g;
	lg->number = o->nlive + 1;
	lg->reported = 1;
	o->live[o->nlive++] = lg;
	if (gathered_silent(&lg->rep))
		return 0;
	/* Earlier joins first, so the stream reads in the order things
	 * happened. */
	if ((r = live_report_joins(o)) != 0)
		return r;
	prep = &lg->rep;
	grp.folded = lg->names[0];
	grp.members = &prep;
	grp.count = 1;
	snprintf(tag, sizeof(tag), "#%zu", lg->number);
	return print_group(o, &grp, tag);
}

/* The map of every group at the end: number, host set, status. */
static void
live_finish(struct output *o)
{
	struct live_group *lg;
	struct buf line;
	char *folded, count[48];
	size_t i;

	if (o->nlive == 0)
		return;
	live_report_joins(o);
	fputs(RULE, o->out);
	for (i = 0; i < o->nlive; i++) {
		lg = o->live[i];
		folded = hostlist_fold((const char *const *)lg->names, lg->n);
		buf_init(&line, ESCAPED_MAX(256 + (folded ? strlen(folded) :
		    strlen(lg->names[0])) + (lg->rep.error ?
		    strlen(lg->rep.error) : 0)));
		snprintf(count, sizeof(count), "#%zu ", lg->number);
		put_str(&line, count);
		put_str(&line, folded ? folded : lg->names[0]);
		snprintf(count, sizeof(count), " (%zu)", lg->n);
		put_str(&line, count);
		if (gathered_silent(&lg->rep))
			put_str(&line, " ok, no output");
		else if (lg->rep.status != HS_OK) {
			put_str(&line, " ");
			put_status(&line, lg->rep.status, lg->rep.exit_code,
			    lg->rep.signal, lg->rep.error);
		}
		put_str(&line, "\n");
		write_buf(o->out, &line);
		buf_free(&line);
		free(folded);
	}
	fflush(o->out);
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
		keep = share < o->max_total - o->held ? share :
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
	case HS_OK:
		o->n_ok++;
		break;
	case HS_FAILED:
		o->n_failed++;
		break;
	case HS_TIMEOUT:
		if (res->ran)
			o->n_failed++;
		else
			o->n_unreachable++;
		break;
	case HS_SKIPPED:
		o->n_skipped++;
		break;
	default:
		o->n_unreachable++;
		break;
	}
	switch (o->mode) {
	case OUTPUT_LINES:
		return lines_done(o, h, res);
	case OUTPUT_JSON:
		r = json_done(o, h, res);
		release_capture(o, &h->capture[0]);
		release_capture(o, &h->capture[1]);
		return r;
	case OUTPUT_GATHER:
		if ((r = gather_stderr_end(o, h)) != 0)
			return r;
		return gather_done(o, h, res);
	case OUTPUT_DIFF:
		return gather_done(o, h, res);
	case OUTPUT_LIVE:
		return live_done(o, h, res);
	}
	return MERR_INVAL;
}

void
output_finish(struct output *o, double wall_seconds)
{
	size_t total = o->n_ok + o->n_failed + o->n_unreachable +
	    o->n_skipped;
	char skipped[48] = "";

	if (o->mode == OUTPUT_GATHER)
		gather_finish(o);
	else if (o->mode == OUTPUT_DIFF)
		diff_finish(o);
	else if (o->mode == OUTPUT_LIVE)
		live_finish(o);
	gathered_clear(o);
	live_free(o);
	fflush(o->out);
	if (o->total_hit)
		fprintf(o->err, "muster: output past --max-total-output (%zu "
		    "bytes held across hosts, %zu each) was dropped and the "
		    "hosts marked truncated; --outdir/--errdir keep "
		    "everything\n", o->max_total, o->host_share != SIZE_MAX ?
		    o->host_share : o->max_total);
	if (o->n_skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %zu skipped",
		    o->n_skipped);
	fprintf(o->err, "muster: %zu host%s: %zu ok, %zu failed, "
	    "%zu unreachable%s (%.2f s)\n", total, total == 1 ? "" : "s",
	    o->n_ok, o->n_failed, o->n_unreachable, skipped, wall_seconds);
	fflush(o->err);
}


char *
output_escape(const char *s)
{
	struct buf b;
	char *out = NULL;

	buf_init(&b, ESCAPED_MAX(strlen(s)));
	if (put_text(&b, (const uint8_t *)s, strlen(s), false, false) == 0 &&
	    (out = malloc(buf_len(&b) + 1)) != NULL) {
		if (buf_len(&b) > 0)
			memcpy(out, buf_ptr(&b), buf_len(&b));
		out[buf_len(&b)] = '\0';
	}
	buf_free(&b);
	return out;
}

