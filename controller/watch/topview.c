#include "topview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "units.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The host column: names up to this long are never cut while other
 * columns are shown; the column grows no wider than the longest name. */
#define HOST_MIN 16
#define HOST_MAX 40
#define WARN_PCT 75.0
#define CRIT_PCT 90.0

/* ---- the grid ------------------------------------------------------------------ */

int
topview_screen_init(struct top_screen *s, int rows, int cols)
{
	size_t n;

	memset(s, 0, sizeof(*s));
	s->rows = rows > 0 ? rows : 0;
	s->cols = cols > 0 ? cols : 0;
	n = (size_t)s->rows * (size_t)s->cols;
	s->text = malloc(n ? n : 1);
	s->attr = malloc(n ? n : 1);
	if (s->text == NULL || s->attr == NULL) {
		topview_screen_free(s);
		s->rows = s->cols = 0; /* nothing to draw into */
		return MERR_NOMEM;
	}
	return 0;
}

void
topview_screen_free(struct top_screen *s)
{
	free(s->text);
	free(s->attr);
	s->text = NULL;
	s->attr = NULL;
}

/* Text at (row, col), cut at the screen's edge and at width (< 0: to the
 * edge), as printable ASCII. Returns the cells written. */
static int
put(struct top_screen *s, int row, int col, int width, const char *text,
    enum top_attr a)
{
	int i, end = s->cols;
	size_t at;

	if (row < 0 || row >= s->rows || col < 0 || col >= s->cols)
		return 0;
	if (width >= 0 && col + width < end)
		end = col + width;
	for (i = col; i < end && text[i - col] != '\0'; i++) {
		unsigned char c = (unsigned char)text[i - col];

		at = (size_t)row * (size_t)s->cols + (size_t)i;
		s->text[at] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		s->attr[at] = (unsigned char)a;
	}
	return i - col;
}

static void
paint(struct top_screen *s, int row, int col, int width, enum top_attr a)
{
	int i;

	if (row < 0 || row >= s->rows)
		return;
	for (i = col < 0 ? 0 : col; i < s->cols && i < col + width; i++)
		s->attr[(size_t)row * (size_t)s->cols + (size_t)i] =
		    (unsigned char)a;
}

/* Right-aligned in width cells. */
static void
put_right(struct top_screen *s, int row, int col, int width, const char *text,
    enum top_attr a)
{
	int len = (int)strlen(text);

	if (len > width)
		len = width;
	put(s, row, col + width - len, len, text, a);
}

/* A name cut to width keeps its start and its end ("web-fr~.12"): the
 * ends are what tell hosts of one fleet apart. */
static void
put_name(struct top_screen *s, int row, int col, int width, const char *name,
    enum top_attr a)
{
	int len = (int)strlen(name), head;

	if (len <= width || width < 4) {
		put(s, row, col, width, name, a);
		return;
	}
	head = (width - 1) / 2;
	put(s, row, col, head, name, a);
	put(s, row, col + head, 1, "~", a);
	put(s, row, col + head + 1, width - head - 1,
	    name + len - (width - head - 1), a);
}

/* ---- columns ------------------------------------------------------------------- */

enum col_id {
	COL_STATE,
	COL_CPU,
	COL_IOWAIT,
	COL_LOAD1,
	COL_LOAD5,
	COL_LOAD15,
	COL_MEM,
	COL_SWAP,
	COL_DISK,
	COL_RX,
	COL_TX,
	COL_PROCS,
	COL_UPTIME,
};

/* In the order shown; prio says which go first when the terminal is
 * narrow (higher goes first), as top's fields: CPU and memory last. */
static const struct column {
	enum col_id id;
	const char *title;
	int width, prio;
	enum top_sort sort; /* TOP_SORT_NAME: not a sort key */
} columns[] = {
	{ COL_STATE, "STATE", 5, 8, TOP_SORT_NAME },
	{ COL_CPU, "CPU%", 6, 1, TOP_SORT_CPU },
	{ COL_IOWAIT, "IOWAIT", 6, 12, TOP_SORT_NAME },
	{ COL_LOAD1, "LOAD1", 6, 3, TOP_SORT_LOAD },
	{ COL_LOAD5, "LOAD5", 6, 10, TOP_SORT_NAME },
	{ COL_LOAD15, "LOAD15", 6, 11, TOP_SORT_NAME },
	{ COL_MEM, "MEM%", 6, 2, TOP_SORT_MEM },
	{ COL_SWAP, "SWAP%", 6, 9, TOP_SORT_NAME },
	{ COL_DISK, "DISK%", 6, 4, TOP_SORT_DISK },
	{ COL_RX, "NET-RX/s", 8, 5, TOP_SORT_NET },
	{ COL_TX, "NET-TX/s", 8, 6, TOP_SORT_NET },
	{ COL_PROCS, "PROCS", 6, 7, TOP_SORT_NAME },
	{ COL_UPTIME, "UPTIME", 7, 13, TOP_SORT_NAME },
};

