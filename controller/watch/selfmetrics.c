#include "selfmetrics.h"

#include <sys/resource.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_id.h"
#include "err.h"
#include "frame.h"

static int
put(struct buf *b, const char *name, const char *type, const char *help,
    const char *labels, double v)
{
	char line[512];
	int n;

	n = snprintf(line, sizeof(line),
	    "# HELP %s %s\n# TYPE %s %s\n%s%s %.17g\n", name, help, name, type,
	    name, labels, v);
	if (n < 0 || (size_t)n >= sizeof(line))
		return MERR_LIMIT;
	return buf_append(b, line, (size_t)n);
}

/*
 * The number fields of /proc/self/stat after the state, counted from 0:
 * 0 ppid ... 10 utime, 11 stime, ... 18 starttime, 19 vsize, 20 rss.
 * strtoull rather than sscanf, which cannot report an out-of-range value.
 */
#define STAT_UTIME 10
#define STAT_STIME 11
#define STAT_START 18
#define STAT_VSIZE 19
#define STAT_RSS 20

/* utime, stime, starttime (ticks) and vsize, rss (pages) of stat. */
static int
read_stat(double *cpu_s, double *start_s, double *vsize, double *rss)
{
	unsigned long long field[STAT_RSS + 1];
	char buf[1024], *p, *end;
	double btime = 0, v;
	long hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f;
	size_t n;
	int i;

	if ((f = fopen("/proc/self/stat", "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold blanks and parentheses: fields are
	 * counted from its closing one, then the state (one character). */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0')
		return -1;
	p += 3;
	for (i = 0; i <= STAT_RSS; i++) {
		/* A negative field (priority, nice; rss is signed) comes back
		 * negated into unsigned: rss is cast back below. */
		errno = 0;
		field[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0)
			return -1;
		p = end;
	}
	if ((f = fopen("/proc/stat", "re")) != NULL) {
		while (fgets(buf, sizeof(buf), f) != NULL) {
			if (strncmp(buf, "btime ", 6) != 0)
				continue;
			errno = 0;
			v = strtod(buf + 6, &end);
			if (end != buf + 6 && errno == 0)
				btime = v;
		}
		fclose(f);
	}
	if (hz <= 0)
		hz = 100;
	*cpu_s = (double)(field[STAT_UTIME] + field[STAT_STIME]) / hz;
	*start_s = btime + (double)field[STAT_START] / hz;
	*vsize = (double)field[STAT_VSIZE];
	*rss = (double)(long long)field[STAT_RSS] * page;
	return 0;
}

static double
open_fds(void)
{
	struct dirent *de;
	double n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own */
}

int
selfmetrics_render(struct buf *out)
{
	char labels[160];
	double cpu, start, vsize, rss, fds;
	struct rlimit rl;
	int r;

	snprintf(labels, sizeof(labels),
	    "{protocol=\"%d\",agent_build_id=\"%s\"}", MUSTER_PROTO_VERSION,
	    MUSTER_BUILD_ID);
	if ((r = put(out, "muster_build_info", "gauge",
		 "The controller's protocol version and its agent's build id.",
		 labels, 1)) != 0)
		return r;
	if (read_stat(&cpu, &start, &vsize, &rss) == 0 &&
	    ((r = put(out, "process_cpu_seconds_total", "counter",
		  "Total user and system CPU time spent in seconds.", "",
		  cpu)) != 0 ||
		(r = put(out, "process_start_time_seconds", "gauge",
		     "Start time of the process since unix epoch in seconds.",
		     "", start)) != 0 ||
		(r = put(out, "process_virtual_memory_bytes", "gauge",
		     "Virtual memory size in bytes.", "", vsize)) != 0 ||
		(r = put(out, "process_resident_memory_bytes", "gauge",
		     "Resident memory size in bytes.", "", rss)) != 0))
		return r;
	if ((fds = open_fds()) >= 0 &&
	    (r = put(out, "process_open_fds", "gauge",
		 "Number of open file descriptors.", "", fds)) != 0)
		return r;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY &&
	    (r = put(out, "process_max_fds", "gauge",
		 "Maximum number of open file descriptors.", "",
		 (double)rl.rlim_cur)) != 0)
		return r;
	return 0;
}
