/* The live view's layout (controller/watch/topview.c) at many terminal
 * sizes: what fits, what is dropped, the order, the filter, scrolling,
 * the band of down hosts and the keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "topview.h"

#define NHOSTS 35

static struct top_host hosts[NHOSTS];
static char names[NHOSTS][32];

/* 30 hosts up (web1..web15, db1..db15), 3 down, 2 connecting. CPU rises
 * with the index, memory falls: the two sorts differ. */
static struct top_model
fleet(void)
{
	struct top_model m = { hosts, NHOSTS, 1700000000, 5, NULL };
	size_t i;

	memset(hosts, 0, sizeof(hosts));
	for (i = 0; i < NHOSTS; i++) {
		struct top_host *h = &hosts[i];

		if (i < 30)
			snprintf(names[i], sizeof(names[i]), "%s%zu",
			    i % 2 ? "db" : "web", i / 2 + 1);
		else
			snprintf(names[i], sizeof(names[i]), "%s%zu",
			    i < 33 ? "gone" : "new", i);
		h->name = names[i];
		h->state = i < 30 ? TOP_UP :
		    i < 33	  ? TOP_DOWN :
				    TOP_CONNECTING;
		h->since = 1700000000 - 60;
		h->error = i < 33 && i >= 30 ? "connection refused" : NULL;
		h->cpu_pct = (double)i * 3;
		h->mem_pct = 95 - (double)i * 3;
		h->load1 = (double)(i % 7);
		h->disk_pct = 50;
		h->ncpu = 4;
		h->procs = 100 + (unsigned)i;
		h->mem_total_bytes = 8ULL << 30;
		h->mem_used_bytes = (uint64_t)(h->mem_pct / 100 *
		    (8ULL << 30));
		h->uptime_s = 86400 * 3;
	}
	return m;
}

/* Row r as a string, trailing blanks cut. */
static const char *
line(const struct top_screen *s, int r)
{
	static char buf[1024];
	int n = s->cols;

	assert_true(n < (int)sizeof(buf));
	memcpy(buf, s->text + (size_t)r * (size_t)s->cols, (size_t)n);
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

/* The first row holding text, or -1. */
static int
find(const struct top_screen *s, const char *text)
{
	int r;

	for (r = 0; r < s->rows; r++)
		if (strstr(line(s, r), text) != NULL)
			return r;
	return -1;
}

static void
render(const struct top_model *m, const struct top_view *v,
    struct top_screen *s, int rows, int cols)
{
	size_t i;

	assert_int_equal(0, topview_screen_init(s, rows, cols));
	assert_int_equal(0, topview_render(m, v, s));
	for (i = 0; i < (size_t)s->rows * (size_t)s->cols; i++)
		assert_true(s->text[i] >= 0x20 && s->text[i] < 0x7f);
}

/* Every size, down to nothing, renders without writing past the grid
 * (ASan watches the buffers) and with the title first. */
static void
test_sizes(void **state)
{
	static const int sizes[][2] = { { 24, 80 }, { 50, 200 }, { 10, 40 },
		{ 5, 20 }, { 3, 10 }, { 1, 1 }, { 0, 0 }, { 2, 300 },
		{ 100, 5 }, { 4, 80 }, { 6, 80 }, { 1000, 1000 } };
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		render(&m, &v, &s, sizes[i][0], sizes[i][1]);
		if (s.rows > 0 && s.cols >= 12)
			assert_int_equal(0,
			    strncmp(line(&s, 0), "muster watch", 12));
		topview_screen_free(&s);
	}
}

static void
test_80x24(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;
	int hdr, r;

	render(&m, &v, &s, 24, 80);
	assert_non_null(strstr(line(&s, 0), "30/35 up  3 down"));
	assert_non_null(strstr(line(&s, 1), "CPU "));
	assert_non_null(strstr(line(&s, 1), "Mem "));
	assert_non_null(strstr(line(&s, 1), "Load "));
	hdr = find(&s, "HOST");
	assert_int_equal(2, hdr);
	assert_non_null(strstr(line(&s, hdr), "CPU%"));
	assert_non_null(strstr(line(&s, hdr), "MEM%"));
	assert_non_null(strstr(line(&s, hdr), "LOAD1"));
	/* 3 down hosts: a band of 3 lines above the status line; the 32
	 * others (2 connecting) scroll in what is left. */
	for (r = 20; r < 23; r++)
		assert_int_equal(0, strncmp(line(&s, r), "DOWN gone", 9));
	assert_non_null(strstr(line(&s, 20), "connection refused"));
	assert_int_equal(32, s.table_rows);
	assert_int_equal(17, s.page);
	assert_string_equal("hosts 1-17 of 32  more below (arrows, PgDn)   "
			    "? help  q quit",
	    line(&s, 23));
	/* By name, numbers in order: db1 db2 ... db10. */
	assert_int_equal(0, strncmp(line(&s, 3), "db1 ", 4));
	assert_int_equal(0, strncmp(line(&s, 4), "db2 ", 4));
	topview_screen_free(&s);
}