struct layout {
	int host_width;
	bool shown[NELEM(columns)];
};

static void
choose_columns(const struct top_model *m, int cols, struct layout *lay)
{
	int longest = 4, used, prio, host_min;
	size_t i, j;

	for (i = 0; i < m->n; i++)
		if ((int)strlen(m->hosts[i].name) > longest)
			longest = (int)strlen(m->hosts[i].name);
	if (longest > HOST_MAX)
		longest = HOST_MAX;
	host_min = longest < HOST_MIN ? longest : HOST_MIN;
	memset(lay, 0, sizeof(*lay));
	used = host_min;
	for (prio = 1; prio <= (int)NELEM(columns); prio++)
		for (j = 0; j < NELEM(columns); j++)
			if (columns[j].prio == prio &&
			    used + 1 + columns[j].width <= cols) {
				lay->shown[j] = true;
				used += 1 + columns[j].width;
			}
	lay->host_width = host_min + (cols - used);
	if (lay->host_width > longest)
		lay->host_width = longest;
	if (lay->host_width > cols)
		lay->host_width = cols;
}

/* A figure in width cells, with fewer decimals when it does not fit. */
static void
fmt_num(char *out, size_t outlen, int width, double v, int decimals)
{
	for (; decimals >= 0; decimals--) {
		snprintf(out, outlen, "%.*f", decimals, v);
		if ((int)strlen(out) <= width)
			return;
	}
	snprintf(out, outlen, "%.*s", width, "++++++++++++++++");
}

static void
fmt_uptime(char *out, size_t outlen, double s)
{
	if (s >= 86400)
		snprintf(out, outlen, "%.0fd", s / 86400);
	else if (s >= 3600)
		snprintf(out, outlen, "%.0fh", s / 3600);
	else
		snprintf(out, outlen, "%.0fm", s / 60);
}

static enum top_attr
pct_attr(double v)
{
	return v >= CRIT_PCT ? TA_CRIT : v >= WARN_PCT ? TA_WARN : TA_NORMAL;
}

static void
cell(const struct top_host *h, enum col_id id, int width, char *out,
    size_t outlen, enum top_attr *a)
{
	*a = TA_NORMAL;
	if (h->state != TOP_UP) {
		snprintf(out, outlen, "%s",
		    id == COL_STATE ?
			(h->state == TOP_DOWN ? "DOWN" : "conn") :
			"-");
		*a = h->state == TOP_DOWN ? TA_DOWN : TA_DIM;
		return;
	}
	switch (id) {
	case COL_STATE:
		snprintf(out, outlen, "UP");
		*a = TA_UP;
		return;
	case COL_CPU:
		*a = pct_attr(h->cpu_pct);
		fmt_num(out, outlen, width, h->cpu_pct, 1);
		return;
	case COL_IOWAIT: fmt_num(out, outlen, width, h->iowait_pct, 1); return;
	case COL_LOAD1: fmt_num(out, outlen, width, h->load1, 2); return;
	case COL_LOAD5: fmt_num(out, outlen, width, h->load5, 2); return;
	case COL_LOAD15: fmt_num(out, outlen, width, h->load15, 2); return;
	case COL_MEM:
		*a = pct_attr(h->mem_pct);
		fmt_num(out, outlen, width, h->mem_pct, 1);
		return;
	case COL_SWAP: fmt_num(out, outlen, width, h->swap_pct, 1); return;
	case COL_DISK:
		*a = pct_attr(h->disk_pct);
		fmt_num(out, outlen, width, h->disk_pct, 1);
		return;
	case COL_RX: units_bytes(h->rx_bytes_per_s, true, out, outlen); return;
	case COL_TX: units_bytes(h->tx_bytes_per_s, true, out, outlen); return;
	case COL_PROCS: fmt_num(out, outlen, width, h->procs, 0); return;
	case COL_UPTIME: fmt_uptime(out, outlen, h->uptime_s); return;
	}
}

