/* Secrets typed by the operator: read from the controlling terminal with
 * echo off, never from a pipe that might carry data. */
#ifndef MUSTER_ASKPASS_H
#define MUSTER_ASKPASS_H

#include <stddef.h>

/*
 * Write prompt to /dev/tty and read one line into buf (without the
 * newline), echo off. The terminal is restored even when SIGINT, SIGTERM,
 * SIGHUP or SIGQUIT arrive meanwhile; the signal is then re-raised.
 * MERR_NOTFOUND without a terminal, MERR_LIMIT when the line does not fit.
 */
int askpass_tty(const char *prompt, char *buf, size_t len);

/*
 * The first line of a file (a password file), without its newline, into a
 * malloc'd string. A file that group or others can read is refused, as ssh
 * refuses such keys.
 */
int askpass_file(const char *path, char **out, char *err, size_t errlen);

#endif
