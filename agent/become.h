/*
 * Privilege escalation for an Exec with become_user: the command line
 * given to sudo, and the filter that recognises that the escalation
 * worked.
 *
 * sudo runs a small wrapper script as the target user that first prints a
 * per-exec random marker line on stdout and on stderr, then executes the
 * command. Whatever comes before the marker is sudo's (an error, a
 * lecture); a command that ends with no marker on stdout never ran, and
 * what sudo wrote is the reason. The marker lines are removed from the
 * output. No prompt is ever parsed: sudo runs with -n, or with a password
 * with -S -p '' (read from stdin, empty prompt).
 *
 * With a password the agent writes "PASSWORD\n" and then a second random
 * line (the stdin marker) to the command's stdin. The wrapper reads and
 * drops lines up to the stdin marker before it executes the command, so
 * a password that sudo did not need (NOPASSWD, cached credentials) never
 * reaches the command, and the command's own stdin starts after it.
 */
#ifndef MUSTER_AGENT_BECOME_H
#define MUSTER_AGENT_BECOME_H

#include <stddef.h>
#include <stdint.h>

#include "muster.pb-c.h"

/* "MUSTER-BECOME-" and 32 hex digits. */
#define BECOME_MARKER_LEN 46
/* Bytes before the marker kept back: sudo's messages are short. More
 * than this is passed on as output and no longer part of the reason. */
#define BECOME_HELD_MAX 1024
#define BECOME_PASSWORD_MAX 1024
/* Empty lines after the password: a wrong one then ends sudo's tries
 * (3 by default) instead of leaving it waiting on stdin. */
#define BECOME_PAD_LINES 3

/* A fresh random marker (NUL-terminated, BECOME_MARKER_LEN chars). */
int become_marker(char out[BECOME_MARKER_LEN + 1]);

/*
 * argv for running ex as ex->become_user through sudo:
 *   sudo -n|-S -p '' -u USER -- /bin/sh -c WRAPPER MARKER STDIN_MARKER CMD...
 * CMD is ex->argv, or /bin/sh -c ex->shell_command. No user data is ever
 * put into a shell string. stdin_marker is "" without a password. tty:
 * the marker is printed once (stdout and stderr are the same terminal).
 * MERR_INVAL for a NUL byte or a user name starting with '-'.
 */
int become_argv(const Muster__Exec *ex, const char *marker,
    const char *stdin_marker, int tty, char ***out);

/* What the agent writes to stdin first: PASSWORD \n, empty lines, the
 * stdin marker \n. The caller wipes it. */
int become_preamble(const ProtobufCBinaryData *password,
    const char *stdin_marker, uint8_t *out, size_t outlen, size_t *len);

/*
 * Finds the marker line in one output stream and removes it. Until the
 * marker, bytes are held back (up to BECOME_HELD_MAX); once it is seen
 * they are passed on, the marker line (with "\n" or "\r\n") dropped, and
 * everything after passes unchanged.
 */
struct become_filter {
	char marker[BECOME_MARKER_LEN + 1];
	size_t mlen;
	uint8_t fail[BECOME_MARKER_LEN + 1]; /* KMP failure function */
	size_t matched;			     /* marker bytes matched so far */
	int state; /* searching, eating the newline, passing */
	int seen_cr;
	uint8_t held[BECOME_HELD_MAX];
	size_t nheld;
	int spilled; /* held bytes were passed on to make room */
};

typedef void (*become_emit_fn)(void *arg, const uint8_t *p, size_t n);

void become_filter_init(struct become_filter *f, const char *marker);
/* Feed n bytes; what passes is given to emit, in order, in one or more
 * calls. Never more than held + n bytes in total. */
void become_filter_feed(struct become_filter *f, const uint8_t *p, size_t n,
    become_emit_fn emit, void *arg);
int become_filter_found(const struct become_filter *f);
/* Bytes held back (not passed on), e.g. sudo's error. */
size_t become_filter_held(const struct become_filter *f, const uint8_t **p);

#endif