/* ---- order and filter ----------------------------------------------------------- */

static double
sort_key(const struct top_host *h, enum top_sort sort)
{
	if (h->state != TOP_UP)
		return -1; /* below every host with figures */
	switch (sort) {
	case TOP_SORT_CPU: return h->cpu_pct;
	case TOP_SORT_MEM: return h->mem_pct;
	case TOP_SORT_LOAD: return h->load1;
	case TOP_SORT_DISK: return h->disk_pct;
	case TOP_SORT_NET: return h->rx_bytes_per_s + h->tx_bytes_per_s;
	case TOP_SORT_NAME: break;
	}
	return 0;
}

/* qsort has no argument for the key: the render passes it here. Only
 * ever set and read within one topview_render, which is not reentrant
 * (the controller is single-threaded). */
static enum top_sort order_by;

static int
topview_cmp(const void *a, const void *b)
{
	const struct top_host *x = *(const struct top_host *const *)a;
	const struct top_host *y = *(const struct top_host *const *)b;
	double kx = sort_key(x, order_by), ky = sort_key(y, order_by);

	if (kx != ky)
		return kx < ky ? 1 : -1;
	return strverscmp(x->name, y->name);
}

void
topview_order(const struct top_host **v, size_t n, enum top_sort sort)
{
	order_by = sort;
	qsort(v, n, sizeof(*v), topview_cmp);
}

static bool
matches(const struct top_host *h, const struct top_view *v)
{
	return v->filter[0] == '\0' || strcasestr(h->name, v->filter) != NULL;
}

/* ---- the parts of the screen ------------------------------------------------------ */

static const char *const sort_names[] = {
	[TOP_SORT_NAME] = "host",
	[TOP_SORT_CPU] = "cpu",
	[TOP_SORT_MEM] = "mem",
	[TOP_SORT_LOAD] = "load",
	[TOP_SORT_DISK] = "disk",
	[TOP_SORT_NET] = "net",
};

int
topview_sort_parse(const char *name)
{
	size_t i;

	for (i = 0; i < NELEM(sort_names); i++)
		if (strcmp(name, sort_names[i]) == 0)
			return (int)i;
	return -1;
}

struct counts {
	size_t up, down, connecting, shown;
	double cpu_weighted, cpu_max, load_sum, load_max;
	unsigned long long ncpu;
	double mem_used, mem_total;
	const char *cpu_max_host;
};

static void
count(const struct top_model *m, const struct top_view *v, struct counts *c)
{
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < m->n; i++) {
		const struct top_host *h = &m->hosts[i];
		unsigned ncpu = h->ncpu ? h->ncpu : 1;

		c->shown += matches(h, v);
		if (h->state == TOP_DOWN)
			c->down++;
		if (h->state == TOP_CONNECTING)
			c->connecting++;
		if (h->state != TOP_UP)
			continue;
		c->up++;
		/* Fleet CPU: busy CPUs over all CPUs, so a 64-CPU host
		 * weighs as much as 64 one-CPU hosts. */
		c->cpu_weighted += h->cpu_pct * ncpu;
		c->ncpu += ncpu;
		if (c->cpu_max_host == NULL || h->cpu_pct > c->cpu_max) {
			c->cpu_max = h->cpu_pct;
			c->cpu_max_host = h->name;
		}
		c->load_sum += h->load1;
		if (h->load1 > c->load_max)
			c->load_max = h->load1;
		c->mem_used += (double)h->mem_used_bytes;
		c->mem_total += (double)h->mem_total_bytes;
	}
}

static void
draw_title(const struct top_model *m, const struct top_view *v,
    const struct counts *c, struct top_screen *s)
{
	char line[256], when[16], filter[TOP_FILTER_MAX + 32] = "";
	time_t t = (time_t)m->now;
	struct tm tm;

	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&t, &tm));
	if (v->filter[0] != '\0')
		snprintf(filter, sizeof(filter), "  filter '%s': %zu of %zu",
		    v->filter, c->shown, m->n);
	snprintf(line, sizeof(line),
	    "muster watch  %s  %zu/%zu up  %zu down  sort %s%s  every %gs",
	    when, c->up, m->n, c->down, sort_names[v->sort], filter,
	    m->interval);
	paint(s, 0, 0, s->cols, TA_TITLE);
	put(s, 0, 0, -1, line, TA_TITLE);
}

