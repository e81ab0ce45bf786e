/*
 * The levelled log (log.h): one process-wide level, stream and tag.
 */
#include "log.h"

#include <time.h>

static int log_current = MLOG_ERROR;
static FILE *log_out;
static const char *log_tag = "muster";
static bool log_stamps;

void
log_set_level(int level)
{
	if (level < MLOG_ERROR)
		level = MLOG_ERROR;
	if (level > MLOG_TRACE)
		level = MLOG_TRACE;
	log_current = level;
}

int
log_level(void)
{
	return log_current;
}

void
log_set_file(FILE *f)
{
	log_out = f;
}

void
log_set_tag(const char *tag, bool timestamps)
{
	log_tag = tag != NULL ? tag : "muster";
	log_stamps = timestamps;
}

bool
log_enabled(enum log_level level)
{
	return (int)level <= log_current;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	FILE *f = log_out != NULL ? log_out : stderr;
	char line[2048], ts[32] = "";
	time_t now;
	struct tm tm;

	if (!log_enabled(level))
		return;
	if (log_stamps) {
		now = time(NULL);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S ",
		    localtime_r(&now, &tm));
	}
	/* One write per message: lines from a busy run must not interleave
	 * with the job's own output mid-line. */
	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(f, "%s%s: %s\n", ts, log_tag, line);
	fflush(f);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
