#include "tui.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <curses.h>

#include "err.h"

/* stderr while the view is up: read back from here, cut when larger. */
#define CAPTURE_MAX (64 * 1024)
#define REPLAY_LINES 20
#define LINE_MAX_SHOWN 256

struct tui {
	struct ev_loop *loop;
	const struct tui_ops *ops;
	void *arg;
	SCREEN *scr;
	struct top_view view;
	struct top_screen grid;
	ev_io keys;
	ev_signal winch;
	bool keys_on;
	bool left; /* the terminal is given back already */
	/* stderr capture: the real stderr, the memfd in its place, how far
	 * it was read, and the newest lines (a ring). */
	int real_stderr, capture;
	off_t read_to;
	char lines[REPLAY_LINES][LINE_MAX_SHOWN];
	size_t nlines, next_line;
	char partial[LINE_MAX_SHOWN];
};

/* For exit() while the view is up (a second ^C exits from the fleet's
 * signal handler): the terminal must not be left in curses mode. */
static struct tui *active;
static bool atexit_set;

static void
restore_stderr(struct tui *t)
{
	if (t->real_stderr < 0)
		return;
	fflush(stderr);
	dup2(t->real_stderr, STDERR_FILENO);
	close(t->real_stderr);
	t->real_stderr = -1;
}

static void
tui_atexit(void)
{
	if (active == NULL)
		return;
	endwin();
	restore_stderr(active);
	active = NULL;
}

/* ---- stderr ------------------------------------------------------------------- */

static void
capture_line(struct tui *t, const char *line)
{
	if (line[0] == '\0')
		return;
	snprintf(t->lines[t->next_line], LINE_MAX_SHOWN, "%s", line);
	t->next_line = (t->next_line + 1) % REPLAY_LINES;
	if (t->nlines < REPLAY_LINES)
		t->nlines++;
}

/* Take in what was written to stderr since the last look. */
static void
capture_drain(struct tui *t)
{
	char chunk[4096], *nl, *p;
	size_t plen;
	ssize_t n;

	if (t->capture < 0)
		return;
	fflush(stderr);
	while ((n = pread(t->capture, chunk, sizeof(chunk) - 1, t->read_to)) >
	    0) {
		t->read_to += n;
		chunk[n] = '\0';
		for (p = chunk; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			*nl = '\0';
			plen = strlen(t->partial);
			snprintf(t->partial + plen, sizeof(t->partial) - plen,
			    "%s", p);
			capture_line(t, t->partial);
			t->partial[0] = '\0';
		}
		plen = strlen(t->partial);
		snprintf(t->partial + plen, sizeof(t->partial) - plen, "%s",
		    p);
	}
	/* Bounded however much is logged: stderr is opened O_APPEND, so
	 * writes after the cut land at the new end. */
	if (t->read_to > CAPTURE_MAX && ftruncate(t->capture, 0) == 0)
		t->read_to = 0;
}