static void
draw_summary(const struct counts *c, struct top_screen *s, int row)
{
	char line[256], total[16], max[64] = "";
	int len;

	units_bytes(c->mem_total, true, total, sizeof(total));
	if (c->up == 0) {
		snprintf(line, sizeof(line),
		    "Hosts %zu up, %zu down, %zu connecting", c->up, c->down,
		    c->connecting);
		put(s, row, 0, -1, line, TA_NORMAL);
		return;
	}
	/* The busiest host's name only where the line has room for it. */
	for (;;) {
		len = snprintf(line, sizeof(line),
		    "CPU %.1f%%%s  Mem %.1f%% of %s  Load %.2f avg %.2f max",
		    c->ncpu ? c->cpu_weighted / (double)c->ncpu : 0, max,
		    c->mem_total > 0 ? 100.0 * c->mem_used / c->mem_total : 0,
		    total, c->load_sum / (double)c->up, c->load_max);
		if (max[0] != '\0' || len > s->cols)
			break;
		snprintf(max, sizeof(max), " (max %.1f%% %s)", c->cpu_max,
		    c->cpu_max_host);
		if (len + (int)strlen(max) > s->cols)
			break;
	}
	put(s, row, 0, -1, line, TA_NORMAL);
}

static void
draw_header(const struct top_view *v, const struct layout *lay,
    struct top_screen *s, int row)
{
	int col = lay->host_width;
	size_t j;

	paint(s, row, 0, s->cols, TA_HEADER);
	put(s, row, 0, lay->host_width, "HOST",
	    v->sort == TOP_SORT_NAME ? TA_SORTED : TA_HEADER);
	for (j = 0; j < NELEM(columns); j++) {
		if (!lay->shown[j])
			continue;
		put_right(s, row, col + 1, columns[j].width, columns[j].title,
		    columns[j].sort == v->sort && v->sort != TOP_SORT_NAME ?
			TA_SORTED :
			TA_HEADER);
		col += 1 + columns[j].width;
	}
}

static void
draw_row(const struct top_host *h, const struct layout *lay,
    struct top_screen *s, int row)
{
	char text[32];
	enum top_attr a;
	int col = lay->host_width;
	size_t j;

	put_name(s, row, 0, lay->host_width, h->name,
	    h->state == TOP_UP ? TA_NORMAL : TA_DIM);
	for (j = 0; j < NELEM(columns); j++) {
		if (!lay->shown[j])
			continue;
		cell(h, columns[j].id, columns[j].width, text, sizeof(text),
		    &a);
		put_right(s, row, col + 1, columns[j].width, text, a);
		col += 1 + columns[j].width;
	}
}

/* Lines the names of ndown down hosts take packed on cols columns, as
 * draw_down packs them: "DOWN (n):" first. */
static int
packed_lines(const struct top_model *m, const struct top_view *v, int cols,
    size_t ndown)
{
	char head[32];
	int lines = 1, col;
	size_t i;

	col = snprintf(head, sizeof(head), "DOWN (%zu):", ndown);
	for (i = 0; i < m->n; i++) {
		int len = (int)strlen(m->hosts[i].name);

		if (m->hosts[i].state != TOP_DOWN || !matches(&m->hosts[i], v))
			continue;
		if (col + 1 + len > cols && col > 0) {
			lines++;
			col = 0;
		}
		col += 1 + len;
	}
	return lines;
}

/* The down hosts: one a line with why, or, when more are down than
 * lines, their names packed with a count of those left out. */
static void
draw_down(const struct top_model *m, const struct top_view *v,
    struct top_screen *s, int row, int lines, size_t ndown)
{
	char line[512], when[16], head[32];
	int r = row, col = 0, len;
	size_t i, left = ndown;
	struct tm tm;
	time_t t;