/* Columns go, least important first, as the terminal narrows. */
static void
test_columns(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;
	const char *h;

	render(&m, &v, &s, 50, 200);
	h = line(&s, find(&s, "HOST"));
	assert_non_null(strstr(h, "UPTIME"));
	assert_non_null(strstr(h, "LOAD15"));
	assert_non_null(strstr(h, "NET-TX/s"));
	assert_true(find(&s, "db15 ") >= 0);
	/* 32 rows fit at 50 lines: nothing to scroll, no indicator. */
	assert_true(s.page >= 32);
	assert_null(strstr(line(&s, 49), "more"));
	topview_screen_free(&s);

	render(&m, &v, &s, 24, 40);
	h = line(&s, find(&s, "HOST"));
	assert_non_null(strstr(h, "CPU%"));
	assert_non_null(strstr(h, "MEM%"));
	assert_non_null(strstr(h, "LOAD1"));
	assert_null(strstr(h, "NET-RX"));
	assert_null(strstr(h, "PROCS"));
	topview_screen_free(&s);

	render(&m, &v, &s, 24, 12);
	h = line(&s, find(&s, "HOST"));
	assert_null(strstr(h, "CPU%"));
	topview_screen_free(&s);
}

/* Many hosts down: their names packed into a quarter of the screen, the
 * rest counted; up hosts keep the table. */
static void
test_down_band(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;
	int first;
	size_t i;

	for (i = 0; i < 25; i++)
		hosts[i].state = TOP_DOWN;
	render(&m, &v, &s, 24, 80);
	first = find(&s, "DOWN (28):");
	/* 21 lines between the summary and the status: up to 5 for the
	 * band, of which the 28 names take 2. */
	assert_int_equal(21, first);
	assert_int_equal(22, find(&s, "gone32"));
	assert_int_equal(-1, find(&s, " +"));
	assert_int_equal(7, s.table_rows);
	assert_int_equal(18, s.page);
	topview_screen_free(&s);
	/* On 3 lines the band takes no more than one, and counts what it
	 * could not show. */
	render(&m, &v, &s, 5, 40);
	assert_int_equal(3, find(&s, "DOWN (28):"));
	assert_int_equal(2, find(&s, "HOST"));
	assert_non_null(strstr(line(&s, 3), " +2"));
	assert_true(strlen(line(&s, 3)) <= 40);
	topview_screen_free(&s);
}

static double
column(const struct top_screen *s, int r, int nth)
{
	char copy[1024], *tok, *save = NULL;
	int i;

	snprintf(copy, sizeof(copy), "%s", line(s, r));
	tok = strtok_r(copy, " ", &save);
	for (i = 0; i < nth && tok != NULL; i++)
		tok = strtok_r(NULL, " ", &save);
	assert_non_null(tok);
	return tok != NULL ? strtod(tok, NULL) : -1;
}

static void
test_sort(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { .sort = TOP_SORT_CPU };
	struct top_screen s;
	int r;

	/* 80 columns: HOST STATE CPU% LOAD1 MEM% ... */
	render(&m, &v, &s, 40, 80);
	assert_non_null(strstr(line(&s, 0), "sort cpu"));
	assert_int_equal(0, strncmp(line(&s, 3), "db15 ", 5));
	for (r = 4; r < 3 + 30; r++)
		assert_true(column(&s, r, 2) <= column(&s, r - 1, 2));
	/* Connecting hosts have no figures: last. */
	assert_int_equal(0, strncmp(line(&s, 33), "new33", 5));
	topview_screen_free(&s);

	v.sort = TOP_SORT_MEM;
	render(&m, &v, &s, 40, 80);
	assert_int_equal(0, strncmp(line(&s, 3), "web1 ", 5));
	for (r = 4; r < 3 + 30; r++)
		assert_true(column(&s, r, 4) <= column(&s, r - 1, 4));
	topview_screen_free(&s);
}

static void
test_filter(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { .filter = "WEB1" };
	struct top_screen s;

	render(&m, &v, &s, 24, 80);
	/* web1, web10 .. web15 */
	assert_int_equal(7, s.table_rows);
	assert_non_null(strstr(line(&s, 0), "filter 'WEB1': 7 of 35"));
	assert_int_equal(-1, find(&s, "db1 ")); /* 2 filter, 1 summary */
	assert_int_equal(-1, find(&s, "db2 "));
	assert_int_equal(-1, find(&s, "DOWN"));
	topview_screen_free(&s);
	snprintf(v.filter, sizeof(v.filter), "gone31");
	render(&m, &v, &s, 24, 80);
	assert_int_equal(0, s.table_rows);
	assert_true(find(&s, "DOWN gone31") > 0);
	assert_int_equal(-1, find(&s, "gone30"));
	topview_screen_free(&s);
}

