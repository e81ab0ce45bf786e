/*
 * node_exporter's diskstats and filesystem collectors (see nodefam.h).
 */
#include "nodefam.h"

#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "famset.h"

/* The defaults of Debian's node_exporter 1.5 (\d spelled [0-9] for
 * POSIX regcomp); Debian also leaves out /run, /mnt and /media. */
#define DISK_IGNORED \
	"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$"
#define MOUNT_IGNORED                    \
	"^/(dev|proc|run|sys|mnt|media|" \
	"var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
#define FSTYPE_IGNORED                                                   \
	"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|"                    \
	"debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|" \
	"overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|"    \
	"squashfs|sysfs|tracefs)$"

/* Mounts looked at; more are left out in the order the kernel lists. */
#define MOUNTS_MAX 512

static regex_t disk_re, mount_re, fstype_re;
static int re_ok;

static int
compile(void)
{
	if (re_ok)
		return 0;
	if (regcomp(&disk_re, DISK_IGNORED, REG_EXTENDED | REG_NOSUB) != 0)
		return -1;
	if (regcomp(&mount_re, MOUNT_IGNORED, REG_EXTENDED | REG_NOSUB) != 0) {
		regfree(&disk_re);
		return -1;
	}
	if (regcomp(&fstype_re, FSTYPE_IGNORED, REG_EXTENDED | REG_NOSUB) !=
	    0) {
		regfree(&disk_re);
		regfree(&mount_re);
		return -1;
	}
	re_ok = 1;
	return 0;
}

/* --- diskstats --------------------------------------------------------- */

static const struct {
	const char *name;
	enum famset_type type;
	double scale;
} disk_fields[17] = {
	{ "node_disk_reads_completed_total", FAM_COUNTER, 1 },
	{ "node_disk_reads_merged_total", FAM_COUNTER, 1 },
	{ "node_disk_read_bytes_total", FAM_COUNTER, 512 },
	{ "node_disk_read_time_seconds_total", FAM_COUNTER, .001 },
	{ "node_disk_writes_completed_total", FAM_COUNTER, 1 },
	{ "node_disk_writes_merged_total", FAM_COUNTER, 1 },
	{ "node_disk_written_bytes_total", FAM_COUNTER, 512 },
	{ "node_disk_write_time_seconds_total", FAM_COUNTER, .001 },
	{ "node_disk_io_now", FAM_GAUGE, 1 },
	{ "node_disk_io_time_seconds_total", FAM_COUNTER, .001 },
	{ "node_disk_io_time_weighted_seconds_total", FAM_COUNTER, .001 },
	{ "node_disk_discards_completed_total", FAM_COUNTER, 1 },
	{ "node_disk_discards_merged_total", FAM_COUNTER, 1 },
	{ "node_disk_discarded_sectors_total", FAM_COUNTER, 1 },
	{ "node_disk_discard_time_seconds_total", FAM_COUNTER, .001 },
	{ "node_disk_flush_requests_total", FAM_COUNTER, 1 },
	{ "node_disk_flush_requests_time_seconds_total", FAM_COUNTER, .001 },
};

static const char *const l_device[] = { "device" };

int
nodefam_diskstats(int rootfd, char *buf, size_t size)
{
	char *p = buf, *line, *w, *dev = NULL;
	const char *lv[1];
	double v[17];
	int i, n;

	if (compile() != 0 ||
	    famset_slurp(rootfd, "proc/diskstats", buf, size) < 0)
		return -1;
	while ((line = famset_line(&p)) != NULL) {
		/* major, minor, then the name */
		for (n = 0; n < 3 && (dev = famset_word(&line)) != NULL; n++)
			;
		if (n < 3 || regexec(&disk_re, dev, 0, NULL, 0) == 0)
			continue;
		for (n = 0; n < 17 && (w = famset_word(&line)) != NULL; n++)
			if (famset_number(w, &v[n]) != 0)
				break;
		lv[0] = dev;
		/* Older kernels have 11 fields, 4.18 15, 5.5 17. */
		for (i = 0; i < n; i++)
			if (famset_begin(disk_fields[i].name,
				disk_fields[i].type, 1, l_device) == 0)
				famset_add(v[i] * disk_fields[i].scale, lv);
	}
	return 0;
}