	for (i = 0; i < m->n && r < row + lines; i++) {
		const struct top_host *h = &m->hosts[i];

		if (h->state != TOP_DOWN || !matches(h, v))
			continue;
		paint(s, r, 0, s->cols, TA_DOWN);
		if (ndown <= (size_t)lines) {
			t = (time_t)h->since;
			strftime(when, sizeof(when), "%H:%M:%S",
			    localtime_r(&t, &tm));
			snprintf(line, sizeof(line), "DOWN %s since %s  %s",
			    h->name, when, h->error ? h->error : "");
			put(s, r++, 0, -1, line, TA_DOWN);
			continue;
		}
		if (r == row && col == 0) {
			snprintf(head, sizeof(head), "DOWN (%zu):", ndown);
			col = put(s, r, 0, -1, head, TA_DOWN);
		}
		len = (int)strlen(h->name);
		/* Room for this name and, on the last line, the count. */
		if (col + 1 + len > s->cols - (r == row + lines - 1 ? 7 : 0)) {
			if (r == row + lines - 1)
				break;
			paint(s, ++r, 0, s->cols, TA_DOWN);
			col = 0;
		}
		col += put(s, r, col + 1, -1, h->name, TA_DOWN) + 1;
		left--;
	}
	if (left > 0 && ndown > (size_t)lines) {
		snprintf(head, sizeof(head), " +%zu", left);
		put(s, row + lines - 1, col, -1, head, TA_DOWN);
	}
}

static void
draw_status(const struct top_model *m, const struct top_view *v,
    struct top_screen *s, int row)
{
	char line[256];

	paint(s, row, 0, s->cols, TA_STATUS);
	if (v->editing) {
		snprintf(line, sizeof(line),
		    "filter: %s_   (Enter keeps it, Esc clears it)",
		    v->filter);
	} else if (v->help) {
		snprintf(line, sizeof(line), "any key closes the help");
	} else if (m->message != NULL) {
		snprintf(line, sizeof(line), "%s", m->message);
	} else if (s->table_rows == 0) {
		snprintf(line, sizeof(line), "no host%s   ? help  q quit",
		    v->filter[0] ? " matches the filter" : " up");
	} else {
		snprintf(line, sizeof(line),
		    "hosts %zu-%zu of %zu%s   ? help  q quit", s->first + 1,
		    s->first +
			(s->page < s->table_rows - s->first ?
				s->page :
				s->table_rows - s->first),
		    s->table_rows,
		    s->first + s->page < s->table_rows ?
			(s->first > 0 ? "  more above and below (arrows)" :
					"  more below (arrows, PgDn)") :
			(s->first > 0 ? "  more above (arrows, PgUp)" : ""));
	}
	put(s, row, 0, -1, line, TA_STATUS);
}

static const char *const help_text[] = {
	"muster watch: keys",
	"",
	"  P  sort by CPU          M  sort by memory",
	"  L  sort by load         N  sort by host name",
	"  up/down, j/k            scroll a row",
	"  PgUp/PgDn, space        scroll a page",
	"  Home/End, g/G           first/last host",
	"  /  filter by host name (a substring, any case)",
	"  Esc  clear the filter   ?  this help (any key closes it)",
	"  q  quit",
	"",
	"Hosts that are down are listed below the table. Colours",
	"follow the terminal; NO_COLOR turns them off.",
};

static void
draw_help(struct top_screen *s, int row, int lines)
{
	size_t i;

	for (i = 0; i < NELEM(help_text) && (int)i < lines; i++)
		put(s, row + (int)i, 0, -1, help_text[i], TA_NORMAL);
}

int
topview_render(const struct top_model *m, const struct top_view *v,
    struct top_screen *s)
{
	const struct top_host **table;
	struct layout lay;
	struct counts c;
	size_t i, ntable = 0, ndown = 0, last;
	int row = 0, bottom = s->rows, area, band = 0;

