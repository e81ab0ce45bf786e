/*
 * The ncurses shell around topview: owns the terminal while `muster watch`
 * shows its live view. It takes the alternate screen, reads keys from the
 * event loop (stdin readable), follows the terminal's size (SIGWINCH),
 * paints topview's grid in colour when the terminal has colours and
 * NO_COLOR is not set, and gives the terminal back as it found it on
 * tui_end, on exit() (a second ^C) and after SIGINT/SIGTERM (the fleet's
 * handlers end the loop, the caller then calls tui_end).
 *
 * While the view is up, stderr (log lines, alerts) goes to a bounded
 * buffer instead of the screen: its newest line is shown on the status
 * line and its last lines are written to the real stderr by tui_end.
 *
 * Only for a terminal: tui_start refuses when stdout is not one, so
 * curses never writes to a pipe.
 */
#ifndef MUSTER_TUI_H
#define MUSTER_TUI_H

#include <ev.h>

#include "topview.h"

struct tui;

struct tui_ops {
	/* Fill m with the fleet as it is now; valid until the next call. */
	void (*model)(void *arg, struct top_model *m);
	/* The operator asked to quit (q). */
	void (*quit)(void *arg);
};

/*
 * Take the terminal. sort is the first sort order. On failure (not a
 * terminal, an unknown TERM) nothing is changed and err says why.
 */
int tui_start(struct ev_loop *loop, enum top_sort sort,
    const struct tui_ops *ops, void *arg, struct tui **out, char *err,
    size_t errlen);
/* Paint the view from a fresh model. */
void tui_draw(struct tui *t);
/* Give the terminal back and print what went to stderr meanwhile; the
 * view draws no more. For the end of the watch, before its hosts close. */
void tui_leave(struct tui *t);
/* tui_leave, and free t. */
void tui_end(struct tui *t);

#endif
