/*
 * The live view of `muster watch` laid out as text: a pure function of the
 * fleet's state (the model), the terminal's size and what the operator
 * chose (sort, filter, scroll, help) into a grid of characters and
 * attributes. No terminal is touched here: tui.c paints the grid with
 * ncurses, and the unit tests read it at any size.
 *
 * Layout, top to bottom: a title line (clock, hosts up and down, sort,
 * filter); a summary line (fleet CPU, memory, load); the column header;
 * one row per host that is up or connecting, scrollable; a band of the
 * hosts that are down, so they stay in sight without pushing up hosts off
 * the screen; a status line (scroll position, keys, the filter being
 * typed, or the latest message). Lines are dropped from the bottom of that
 * list of priorities as the terminal shrinks, and columns are dropped, the
 * least important first, as it narrows. Nothing is ever written beyond the
 * grid: every character a host or the operator supplies is shown as
 * printable ASCII ('?' for anything else), one cell each.
 */
#ifndef MUSTER_TOPVIEW_H
#define MUSTER_TOPVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum top_state { TOP_CONNECTING, TOP_UP, TOP_DOWN };

/* One host as the view sees it; the figures count only when up. */
struct top_host {
	const char *name;
	enum top_state state;
	double since;	   /* unix seconds it went up or down; 0: unknown */
	const char *error; /* why it is down, or NULL */
	double cpu_pct, iowait_pct;
	double load1, load5, load15;
	double mem_pct, swap_pct, disk_pct; /* disk: the fullest mount */
	double rx_bytes_per_s, tx_bytes_per_s;
	double uptime_s;
	uint64_t mem_used_bytes, mem_total_bytes;
	unsigned ncpu, procs;
};

struct top_model {
	const struct top_host *hosts;
	size_t n;
	double now;	     /* unix seconds, for the clock */
	double interval;     /* seconds between samples */
	const char *message; /* the newest message (an alert), or NULL */
};

/* Sort keys, as top's: P, M, N, L, plus disk and net for --sort. */
enum top_sort {
	TOP_SORT_NAME,
	TOP_SORT_CPU,
	TOP_SORT_MEM,
	TOP_SORT_LOAD,
	TOP_SORT_DISK,
	TOP_SORT_NET,
};

#define TOP_FILTER_MAX 64

struct top_view {
	enum top_sort sort;
	char filter[TOP_FILTER_MAX]; /* host name substring, any case */
	bool editing;		     /* the filter is being typed */
	bool help;		     /* the key help replaces the table */
	size_t scroll;		     /* first table row shown */
	bool color;		     /* tui.c's business; kept with the view */
};

/* What a cell shows; tui.c maps each to colours or to bold/reverse. */
enum top_attr {
	TA_NORMAL,
	TA_TITLE,
	TA_HEADER,
	TA_SORTED, /* the header of the sort column */
	TA_UP,
	TA_DIM, /* a host still connecting */
	TA_WARN,
	TA_CRIT,
	TA_DOWN,
	TA_STATUS,
};

struct top_screen {
	int rows, cols;
	char *text;	     /* rows * cols bytes, printable ASCII */
	unsigned char *attr; /* rows * cols enum top_attr */
	/* What the render found, for the keys (topview_key): */
	size_t table_rows; /* hosts in the table after the filter */
	size_t page;	   /* table rows that fit on the screen */
	size_t first;	   /* the scroll position, clamped */
};

/* Sizes below 0 count as 0. MERR_NOMEM. */
int topview_screen_init(struct top_screen *s, int rows, int cols);
void topview_screen_free(struct top_screen *s);

/* Lay the model out on s (its size is the terminal's). MERR_NOMEM. */
int topview_render(const struct top_model *m, const struct top_view *v,
    struct top_screen *s);

/* Keys other than characters, as the ncurses shell passes them. */
enum {
	TOP_KEY_UP = 0x100,
	TOP_KEY_DOWN,
	TOP_KEY_PPAGE,
	TOP_KEY_NPAGE,
	TOP_KEY_HOME,
	TOP_KEY_END,
	TOP_KEY_BACKSPACE,
	TOP_KEY_ENTER,
	TOP_KEY_ESC,
};

/*
 * Apply one key to the view, given the screen it was pressed on (for the
 * page size and the last row). True when the key asks to quit.
 */
bool topview_key(struct top_view *v, int key, const struct top_screen *shown);

/* Sort v[0..n) as the view does: the key's highest first (a host with
 * no figures last), then by name, numbers in names in numeric order. */
void topview_order(const struct top_host **v, size_t n, enum top_sort sort);

/* The --sort names (host cpu load mem disk net); -1 for another. */
int topview_sort_parse(const char *name);

#endif
