/*
 * One measurement of the host for a Watch stream (see proto/muster.proto,
 * Sample): CPU, load, memory, file systems, disk and network throughput,
 * read from /proc and statvfs.
 *
 * A sampler keeps its /proc files open and re-reads them with pread from
 * offset 0, and keeps the previous counters, from which the rates of the
 * next reading are computed. Everything has a fixed size: reading a sample
 * allocates nothing.
 *
 * The root prefix (tests point it at a fake tree) applies to proc/... and
 * sys/block/...; mount points are passed to the statvfs hook as the mount
 * table lists them.
 */
#ifndef MUSTER_AGENT_SAMPLE_H
#define MUSTER_AGENT_SAMPLE_H

#include <sys/statvfs.h>

#include <stddef.h>
#include <stdint.h>

/* More are left out, in the order the kernel lists them. */
#define SAMPLE_DISKS_MAX 64
#define SAMPLE_IFACES_MAX 64
/* Whole block devices whose counters are kept for the I/O rates. */
#define SAMPLE_BLKDEVS_MAX 64
/* A mount point this long or longer is left out. */
#define SAMPLE_MOUNT_MAX 1024
#define SAMPLE_FSTYPE_MAX 32
#define SAMPLE_IFACE_MAX 16  /* IFNAMSIZ */
#define SAMPLE_BLKDEV_MAX 32 /* DISK_NAME_LEN */

/* Sections of a sample that could not be read or parsed: zero there. */
#define SAMPLE_F_CPU 0x01    /* proc/stat */
#define SAMPLE_F_LOAD 0x02   /* proc/loadavg */
#define SAMPLE_F_MEM 0x04    /* proc/meminfo */
#define SAMPLE_F_DISKS 0x08  /* proc/self/mountinfo */
#define SAMPLE_F_DISKIO 0x10 /* proc/diskstats */
#define SAMPLE_F_NET 0x20    /* proc/net/dev */
#define SAMPLE_F_UPTIME 0x40 /* proc/uptime */

struct sample_disk {
	char mount[SAMPLE_MOUNT_MAX];
	char fstype[SAMPLE_FSTYPE_MAX];
	uint64_t total_bytes;
	uint64_t used_bytes;
	uint64_t avail_bytes; /* to unprivileged users: f_bavail */
	uint64_t inodes_total;
	uint64_t inodes_used;
	/* What tells one file system from another mount of the same. */
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t source_hash; /* of a /dev/... source, else 0 */
};

struct sample_net {
	char iface[SAMPLE_IFACE_MAX];
	double rx_bytes_per_s;
	double tx_bytes_per_s;
	double rx_errors_per_s;
	double tx_errors_per_s;
	uint64_t rx_bytes_total;
	uint64_t tx_bytes_total;
	uint64_t rx_errors_total;
	uint64_t tx_errors_total;
};

struct sample {
	uint64_t ts_ms;
	double cpu_pct;
	double cpu_user_pct;
	double cpu_system_pct;
	double cpu_iowait_pct;
	double cpu_steal_pct;
	uint32_t ncpu;
	double load1;
	double load5;
	double load15;
	uint64_t mem_total_bytes;
	uint64_t mem_available_bytes;
	uint64_t mem_used_bytes;
	uint64_t swap_total_bytes;
	uint64_t swap_used_bytes;
	struct sample_disk disks[SAMPLE_DISKS_MAX];
	size_t ndisks;
	double disk_read_bytes_per_s;
	double disk_write_bytes_per_s;
	struct sample_net net[SAMPLE_IFACES_MAX];
	size_t nnet;
	uint32_t procs;
	double uptime_s;
	unsigned int failed; /* SAMPLE_F_* */
};

/* When a reading is taken: the interval of the rates comes from mono_ns,
 * the Sample's timestamp from real_ms. */
struct sample_time {
	uint64_t mono_ns;
	uint64_t real_ms;
};

struct sampler_conf {
	const char *root; /* NULL: "/" */
	/* NULL: statvfs(3). */
	int (*statvfs)(const char *path, struct statvfs *st);
};

struct sampler;

/*
 * Open the /proc files. proc/stat and proc/meminfo must be there
 * (MERR_NOTFOUND or MERR_SYS with errno kept, and *what names the file);
 * the others may be missing, which leaves their sections zero and flagged
 * in every sample. MERR_NOMEM.
 */
int sampler_open(const struct sampler_conf *conf, struct sampler **out,
    const char **what);
void sampler_close(struct sampler *s);

void sample_time_now(struct sample_time *t);

/*
 * Take a reading at time now into out. Rates and CPU shares cover the
 * time since the previous reading of the same sampler and are 0 in the
 * first one, and in the first after their section failed. A file that
 * cannot be read or parsed leaves its section zero and flagged in
 * out->failed; there is no other failure.
 */
void sampler_read(struct sampler *s, const struct sample_time *now,
    struct sample *out);

#endif