static void
capture_start(struct tui *t)
{
	int fd;

	t->real_stderr = t->capture = -1;
	fflush(stderr);
	if ((fd = memfd_create("muster-watch-stderr", MFD_CLOEXEC)) < 0)
		return; /* messages then land on the view until redrawn */
	if (fcntl(fd, F_SETFL, O_APPEND) != 0 ||
	    (t->real_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		if (t->real_stderr >= 0)
			close(t->real_stderr);
		t->real_stderr = -1;
		close(fd);
		return;
	}
	t->capture = fd;
}

static void
capture_end(struct tui *t)
{
	size_t i;

	capture_drain(t);
	capture_line(t, t->partial);
	restore_stderr(t);
	if (t->capture >= 0)
		close(t->capture);
	t->capture = -1;
	for (i = 0; i < t->nlines; i++)
		fprintf(stderr, "%s\n",
		    t->lines[(t->next_line + REPLAY_LINES - t->nlines + i) %
			REPLAY_LINES]);
}

/* ---- painting ------------------------------------------------------------------ */

enum { PAIR_TITLE = 1, PAIR_UP, PAIR_WARN, PAIR_CRIT, PAIR_DOWN, PAIR_DIM };

static chtype
attr_of(const struct tui *t, enum top_attr a)
{
	bool c = t->view.color;

	switch (a) {
	case TA_TITLE: return A_BOLD | (c ? COLOR_PAIR(PAIR_TITLE) : 0);
	case TA_HEADER: return A_REVERSE;
	case TA_SORTED: return A_REVERSE | A_BOLD | A_UNDERLINE;
	case TA_UP: return c ? COLOR_PAIR(PAIR_UP) : A_NORMAL;
	case TA_DIM: return c ? COLOR_PAIR(PAIR_DIM) : A_DIM;
	case TA_WARN: return c ? COLOR_PAIR(PAIR_WARN) : A_BOLD;
	case TA_CRIT: return c ? COLOR_PAIR(PAIR_CRIT) | A_BOLD : A_BOLD;
	case TA_DOWN: return A_BOLD | (c ? COLOR_PAIR(PAIR_DOWN) : 0);
	case TA_STATUS: return A_REVERSE;
	case TA_NORMAL: break;
	}
	return A_NORMAL;
}

void
tui_draw(struct tui *t)
{
	struct top_model m;
	int row, col, run;
	size_t at;

	if (t->left)
		return;
	capture_drain(t);
	t->ops->model(t->arg, &m);
	if (t->nlines > 0 && m.message == NULL)
		m.message =
		    t->lines[(t->next_line + REPLAY_LINES - 1) % REPLAY_LINES];
	if (t->grid.rows != LINES || t->grid.cols != COLS) {
		topview_screen_free(&t->grid);
		if (topview_screen_init(&t->grid, LINES, COLS) != 0)
			return;
	}
	if (topview_render(&m, &t->view, &t->grid) != 0)
		return;
	t->view.scroll = t->grid.first;
	for (row = 0; row < t->grid.rows; row++)
		for (col = 0; col < t->grid.cols; col += run) {
			at = (size_t)row * (size_t)t->grid.cols + (size_t)col;
			for (run = 1; col + run < t->grid.cols &&
			     t->grid.attr[at + run] == t->grid.attr[at];
			     run++)
				;
			attrset(attr_of(t, t->grid.attr[at]));
			/* The bottom right cell makes curses report an error
			 * (the cursor cannot move past it): drawn all the
			 * same. */
			mvaddnstr(row, col, t->grid.text + at, run);
		}
	attrset(A_NORMAL);
	refresh();
}

/* ---- input ------------------------------------------------------------------ */

static int
map_key(int ch)
{
	switch (ch) {
	case KEY_UP: return TOP_KEY_UP;
	case KEY_DOWN: return TOP_KEY_DOWN;
	case KEY_PPAGE: return TOP_KEY_PPAGE;
	case KEY_NPAGE: return TOP_KEY_NPAGE;
	case KEY_HOME: return TOP_KEY_HOME;
	case KEY_END: return TOP_KEY_END;
	case KEY_BACKSPACE:
	case 0x7f:
	case '\b': return TOP_KEY_BACKSPACE;
	case KEY_ENTER:
	case '\r':
	case '\n': return TOP_KEY_ENTER;
	case 0x1b: return TOP_KEY_ESC;
	}
	return ch;
}

static void
resize(struct tui *t)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
	    ws.ws_col > 0)
		resizeterm(ws.ws_row, ws.ws_col);
	clearok(curscr, TRUE);
}

static void
tui_on_keys(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tui *t = w->data;
	bool quit = false;
	int ch;

	while (!quit && (ch = getch()) != ERR) {
		/* Curses has taken the new size already (resize() queues
		 * this too): only the repaint below is left to do. */
		if (ch == KEY_RESIZE)
			continue;
		if (ch == ('L' & 0x1f)) { /* ^L: repaint all */
			clearok(curscr, TRUE);
			continue;
		}
		quit = topview_key(&t->view, map_key(ch), &t->grid);
	}
	if (quit) {
		/* The hosts take a while to close: the terminal is the
		 * operator's again at once. */
		tui_leave(t);
		t->ops->quit(t->arg);
		return;
	}
	tui_draw(t);
}

