/*
 * GATHER (clush -b) and DIFF (--diff): finished hosts are kept until
 * output_finish, then sorted and folded into groups of hosts whose
 * results are alike (stdout, stderr, truncation, status, exit code,
 * signal and error all equal). GATHER prints each group once under its
 * folded host set; DIFF prints the most common group whole and every other
 * as unified diffs against it. What a host holds is bounded by the caller
 * (output.c: max_capture, host_share); a capture is taken over, never
 * copied.
 */
#include "output.h"
#include "output_int.h"

#include <stdlib.h>
#include <string.h>

#include "array.h"
#include "err.h"
#include "hostlist.h"
#include "udiff.h"

void
gathered_free(struct output *o, struct gathered *g)
{
	free(g->name);
	free(g->error);
	output_release_capture(o, &g->capture[0]);
	output_release_capture(o, &g->capture[1]);
}

void
gathered_clear(struct output *o)
{
	size_t i;

	for (i = 0; i < o->ngathered; i++)
		gathered_free(o, &o->gathered[i]);
	free(o->gathered);
	o->gathered = NULL;
	o->ngathered = o->gathered_cap = 0;
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
int
gathered_take(struct output *o, struct output_host *h,
    const struct host_result *res, struct gathered *g)
{
	int fd;

	memset(g, 0, sizeof(*g));
	if ((g->name = strdup(res->host != NULL ? res->host : h->name)) ==
		NULL ||
	    (res->error != NULL && (g->error = strdup(res->error)) == NULL)) {
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

int
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

int
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

static int
output_gather_gather_group_cmp(const void *va, const void *vb)
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
		piece = n > OUTPUT_LINE_MAX ?
		    output_utf8_cut(p, OUTPUT_LINE_MAX) :
		    n;
		buf_reset(&text);
		if ((r = output_put_text(&text, p, piece, o->raw, true)) ==
			0 &&
		    piece == n && p[piece - 1] != '\n')
			r = buf_append(&text, "\n", 1);
		if (r == 0)
			r = output_write_buf(f, &text);
	}
	buf_free(&text);
	if (fflush(f) != 0 && r == 0)
		r = MERR_IO;
	return r;
}

/* The group's header between rules; tag (NULL for none) follows the
 * host set, in brackets. */
static int
print_header(struct output *o, const struct gather_group *grp, const char *tag)
{
	const struct gathered *g = grp->members[0];
	struct buf head;
	char count[32];
	int r;

	buf_init(&head,
	    ESCAPED_MAX(
		strlen(grp->folded) + (g->error ? strlen(g->error) : 0)) +
		(tag ? strlen(tag) : 0));
	/* One host: its name is the header, as clush's. */
	count[0] = '\0';
	if (grp->count > 1)
		snprintf(count, sizeof(count), " (%zu)", grp->count);
	if ((r = output_put_str(&head, RULE)) != 0 ||
	    (r = output_put_str(&head, grp->folded)) != 0 ||
	    (r = output_put_str(&head, count)) != 0)
		goto out;
	if (tag != NULL &&
	    ((r = output_put_str(&head, " [")) != 0 ||
		(r = output_put_str(&head, tag)) != 0 ||
		(r = output_put_str(&head, "]")) != 0))
		goto out;
	if (g->status != HS_OK &&
	    ((r = buf_append(&head, " ", 1)) != 0 ||
		(r = output_put_status(&head, g->status, g->exit_code,
		     g->signal, g->error)) != 0))
		goto out;
	if ((g->truncated[0] &&
		(r = output_put_str(&head, " [stdout truncated]")) != 0) ||
	    (g->truncated[1] &&
		(r = output_put_str(&head, " [stderr truncated]")) != 0) ||
	    (r = output_put_str(&head, "\n" RULE)) != 0)
		goto out;
	/* The other stream may be the same terminal: keep the order. */
	fflush(o->err);
	r = output_write_buf(o->out, &head);
out:
	buf_free(&head);
	return r;
}

int
gather_print_group(struct output *o, const struct gather_group *grp,
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

bool
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
		     gathered_cmp(&sorted[i], &sorted[j]) == 0;
		     j++)
			;
		if (!with_silent && gathered_silent(sorted[i]))
			continue;
		for (k = i; k < j; k++)
			names[k - i] = sorted[k]->name;
		/* Without memory to fold, the first name still says
		 * which output this is; the count says how many share it. */
		if ((groups[ngroups].folded = hostlist_fold(names, j - i)) ==
			NULL &&
		    (groups[ngroups].folded = strdup(sorted[i]->name)) == NULL)
			goto out;
		groups[ngroups].members = &sorted[i];
		groups[ngroups++].count = j - i;
	}
	qsort(groups, ngroups, sizeof(*groups),
	    output_gather_gather_group_cmp);
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

void
gather_finish(struct output *o)
{
	struct gathered **sorted;
	struct gather_group *groups;
	size_t i, ngroups;

	if (o->ngathered == 0 ||
	    make_groups(o, false, &sorted, &groups, &ngroups) != 0)
		return;
	for (i = 0; i < ngroups; i++) {
		if (gather_print_group(o, &groups[i], NULL) != 0)
			break;
	}
	groups_free(sorted, groups, ngroups);
}

/* --- DIFF --------------------------------------------------------------- */

/* Most hosts first; the folded names break ties so the order is stable. */
static int
output_gather_diff_group_cmp(const void *va, const void *vb)
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
		snprintf(note, sizeof(note),
		    "[%s differs from the most common "
		    "in too many lines to diff; here in full]\n",
		    stream);
		if ((r = put_note(o, note)) == 0)
			r = print_capture(o, fd == 0 ? o->out : o->err, b);
		goto out;
	}
	if (buf_len(&d) > 0 &&
	    ((r = output_put_text(&text, buf_ptr(&d), buf_len(&d), o->raw,
		  true)) != 0 ||
		(r = output_write_buf(o->out, &text)) != 0))
		goto out;
	if (flags & UDIFF_CAPPED) {
		snprintf(note, sizeof(note),
		    "[diff of the first %d lines of "
		    "%s only]\n",
		    UDIFF_MAX_LINES, stream);
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

void
gather_diff_finish(struct output *o)
{
	struct gathered **sorted;
	struct gather_group *groups;
	const struct gathered *g;
	size_t i, ngroups;
	int r = 0, fd;

	if (o->ngathered == 0 ||
	    make_groups(o, true, &sorted, &groups, &ngroups) != 0)
		return;
	qsort(groups, ngroups, sizeof(*groups), output_gather_diff_group_cmp);
	for (i = 0; i < ngroups && r == 0; i++) {
		if (i == 0) {
			r = gather_print_group(o, &groups[0], "most common");
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