/* --- filesystem -------------------------------------------------------- */

/* /proc/self/mounts escapes blanks, tabs, newlines and backslashes. */
static void
unescape_octal(char *p)
{
	char *q = p;

	while (*p != '\0') {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
		    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*q++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
			    (p[3] - '0'));
			p += 4;
		} else
			*q++ = *p++;
	}
	*q = '\0';
}

struct mount {
	const char *dev, *mnt, *fstype;
	int ro;
};

static struct mount mounts[MOUNTS_MAX];

static void
filesystem_one(const struct mount *m,
    int (*statvfs_fn)(const char *, struct statvfs *))
{
	static const char *const l[] = { "device", "fstype", "mountpoint" };
	const char *lv[3];
	struct statvfs st;
	double bs;
	int err;

	lv[0] = m->dev;
	lv[1] = m->fstype;
	lv[2] = m->mnt;
	err = statvfs_fn(m->mnt, &st) != 0;
	if (famset_begin("node_filesystem_device_error", FAM_GAUGE, 3, l) == 0)
		famset_add(err, lv);
	if (famset_begin("node_filesystem_readonly", FAM_GAUGE, 3, l) == 0)
		famset_add(m->ro, lv);
	if (err)
		return;
	bs = (double)st.f_frsize;
	if (famset_begin("node_filesystem_size_bytes", FAM_GAUGE, 3, l) == 0)
		famset_add((double)st.f_blocks * bs, lv);
	if (famset_begin("node_filesystem_free_bytes", FAM_GAUGE, 3, l) == 0)
		famset_add((double)st.f_bfree * bs, lv);
	if (famset_begin("node_filesystem_avail_bytes", FAM_GAUGE, 3, l) == 0)
		famset_add((double)st.f_bavail * bs, lv);
	if (famset_begin("node_filesystem_files", FAM_GAUGE, 3, l) == 0)
		famset_add((double)st.f_files, lv);
	if (famset_begin("node_filesystem_files_free", FAM_GAUGE, 3, l) == 0)
		famset_add((double)st.f_ffree, lv);
}

int
nodefam_filesystem(int rootfd, const char *root,
    int (*statvfs_fn)(const char *, struct statvfs *), char *buf, size_t size)
{
	char *p = buf, *line, *opts, *o;
	struct mount *m;
	size_t n = 0, i, j;

	(void)root;
	/* PID 1's table, as node_exporter reads it: the host's file
	 * systems even when the agent runs in a mount namespace of its own
	 * (a sandboxed login); ours when that one is not readable. */
	if (compile() != 0 ||
	    (famset_slurp(rootfd, "proc/1/mounts", buf, size) < 0 &&
		famset_slurp(rootfd, "proc/self/mounts", buf, size) < 0))
		return -1;
	while (n < MOUNTS_MAX && (line = famset_line(&p)) != NULL) {
		m = &mounts[n];
		if ((m->dev = famset_word(&line)) == NULL ||
		    (m->mnt = famset_word(&line)) == NULL ||
		    (m->fstype = famset_word(&line)) == NULL ||
		    (opts = famset_word(&line)) == NULL)
			continue;
		unescape_octal((char *)m->mnt);
		if (regexec(&mount_re, m->mnt, 0, NULL, 0) == 0 ||
		    regexec(&fstype_re, m->fstype, 0, NULL, 0) == 0)
			continue;
		m->ro = 0;
		while ((o = strsep(&opts, ",")) != NULL)
			if (strcmp(o, "ro") == 0)
				m->ro = 1;
		n++;
	}
	/* A mount point mounted over is one series, its newest mount's:
	 * statvfs sees only that one, and Prometheus refuses a scrape
	 * with the same series twice. */
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++)
			if (strcmp(mounts[i].mnt, mounts[j].mnt) == 0)
				break;
		if (j == n)
			filesystem_one(&mounts[i], statvfs_fn);
	}
	return 0;
}