static void
tui_on_winch(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct tui *t = w->data;

	resize(t);
	tui_draw(t);
}

int
tui_start(struct ev_loop *loop, enum top_sort sort, const struct tui_ops *ops,
    void *arg, struct tui **out, char *err, size_t errlen)
{
	const char *term = getenv("TERM"), *nc = getenv("NO_COLOR");
	struct tui *t;
	char *cup;

	*out = NULL;
	if (!isatty(STDOUT_FILENO)) {
		snprintf(err, errlen, "stdout is not a terminal");
		return MERR_INVAL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "%s", merr_str(MERR_NOMEM));
		return MERR_NOMEM;
	}
	t->loop = loop;
	t->ops = ops;
	t->arg = arg;
	t->view.sort = sort;
	t->real_stderr = t->capture = -1;
	/* SIGWINCH through the loop: set before curses starts, so that
	 * ncurses leaves the signal to us rather than installing its own
	 * handler, which could not wake the loop. */
	ev_signal_init(&t->winch, tui_on_winch, SIGWINCH);
	t->winch.data = t;
	ev_signal_start(loop, &t->winch);
	t->scr = newterm(NULL, stdout, stdin);
	if (t->scr == NULL) {
		snprintf(err, errlen, "cannot drive terminal type '%s'",
		    term != NULL ? term : "(TERM unset)");
		ev_signal_stop(loop, &t->winch);
		free(t);
		return MERR_INVAL;
	}
	/* A terminal that cannot move its cursor ("dumb", an editor's
	 * shell) would get a screenful of lines run together. */
	/* (char *)-1 would mean "cup" is no string capability: it is. */
	cup = tigetstr("cup");
	if (cup == NULL) {
		endwin();
		delscreen(t->scr);
		snprintf(err, errlen,
		    "terminal type '%s' cannot move the cursor",
		    term != NULL ? term : "(TERM unset)");
		ev_signal_stop(loop, &t->winch);
		free(t);
		return MERR_INVAL;
	}
	active = t;
	if (!atexit_set)
		atexit_set = atexit(tui_atexit) == 0;
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	/* Esc clears the filter: wait no longer for an escape sequence
	 * than a terminal takes to send one. */
	set_escdelay(25);
	curs_set(0);
	if (has_colors() && (nc == NULL || nc[0] == '\0') &&
	    start_color() == OK) {
		use_default_colors();
		init_pair(PAIR_TITLE, COLOR_CYAN, -1);
		init_pair(PAIR_UP, COLOR_GREEN, -1);
		init_pair(PAIR_WARN, COLOR_YELLOW, -1);
		init_pair(PAIR_CRIT, COLOR_RED, -1);
		init_pair(PAIR_DOWN, COLOR_RED, -1);
		init_pair(PAIR_DIM, COLOR_BLUE, -1);
		t->view.color = true;
	}
	/* Keys only from a terminal: stdin from a file or /dev/null is
	 * not the operator's keyboard (^C still ends the watch). */
	if (isatty(STDIN_FILENO)) {
		ev_io_init(&t->keys, tui_on_keys, STDIN_FILENO, EV_READ);
		t->keys.data = t;
		ev_io_start(loop, &t->keys);
		t->keys_on = true;
	}
	capture_start(t);
	*out = t;
	tui_draw(t);
	return 0;
}

void
tui_leave(struct tui *t)
{
	if (t == NULL || t->left)
		return;
	t->left = true;
	if (t->keys_on)
		ev_io_stop(t->loop, &t->keys);
	t->keys_on = false;
	ev_signal_stop(t->loop, &t->winch);
	endwin();
	delscreen(t->scr);
	active = NULL;
	capture_end(t);
}

void
tui_end(struct tui *t)
{
	if (t == NULL)
		return;
	tui_leave(t);
	topview_screen_free(&t->grid);
	free(t);
}
