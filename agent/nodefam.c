#include "nodefam.h"

#include <sys/timex.h>
#include <sys/utsname.h>

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "famset.h"

/* The largest /proc file read whole (netstat, vmstat, diskstats of a big
 * machine are 5-30 KiB); a longer one is cut at a line and its tail
 * left out. */
#define FBUF_SIZE (256 * 1024)
#define NAME_MAX_LEN 128

/* node_exporter 1.5's --collector.vmstat.fields default. */
#define VMSTAT_FIELDS "^(oom_kill|pgpg|pswp|pg.*fault).*"

struct nodefam {
	int rootfd;
	const char *root;
	int (*statvfs_fn)(const char *, struct statvfs *);
	regex_t vmstat_re;
	long user_hz;
};

static char fbuf[FBUF_SIZE];

static const char *const l_collector[] = { "collector" };

/* --- stat, cpu --------------------------------------------------------- */

static const char *const cpu_modes[] = {
	"user",
	"nice",
	"system",
	"idle",
	"iowait",
	"irq",
	"softirq",
	"steal",
};
static const char *const l_cpu_mode[] = { "cpu", "mode" };

static void
cpu_line(const struct nodefam *nf, char *p, const char *cpu)
{
	const char *lv[2];
	double v[10];
	size_t i, n;
	char *w;

	for (n = 0; n < 10 && (w = famset_word(&p)) != NULL; n++)
		if (famset_number(w, &v[n]) != 0)
			return;
	lv[0] = cpu;
	/* Guest time is in user and nice already; node_exporter reports it
	 * apart as well, without subtracting. */
	if (famset_begin("node_cpu_seconds_total", FAM_COUNTER, 2,
		l_cpu_mode) == 0)
		for (i = 0; i < 8 && i < n; i++) {
			lv[1] = cpu_modes[i];
			famset_add(v[i] / nf->user_hz, lv);
		}
	if (n >= 10 &&
	    famset_begin("node_cpu_guest_seconds_total", FAM_COUNTER, 2,
		l_cpu_mode) == 0) {
		lv[1] = "user";
		famset_add(v[8] / nf->user_hz, lv);
		lv[1] = "nice";
		famset_add(v[9] / nf->user_hz, lv);
	}
}

static int
read_stat(const struct nodefam *nf)
{
	char *p = fbuf, *line, *key, *w;
	double v;

	if (famset_slurp(nf->rootfd, "proc/stat", fbuf, sizeof(fbuf)) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		if ((key = famset_word(&line)) == NULL)
			continue;
		if (strncmp(key, "cpu", 3) == 0 && key[3] != '\0') {
			cpu_line(nf, line, key + 3);
			continue;
		}
		if ((w = famset_word(&line)) == NULL ||
		    famset_number(w, &v) != 0)
			continue;
		if (strcmp(key, "intr") == 0)
			famset_single("node_intr_total", FAM_COUNTER, v);
		else if (strcmp(key, "ctxt") == 0)
			famset_single("node_context_switches_total",
			    FAM_COUNTER, v);
		else if (strcmp(key, "btime") == 0)
			famset_single("node_boot_time_seconds", FAM_GAUGE, v);
		else if (strcmp(key, "processes") == 0)
			famset_single("node_forks_total", FAM_COUNTER, v);
		else if (strcmp(key, "procs_running") == 0)
			famset_single("node_procs_running", FAM_GAUGE, v);
		else if (strcmp(key, "procs_blocked") == 0)
			famset_single("node_procs_blocked", FAM_GAUGE, v);
	}
	return 0;
}

/* --- loadavg, meminfo, vmstat ------------------------------------------ */

