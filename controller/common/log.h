/*
 * One levelled log for the controller. Errors are what muster has always
 * printed; -v adds info (connection timings, the daemon in use), -vv debug
 * (every host's state transitions, why a host is slow or failed), -vvv
 * trace. Messages go to stderr unless log_set_file names another stream
 * (the daemon's log file); the daemon's lines carry a time and its own
 * tag (log_set_tag). `muster daemon -v/-vv/-vvv` sets the same levels for
 * its log file and for --foreground as the options do for any command.
 */
#ifndef MUSTER_LOG_H
#define MUSTER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

/* Not LOG_*: <syslog.h> owns those names. */
enum log_level {
	/* Always shown: errors, and what muster has always said without -v
	 * (the daemon's events: a host ready or lost, a client dropped). */
	MLOG_ERROR = 0,
	MLOG_NOTICE = 0,
	MLOG_INFO = 1,
	MLOG_DEBUG = 2,
	MLOG_TRACE = 3,
};

/* From the count of -v options; clamped to MLOG_TRACE. */
void log_set_level(int level);
int log_level(void);
/* NULL: stderr. */
void log_set_file(FILE *f);
/* Lines read "tag: message" ("muster" unless set; NULL: back to it),
 * after a local ISO 8601 time when timestamps is set. */
void log_set_tag(const char *tag, bool timestamps);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#define log_error(...) log_msg(MLOG_ERROR, __VA_ARGS__)
#define log_notice(...) log_msg(MLOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(MLOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(MLOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_msg(MLOG_TRACE, __VA_ARGS__)

#endif