static void
test_keys(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;

	render(&m, &v, &s, 24, 80);
	assert_false(topview_key(&v, 'j', &s));
	assert_int_equal(1, v.scroll);
	assert_false(topview_key(&v, TOP_KEY_END, &s));
	assert_int_equal(32 - 17, v.scroll);
	topview_screen_free(&s);
	render(&m, &v, &s, 24, 80);
	assert_string_equal("hosts 16-32 of 32  more above (arrows, PgUp)   "
			    "? help  q quit",
	    line(&s, 23));
	assert_false(topview_key(&v, TOP_KEY_DOWN, &s));
	assert_int_equal(32 - 17, v.scroll); /* the last page already */
	assert_false(topview_key(&v, TOP_KEY_PPAGE, &s));
	assert_int_equal(0, v.scroll); /* a page is 16: no further up */
	assert_false(topview_key(&v, TOP_KEY_NPAGE, &s));
	assert_int_equal(15, v.scroll); /* not past the last page */
	assert_false(topview_key(&v, 'g', &s));
	assert_false(topview_key(&v, 'k', &s));
	assert_int_equal(0, v.scroll);
	/* Sorts as top's keys. */
	assert_false(topview_key(&v, 'P', &s));
	assert_int_equal(TOP_SORT_CPU, v.sort);
	assert_false(topview_key(&v, 'M', &s));
	assert_int_equal(TOP_SORT_MEM, v.sort);
	assert_false(topview_key(&v, 'L', &s));
	assert_int_equal(TOP_SORT_LOAD, v.sort);
	assert_false(topview_key(&v, 'N', &s));
	assert_int_equal(TOP_SORT_NAME, v.sort);
	/* The filter: typed, kept with Enter, cleared with Esc; keys
	 * typed into it are not commands. */
	assert_false(topview_key(&v, '/', &s));
	assert_true(v.editing);
	assert_false(topview_key(&v, 'd', &s));
	assert_false(topview_key(&v, 'q', &s));
	assert_false(topview_key(&v, TOP_KEY_BACKSPACE, &s));
	assert_false(topview_key(&v, 'b', &s));
	assert_false(topview_key(&v, 0x07, &s)); /* not printable */
	assert_string_equal("db", v.filter);
	assert_false(topview_key(&v, TOP_KEY_ENTER, &s));
	assert_false(v.editing);
	assert_string_equal("db", v.filter);
	assert_false(topview_key(&v, TOP_KEY_ESC, &s));
	assert_string_equal("", v.filter);
	/* Help: any key closes it, q still quits. */
	assert_false(topview_key(&v, '?', &s));
	assert_true(v.help);
	topview_screen_free(&s);
	render(&m, &v, &s, 24, 80);
	assert_true(find(&s, "sort by CPU") > 0);
	assert_int_equal(-1, find(&s, "HOST"));
	assert_false(topview_key(&v, 'x', &s));
	assert_false(v.help);
	assert_true(topview_key(&v, 'q', &s));
	topview_screen_free(&s);
}

/* A name with terminal escapes or bytes beyond ASCII is shown a cell a
 * byte, as '?'; a long one is cut in the middle to its column. */
static void
test_hostile_names(void **state)
{
	struct top_model m = fleet();
	struct top_view v = { 0 };
	struct top_screen s;
	char longname[200];

	memset(longname, 'a', sizeof(longname) - 2);
	longname[sizeof(longname) - 2] = 'z';
	longname[sizeof(longname) - 1] = '\0';
	hosts[0].name = "\033[2Jweb\xc3\xa9";
	hosts[2].name = longname;
	hosts[31].error = "bad\r\n\033]0;title\a";
	render(&m, &v, &s, 40, 80);
	assert_true(find(&s, "?[2Jweb??") > 0);
	assert_true(find(&s, "aaa~aaa") > 0);
	assert_true(find(&s, "a~a") > 0 && find(&s, "az ") > 0);
	assert_true(find(&s, "bad???]0;title?") > 0);
	topview_screen_free(&s);
}

static void
test_sort_names(void **state)
{
	assert_int_equal(TOP_SORT_NAME, topview_sort_parse("host"));
	assert_int_equal(TOP_SORT_CPU, topview_sort_parse("cpu"));
	assert_int_equal(TOP_SORT_NET, topview_sort_parse("net"));
	assert_int_equal(-1, topview_sort_parse("CPU"));
	assert_int_equal(-1, topview_sort_parse(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_80x24),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_down_band),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_hostile_names),
		cmocka_unit_test(test_sort_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