	memset(s->text, ' ', (size_t)s->rows * (size_t)s->cols);
	memset(s->attr, TA_NORMAL, (size_t)s->rows * (size_t)s->cols);
	s->table_rows = s->page = s->first = 0;
	if ((table = calloc(m->n ? m->n : 1, sizeof(*table))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < m->n; i++) {
		if (!matches(&m->hosts[i], v))
			continue;
		if (m->hosts[i].state == TOP_DOWN)
			ndown++;
		else
			table[ntable++] = &m->hosts[i];
	}
	topview_order(table, ntable, v->sort);
	s->table_rows = ntable;
	count(m, v, &c);
	/* Title always; summary and status from 5 lines; what is left is
	 * shared by the table and the band of down hosts. */
	if (s->rows >= 1) {
		draw_title(m, v, &c, s);
		row = 1;
	}
	if (s->rows >= 5)
		draw_summary(&c, s, row++);
	if (s->rows >= 3)
		bottom = s->rows - 1;
	area = bottom - row;
	if (ndown > 0 && area > 0) {
		/* A quarter of the area, at least a line: up hosts keep
		 * the rest. */
		band = area / 4 > 0 ? area / 4 : 1;
		if ((size_t)band > ndown)
			band = (int)ndown;
		else if ((size_t)band < ndown &&
		    packed_lines(m, v, s->cols, ndown) < band)
			band = packed_lines(m, v, s->cols, ndown);
		if (band == area && area > 2)
			band = area - 2;
	}
	area -= band;
	if (v->help) {
		draw_help(s, row, area + band);
	} else {
		if (area >= 1) {
			choose_columns(m, s->cols, &lay);
			draw_header(v, &lay, s, row);
			s->page = (size_t)(area - 1);
		}
		last = ntable > s->page ? ntable - s->page : 0;
		s->first = v->scroll < last ? v->scroll : last;
		for (i = 0; i < s->page && s->first + i < ntable; i++)
			draw_row(table[s->first + i], &lay, s,
			    row + 1 + (int)i);
		if (band > 0)
			draw_down(m, v, s, row + area, band, ndown);
	}
	if (bottom < s->rows)
		draw_status(m, v, s, bottom);
	free(table);
	return 0;
}

/* ---- keys ---------------------------------------------------------------------- */

static void
scroll_by(struct top_view *v, const struct top_screen *shown, long delta)
{
	size_t last = shown->table_rows > shown->page ?
	    shown->table_rows - shown->page :
	    0;
	/* From the view's own position: keys typed faster than the
	 * screen is drawn each count. */
	long to = (long)(v->scroll < last ? v->scroll : last) + delta;

	v->scroll = to < 0 ? 0 : (size_t)to > last ? last : (size_t)to;
}

static void
edit_filter(struct top_view *v, int key)
{
	size_t len = strlen(v->filter);

	switch (key) {
	case TOP_KEY_ENTER: v->editing = false; return;
	case TOP_KEY_ESC:
		v->filter[0] = '\0';
		v->editing = false;
		break;
	case TOP_KEY_BACKSPACE:
		if (len > 0)
			v->filter[len - 1] = '\0';
		break;
	default:
		if (key < 0x20 || key >= 0x7f || len + 1 >= sizeof(v->filter))
			return;
		v->filter[len] = (char)key;
		v->filter[len + 1] = '\0';
	}
	v->scroll = 0;
}

/* As top's. */
static const struct {
	int key;
	enum top_sort sort;
} sort_keys[] = {
	{ 'P', TOP_SORT_CPU },
	{ 'M', TOP_SORT_MEM },
	{ 'N', TOP_SORT_NAME },
	{ 'L', TOP_SORT_LOAD },
};

bool
topview_key(struct top_view *v, int key, const struct top_screen *shown)
{
	size_t i;
	long page = shown->page > 1 ? (long)shown->page - 1 : 1;

	if (v->editing) {
		edit_filter(v, key);
		return false;
	}
	if (v->help && key != 'q') {
		v->help = false;
		return false;
	}
	for (i = 0; i < NELEM(sort_keys); i++)
		if (key == sort_keys[i].key) {
			v->sort = sort_keys[i].sort;
			v->scroll = 0;
			return false;
		}
	switch (key) {
	case 'q':
	case 'Q': return true;
	case '/': v->editing = true; break;
	case TOP_KEY_ESC:
		v->filter[0] = '\0';
		v->scroll = 0;
		break;
	case '?':
	case 'h': v->help = true; break;
	case TOP_KEY_UP:
	case 'k': scroll_by(v, shown, -1); break;
	case TOP_KEY_DOWN:
	case 'j': scroll_by(v, shown, 1); break;
	case TOP_KEY_PPAGE:
	case 'b': scroll_by(v, shown, -page); break;
	case TOP_KEY_NPAGE:
	case ' ': scroll_by(v, shown, page); break;
	case TOP_KEY_HOME:
	case 'g': v->scroll = 0; break;
	case TOP_KEY_END:
	case 'G': scroll_by(v, shown, (long)shown->table_rows); break;
	default: break;
	}
	return false;
}