static int
read_loadavg(const struct nodefam *nf)
{
	static const char *const names[] = {
		"node_load1",
		"node_load5",
		"node_load15",
	};
	char *p = fbuf, *w;
	double v[3];
	int i;

	if (famset_slurp(nf->rootfd, "proc/loadavg", fbuf, sizeof(fbuf)) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if ((w = famset_word(&p)) == NULL || famset_number(w, &v[i]))
			return -1;
	for (i = 0; i < 3; i++)
		famset_single(names[i], FAM_GAUGE, v[i]);
	return 0;
}

/* "Active(anon):  123 kB" -> node_memory_Active_anon_bytes 125952. */
static int
read_meminfo(const struct nodefam *nf)
{
	char name[NAME_MAX_LEN], *p = fbuf, *line, *key, *w, *unit, *q;
	size_t n;
	double v;

	if (famset_slurp(nf->rootfd, "proc/meminfo", fbuf, sizeof(fbuf)) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		if ((key = famset_word(&line)) == NULL ||
		    (n = strlen(key)) < 2 || key[n - 1] != ':' ||
		    (w = famset_word(&line)) == NULL ||
		    famset_number(w, &v) != 0)
			continue;
		key[n - 1] = '\0';
		unit = famset_word(&line);
		if ((q = strchr(key, '(')) != NULL) {
			*q = '_';
			if ((q = strchr(q, ')')) != NULL)
				*q = '\0';
		}
		if (unit != NULL && strcmp(unit, "kB") == 0) {
			v *= 1024;
			n = (size_t)snprintf(name, sizeof(name),
			    "node_memory_%s_bytes", key);
		} else
			n = (size_t)snprintf(name, sizeof(name),
			    "node_memory_%s", key);
		if (n < sizeof(name))
			famset_single(name, FAM_GAUGE, v);
	}
	return 0;
}

static int
read_vmstat(const struct nodefam *nf)
{
	char name[NAME_MAX_LEN], *p = fbuf, *line, *key, *w;
	double v;

	if (famset_slurp(nf->rootfd, "proc/vmstat", fbuf, sizeof(fbuf)) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		if ((key = famset_word(&line)) == NULL ||
		    (w = famset_word(&line)) == NULL ||
		    famset_number(w, &v) != 0 ||
		    regexec(&nf->vmstat_re, key, 0, NULL, 0) != 0)
			continue;
		if ((size_t)snprintf(name, sizeof(name), "node_vmstat_%s",
			key) < sizeof(name))
			famset_single(name, FAM_UNTYPED, v);
	}
	return 0;
}

/* --- small files ------------------------------------------------------- */

static int
read_number(const struct nodefam *nf, const char *path, double *v)
{
	char *p = fbuf, *w;

	if (famset_slurp(nf->rootfd, path, fbuf, sizeof(fbuf)) < 0 ||
	    (w = famset_word(&p)) == NULL)
		return -1;
	if ((p = strchr(w, '\n')) != NULL)
		*p = '\0';
	return famset_number(w, v);
}

static int
read_filefd(const struct nodefam *nf)
{
	char *p = fbuf, *w[3];
	double a, m;
	int i;

	if (famset_slurp(nf->rootfd, "proc/sys/fs/file-nr", fbuf,
		sizeof(fbuf)) < 0)
		return -1;
	(void)famset_line(&p);
	p = fbuf;
	for (i = 0; i < 3; i++)
		if ((w[i] = famset_word(&p)) == NULL)
			return -1;
	if (famset_number(w[0], &a) != 0 || famset_number(w[2], &m) != 0)
		return -1;
	famset_single("node_filefd_allocated", FAM_GAUGE, a);
	famset_single("node_filefd_maximum", FAM_GAUGE, m);
	return 0;
}

static int
read_entropy(const struct nodefam *nf)
{
	double v;

	if (read_number(nf, "proc/sys/kernel/random/entropy_avail", &v) != 0)
		return -1;
	famset_single("node_entropy_available_bits", FAM_GAUGE, v);
	if (read_number(nf, "proc/sys/kernel/random/poolsize", &v) == 0)
		famset_single("node_entropy_pool_size_bits", FAM_GAUGE, v);
	return 0;
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345" (microseconds). */
static int
psi_total(const struct nodefam *nf, const char *path, double *some,
    double *full)
{
	char *p = fbuf, *line, *kind, *w;
	double v;

	*some = *full = -1;
	if (famset_slurp(nf->rootfd, path, fbuf, sizeof(fbuf)) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		if ((kind = famset_word(&line)) == NULL)
			continue;
		while ((w = famset_word(&line)) != NULL)
			if (strncmp(w, "total=", 6) == 0 &&
			    famset_number(w + 6, &v) == 0) {
				if (strcmp(kind, "some") == 0)
					*some = v / 1e6;
				else if (strcmp(kind, "full") == 0)
					*full = v / 1e6;
			}
	}
	return 0;
}

static int
read_pressure(const struct nodefam *nf)
{
	double some, full;

	if (psi_total(nf, "proc/pressure/cpu", &some, &full) != 0)
		return -1;
	if (some >= 0)
		famset_single("node_pressure_cpu_waiting_seconds_total",
		    FAM_COUNTER, some);
	if (psi_total(nf, "proc/pressure/io", &some, &full) == 0) {
		if (some >= 0)
			famset_single("node_pressure_io_waiting_seconds_total",
			    FAM_COUNTER, some);
		if (full >= 0)
			famset_single("node_pressure_io_stalled_seconds_total",
			    FAM_COUNTER, full);
	}
	if (psi_total(nf, "proc/pressure/memory", &some, &full) == 0) {
		if (some >= 0)
			famset_single(
			    "node_pressure_memory_waiting_seconds_total",
			    FAM_COUNTER, some);
		if (full >= 0)
			famset_single(
			    "node_pressure_memory_stalled_seconds_total",
			    FAM_COUNTER, full);
	}
	return 0;
}

/* --- uname, time, timex, os -------------------------------------------- */

static int
read_uname(void)
{
	static const char *const l[] = {
		"domainname",
		"machine",
		"nodename",
		"release",
		"sysname",
		"version",
	};
	struct utsname u;
	const char *lv[6];

	if (uname(&u) != 0)
		return -1;
	lv[0] = u.domainname;
	lv[1] = u.machine;
	lv[2] = u.nodename;
	lv[3] = u.release;
	lv[4] = u.sysname;
	lv[5] = u.version;
	if (famset_begin("node_uname_info", FAM_GAUGE, 6, l) == 0)
		famset_add(1, lv);
	return 0;
}

static void
nodefam_clocksource(const struct nodefam *nf, const char *file,
    const char *family)
{
	static const char *const l[] = { "clocksource", "device" };
	char path[96], *p = fbuf, *w;
	const char *lv[2];
	int dev;

	for (dev = 0; dev < 8; dev++) {
		(void)snprintf(path, sizeof(path),
		    "sys/devices/system/clocksource/clocksource%d/%s", dev,
		    file);
		if (famset_slurp(nf->rootfd, path, fbuf, sizeof(fbuf)) < 0)
			return;
		p = fbuf;
		(void)famset_line(&p);
		p = fbuf;
		(void)snprintf(path, sizeof(path), "%d", dev);
		lv[1] = path;
		if (famset_begin(family, FAM_GAUGE, 2, l) != 0)
			return;
		while ((w = famset_word(&p)) != NULL) {
			lv[0] = w;
			famset_add(1, lv);
		}
	}
}

static int
read_time(const struct nodefam *nf)
{
	static const char *const l[] = { "time_zone" };
	struct timespec ts;
	struct tm tm;
	char zone[64];
	const char *lv[1];
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	famset_single("node_time_seconds", FAM_GAUGE,
	    (double)ts.tv_sec + ts.tv_nsec / 1e9);
	t = ts.tv_sec;
	if (localtime_r(&t, &tm) != NULL &&
	    strftime(zone, sizeof(zone), "%Z", &tm) > 0 &&
	    famset_begin("node_time_zone_offset_seconds", FAM_GAUGE, 1, l) ==
		0) {
		lv[0] = zone;
		famset_add((double)tm.tm_gmtoff, lv);
	}
	nodefam_clocksource(nf, "available_clocksource",
	    "node_time_clocksource_available_info");
	nodefam_clocksource(nf, "current_clocksource",
	    "node_time_clocksource_current_info");
	return 0;
}

static int
read_timex(void)
{
	struct timex tx;
	double div;
	int status;

	memset(&tx, 0, sizeof(tx));
	if ((status = adjtimex(&tx)) == -1)
		return -1;
	/* Offsets are in ns with STA_NANO, else in us. */
	div = (tx.status & STA_NANO) ? 1e9 : 1e6;
	famset_single("node_timex_sync_status", FAM_GAUGE,
	    status == TIME_ERROR ? 0 : 1);
	famset_single("node_timex_offset_seconds", FAM_GAUGE,
	    (double)tx.offset / div);
	famset_single("node_timex_frequency_adjustment_ratio", FAM_GAUGE,
	    1 + (double)tx.freq / 65536 / 1e6);
	famset_single("node_timex_maxerror_seconds", FAM_GAUGE,
	    (double)tx.maxerror / 1e6);
	famset_single("node_timex_estimated_error_seconds", FAM_GAUGE,
	    (double)tx.esterror / 1e6);
	famset_single("node_timex_status", FAM_GAUGE, (double)tx.status);
	famset_single("node_timex_loop_time_constant", FAM_GAUGE,
	    (double)tx.constant);
	famset_single("node_timex_tick_seconds", FAM_GAUGE,
	    (double)tx.tick / 1e6);
	famset_single("node_timex_pps_frequency_hertz", FAM_GAUGE,
	    (double)tx.ppsfreq / 65536 / 1e6);
	famset_single("node_timex_pps_jitter_seconds", FAM_GAUGE,
	    (double)tx.jitter / div);
	famset_single("node_timex_pps_shift_seconds", FAM_GAUGE,
	    (double)tx.shift);
	famset_single("node_timex_pps_stability_hertz", FAM_GAUGE,
	    (double)tx.stabil / 65536 / 1e6);
	famset_single("node_timex_pps_jitter_total", FAM_COUNTER,
	    (double)tx.jitcnt);
	famset_single("node_timex_pps_calibration_total", FAM_COUNTER,
	    (double)tx.calcnt);
	famset_single("node_timex_pps_error_total", FAM_COUNTER,
	    (double)tx.errcnt);
	famset_single("node_timex_pps_stability_exceeded_total", FAM_COUNTER,
	    (double)tx.stbcnt);
	famset_single("node_timex_tai_offset_seconds", FAM_GAUGE,
	    (double)tx.tai);
	return 0;
}

/* KEY=value or KEY="value" lines of etc/os-release. */
static int
read_os(const struct nodefam *nf)
{
	static const char *const keys[] = {
		"BUILD_ID",
		"ID",
		"ID_LIKE",
		"IMAGE_ID",
		"IMAGE_VERSION",
		"NAME",
		"PRETTY_NAME",
		"VARIANT",
		"VARIANT_ID",
		"VERSION",
		"VERSION_CODENAME",
		"VERSION_ID",
	};
	static const char *const l[] = {
		"build_id",
		"id",
		"id_like",
		"image_id",
		"image_version",
		"name",
		"pretty_name",
		"variant",
		"variant_id",
		"version",
		"version_codename",
		"version_id",
	};
	static const char *const lver[] = { "id", "id_like", "name" };
	const char *lv[12], *lvv[3];
	char *p = fbuf, *line, *eq, *v;
	size_t i, n;
	double ver;

	if (famset_slurp(nf->rootfd, "etc/os-release", fbuf, sizeof(fbuf)) <
		0 &&
	    famset_slurp(nf->rootfd, "usr/lib/os-release", fbuf,
		sizeof(fbuf)) < 0)
		return -1;
	for (i = 0; i < 12; i++)
		lv[i] = "";
	while ((line = famset_line(&p)) != NULL) {
		if ((eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		v = eq + 1;
		n = strlen(v);
		if (n >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[n - 1] == v[0]) {
			v[n - 1] = '\0';
			v++;
		}
		for (i = 0; i < 12; i++)
			if (strcmp(line, keys[i]) == 0)
				lv[i] = v;
	}
	if (famset_begin("node_os_info", FAM_GAUGE, 12, l) == 0)
		famset_add(1, lv);
	lvv[0] = lv[1];
	lvv[1] = lv[2];
	lvv[2] = lv[5];
	/* "12" or "22.04": the leading number, as node_exporter. */
	ver = strtod(lv[11], NULL);
	if (famset_begin("node_os_version", FAM_GAUGE, 3, lver) == 0)
		famset_add(ver, lvv);
	return 0;
}

/* --- the whole set ----------------------------------------------------- */

int
nodefam_open(const char *root,
    int (*statvfs_fn)(const char *, struct statvfs *), struct nodefam **out)
{
	struct nodefam *nf;
	int saved;

	*out = NULL;
	if ((nf = calloc(1, sizeof(*nf))) == NULL)
		return MERR_NOMEM;
	nf->root = root != NULL ? root : "/";
	nf->statvfs_fn = statvfs_fn != NULL ? statvfs_fn : statvfs;
	if ((nf->user_hz = sysconf(_SC_CLK_TCK)) <= 0)
		nf->user_hz = 100;
	if (regcomp(&nf->vmstat_re, VMSTAT_FIELDS, REG_EXTENDED | REG_NOSUB)) {
		free(nf);
		return MERR_NOMEM;
	}
	if ((nf->rootfd = open(nf->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		saved = errno;
		regfree(&nf->vmstat_re);
		free(nf);
		errno = saved;
		return saved == ENOMEM ? MERR_NOMEM : MERR_SYS;
	}
	*out = nf;
	return 0;
}

void
nodefam_close(struct nodefam *nf)
{
	if (nf == NULL)
		return;
	(void)close(nf->rootfd);
	regfree(&nf->vmstat_re);
	free(nf);
}

void
nodefam_read(struct nodefam *nf, Muster__Sample *m)
{
	static const char *names[] = {
		"arp",
		"conntrack",
		"cpu",
		"diskstats",
		"entropy",
		"filefd",
		"filesystem",
		"loadavg",
		"meminfo",
		"netclass",
		"netdev",
		"netstat",
		"os",
		"pressure",
		"sockstat",
		"softnet",
		"stat",
		"time",
		"timex",
		"uname",
		"vmstat",
	};
	int ok[21], i, rs;

	famset_reset();
	i = 0;
	ok[i++] = nodefam_arp(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = nodefam_conntrack(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	rs = read_stat(nf) == 0;
	ok[i++] = rs; /* cpu and stat read the same file */
	ok[i++] = nodefam_diskstats(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = read_entropy(nf) == 0;
	ok[i++] = read_filefd(nf) == 0;
	ok[i++] = nodefam_filesystem(nf->rootfd, nf->root, nf->statvfs_fn,
		      fbuf, sizeof(fbuf)) == 0;
	ok[i++] = read_loadavg(nf) == 0;
	ok[i++] = read_meminfo(nf) == 0;
	ok[i++] = nodefam_netclass(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = nodefam_netdev(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = nodefam_netstat(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = read_os(nf) == 0;
	ok[i++] = read_pressure(nf) == 0;
	ok[i++] = nodefam_sockstat(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = nodefam_softnet(nf->rootfd, fbuf, sizeof(fbuf)) == 0;
	ok[i++] = rs;
	ok[i++] = read_time(nf) == 0;
	ok[i++] = read_timex() == 0;
	ok[i++] = read_uname() == 0;
	ok[i++] = read_vmstat(nf) == 0;
	if (famset_begin("node_scrape_collector_success", FAM_GAUGE, 1,
		l_collector) == 0)
		for (i = 0; i < 21; i++)
			famset_add(ok[i], &names[i]);
	famset_export(m);
}
