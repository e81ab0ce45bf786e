/*
 * agent/sample.c against a fake /proc and /sys in a temporary directory
 * and a stub statvfs: two readings of known files at a known interval,
 * every computed field checked exactly, then damaged, missing, huge and
 * oversized input. The sampler keeps its files open, so a new snapshot
 * is written over the old files in place (O_TRUNC), as procfs changes
 * under an open file.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* The agent's module is not in a library the tests link: build it here. */
#include "../../agent/sample.c"

#define T0_NS 1000000000ull
#define T0_MS 1700000000000ull
#define KB 1024ull

/* --- the fake tree ------------------------------------------------------ */

struct tree {
	char root[64];
};

static void
tree_path(const struct tree *t, const char *rel, char *out, size_t size)
{
	assert_true(snprintf(out, size, "%s/%s", t->root, rel) < (int)size);
}

static void
tree_mkdir(const struct tree *t, const char *rel)
{
	char p[PATH_MAX];

	tree_path(t, rel, p, sizeof(p));
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

/* Overwrite in place: the sampler has the file open. */
static void
tree_write_n(const struct tree *t, const char *rel, const void *data, size_t n)
{
	char p[PATH_MAX];
	int fd;

	tree_path(t, rel, p, sizeof(p));
	assert_true((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644)) != -1);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void
tree_write(const struct tree *t, const char *rel, const char *text)
{
	tree_write_n(t, rel, text, strlen(text));
}

/* A device with sys/block/<name>/device, as hardware has. */
static void
tree_hw_disk(const struct tree *t, const char *name)
{
	char rel[128];

	snprintf(rel, sizeof(rel), "sys/block/%s", name);
	tree_mkdir(t, rel);
	snprintf(rel, sizeof(rel), "sys/block/%s/device", name);
	tree_mkdir(t, rel);
}

static void
tree_make(struct tree *t, int with_sys)
{
	strcpy(t->root, "/tmp/muster-sample.XXXXXX");
	assert_non_null(mkdtemp(t->root));
	tree_mkdir(t, "proc");
	tree_mkdir(t, "proc/self");
	tree_mkdir(t, "proc/net");
	if (with_sys) {
		tree_mkdir(t, "sys");
		tree_mkdir(t, "sys/block");
	}
}

static void
tree_remove(struct tree *t)
{
	char cmd[128];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root) <
	    (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

/* --- the stub statvfs --------------------------------------------------- */

struct fake_fs {
	const char *mount;
	fsblkcnt_t blocks, bfree, bavail;
	unsigned long frsize;
	fsfilcnt_t files, ffree;
};

static const struct fake_fs fake_fss[] = {
	/* 50 blocks reserved for root */
	{ "/", 1000, 400, 350, 4096, 500, 100 },
	{ "/mnt/bind", 1000, 400, 350, 4096, 500, 100 },
	/* More bytes than 64 bits hold. */
	{ "/home", 1ull << 62, 1ull << 61, 1ull << 61, 4096, 7, 8 },
	{ "/home/.snap", 1ull << 62, 1ull << 61, 1ull << 61, 4096, 7, 8 },
	{ "/var/lib/docker/overlay2/x/merged", 10, 5, 5, 1024, 10, 5 },
	{ "/mnt/with space", 20, 20, 20, 512, 0, 0 },
	{ "/boot/efi", 100, 99, 99, 512, 0, 0 },
	{ "/empty", 0, 0, 0, 4096, 0, 0 },
	/* Anything else fails, as a mount gone meanwhile does. */
};

static char stub_calls[64][256];
static size_t nstub_calls;

static int
stub_statvfs(const char *path, struct statvfs *st)
{
	size_t i;

	if (nstub_calls < 64)
		snprintf(stub_calls[nstub_calls++], 256, "%s", path);
	for (i = 0; i < sizeof(fake_fss) / sizeof(fake_fss[0]); i++) {
		if (strcmp(path, fake_fss[i].mount) != 0)
			continue;
		memset(st, 0, sizeof(*st));
		st->f_blocks = fake_fss[i].blocks;
		st->f_bfree = fake_fss[i].bfree;
		st->f_bavail = fake_fss[i].bavail;
		st->f_frsize = fake_fss[i].frsize;
		st->f_bsize = fake_fss[i].frsize;
		st->f_files = fake_fss[i].files;
		st->f_ffree = fake_fss[i].ffree;
		return 0;
	}
	errno = ENOENT;
	return -1;
}

static int
stub_called(const char *path)
{
	size_t i;

	for (i = 0; i < nstub_calls; i++)
		if (strcmp(stub_calls[i], path) == 0)
			return 1;
	return 0;
}

/* --- snapshots ---------------------------------------------------------- */

static const char stat1[] =
    "cpu  100 20 30 800 10 5 5 30 7 0\n"
    "cpu0 50 10 15 400 5 2 3 15 0 0\n"
    "cpu1 50 10 15 400 5 3 2 15 7 0\n"
    "intr 12345 1 2 3 4 5\n"
    "ctxt 999\n"
    "btime 1700000000\n";
/* +60 user, +20 nice, +40 system, +200 idle, +40 iowait, +10 irq,
 * +10 softirq, +20 steal: 400 in all. guest +50 is inside user. */
static const char stat2[] =
    "cpu  160 40 70 1000 50 15 15 50 57 0\n"
    "cpu0 80 20 35 500 25 7 8 25 25 0\n"
    "cpu1 80 20 35 500 25 8 7 25 32 0\n"
    "intr 22345 1 2 3 4 5\n"
    "ctxt 1999\n";

static const char meminfo1[] =
    "MemTotal:       16000000 kB\n"
    "MemFree:         1000000 kB\n"
    "MemAvailable:    8000000 kB\n"
    "Buffers:          100000 kB\n"
    "Cached:          2000000 kB\n"
    "SwapCached:            0 kB\n"
    "Active:          3000000 kB\n"
    "SwapTotal:       4000000 kB\n"
    "SwapFree:        3000000 kB\n"
    "HugePages_Total:       0\n";

static const char mountinfo1[] =
    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
    "22 26 0:21 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 23 0:22 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=100k\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
    /* A bind mount listed before the file system's own mount. */
    "27 26 8:1 /srv /mnt/bind rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    /* btrfs: a subvolume has a device number of its own. */
    "28 26 0:45 / /home rw master:2 propagate_from:1 - btrfs /dev/sdb1 rw\n"
    "29 26 0:46 /@snap /home/.snap rw - btrfs /dev/sdb1 rw\n"
    "30 26 0:50 / /var/lib/docker/overlay2/x/merged rw - overlay overlay "
    "rw,lowerdir=/a\n"
    "31 26 0:51 / /mnt/with\\040space rw - xfs /dev/sdc rw\n"
    "32 26 0:52 / /empty rw - ext4 /dev/sdd rw\n"
    "33 26 0:53 / /gone rw - ext4 /dev/sde rw\n"
    "34 26 0:54 / /nfs rw - nfs4 server:/export rw\n"
    "35 26 7:0 / /snap/core/1 ro - squashfs /dev/loop0 ro\n"
    "36 26 8:2 / /boot/efi rw - vfat /dev/sda2 rw"; /* no newline */

static const char diskstats1[] =
    "   8       0 sda 100 0 1000 0 50 0 2000 0 0 0 0 0 0 0 0 0 0\n"
    "   8       1 sda1 100 0 1000 0 50 0 2000 0 0 0 0 0 0 0 0 0 0\n"
    " 259       0 nvme0n1 10 0 500 0 10 0 600 0 0 0 0\n"
    " 259       1 nvme0n1p1 10 0 500 0 10 0 600 0 0 0 0\n"
    "   7       0 loop0 1 0 99 0 1 0 99 0 0 0 0\n"
    " 253       0 dm-0 1 0 5000 0 1 0 5000 0 0 0 0\n"
    " 104       0 cciss/c0d0 1 0 100 0 1 0 100 0 0 0 0\n";
/* sda +4000/+8000, nvme0n1 +1000/+0, cciss/c0d0 +10/+20; the rest must
 * not count; vdb is new. */
static const char diskstats2[] =
    "   8       0 sda 200 0 5000 0 90 0 10000 0 0 0 0 0 0 0 0 0 0\n"
    "   8       1 sda1 200 0 999999 0 90 0 999999 0 0 0 0 0 0 0 0 0 0\n"
    " 259       0 nvme0n1 20 0 1500 0 10 0 600 0 0 0 0\n"
    " 259       1 nvme0n1p1 20 0 1500 0 10 0 600 0 0 0 0\n"
    "   7       0 loop0 1 0 9999999 0 1 0 9999999 0 0 0 0\n"
    " 253       0 dm-0 1 0 9999999 0 1 0 9999999 0 0 0 0\n"
    " 104       0 cciss/c0d0 1 0 110 0 1 0 120 0 0 0 0\n"
    " 252       0 vdb 1 0 77777777 0 1 0 77777777 0 0 0 0\n";

static const char netdev1[] =
    "Inter-|   Receive                                                |  "
    "Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo: 5000 50 0 0 0 0 0 0 5000 50 0 0 0 0 0 0\n"
    "  eth0: 1000000 100 1 0 0 0 0 0 2000000 200 2 0 0 0 0 0\n"
    /* An old kernel's format: no blank after the colon. */
    "  eth1:18446744073709551615 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n";
/* eth0 +3000000/+1000000 bytes, +4/+2 errors; eth1's rx went back (a
 * reset); eth2 is new. */
static const char netdev2[] =
    "Inter-|   Receive                                                |  "
    "Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|"
    "bytes    packets errs drop fifo colls carrier compressed\n"
    "    lo: 9000 90 0 0 0 0 0 0 9000 90 0 0 0 0 0 0\n"
    "  eth2: 7 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0\n"
    "  eth0: 4000000 100 5 0 0 0 0 0 3000000 200 4 0 0 0 0 0\n"
    "  eth1:10 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n";

static void
write_snapshot1(const struct tree *t)
{
	tree_write(t, "proc/stat", stat1);
	tree_write(t, "proc/meminfo", meminfo1);
	tree_write(t, "proc/loadavg", "0.52 1.25 12.75 3/1234 5678\n");
	tree_write(t, "proc/uptime", "12345.67 23456.78\n");
	tree_write(t, "proc/self/mountinfo", mountinfo1);
	tree_write(t, "proc/diskstats", diskstats1);
	tree_write(t, "proc/net/dev", netdev1);
}

static void
write_snapshot2(const struct tree *t)
{
	tree_write(t, "proc/stat", stat2);
	tree_write(t, "proc/loadavg", "2.00 1.50 0.05 1/99 5679\n");
	tree_write(t, "proc/uptime", "12347.67 23460.00\n");
	tree_write(t, "proc/diskstats", diskstats2);
	tree_write(t, "proc/net/dev", netdev2);
}

static struct sampler *
open_tree(const struct tree *t)
{
	struct sampler_conf conf = { .root = t->root,
		.statvfs = stub_statvfs };
	struct sampler *s = NULL;
	const char *what = NULL;

	assert_int_equal(sampler_open(&conf, &s, &what), 0);
	assert_non_null(s);
	return s;
}

static void
read_at(struct sampler *s, uint64_t ns_after_t0, struct sample *out)
{
	struct sample_time t = { T0_NS + ns_after_t0,
		T0_MS + ns_after_t0 / 1000000 };

	sampler_read(s, &t, out);
}

static const struct sample_net *
net_named(const struct sample *smp, const char *name)
{
	size_t i;

	for (i = 0; i < smp->nnet; i++)
		if (strcmp(smp->net[i].iface, name) == 0)
			return &smp->net[i];
	return NULL;
}

static void
check_disk(const struct sample_disk *d, const char *mount, const char *fstype,
    uint64_t total, uint64_t used, uint64_t avail, uint64_t itotal,
    uint64_t iused)
{
	assert_string_equal(d->mount, mount);
	assert_string_equal(d->fstype, fstype);
	assert_true(d->total_bytes == total);
	assert_true(d->used_bytes == used);
	assert_true(d->avail_bytes == avail);
	assert_true(d->inodes_total == itotal);
	assert_true(d->inodes_used == iused);
}

/* Levels that are the same in both snapshots. */
static void
check_levels(const struct sample *smp)
{
	assert_true(smp->mem_total_bytes == 16000000 * KB);
	assert_true(smp->mem_available_bytes == 8000000 * KB);
	assert_true(smp->mem_used_bytes == 8000000 * KB);
	assert_true(smp->swap_total_bytes == 4000000 * KB);
	assert_true(smp->swap_used_bytes == 1000000 * KB);
	assert_int_equal(smp->ncpu, 2);
	assert_int_equal(smp->ndisks, 5);
	/* "/" replaces the bind mount listed first; the btrfs subvolume,
	 * pseudo, memory, remote, squashfs, empty and gone ones are out. */
	check_disk(&smp->disks[0], "/", "ext4", 4096000, 600 * 4096,
	    350 * 4096, 500, 400);
	check_disk(&smp->disks[1], "/home", "btrfs", UINT64_MAX, UINT64_MAX,
	    UINT64_MAX, 7, 0);
	check_disk(&smp->disks[2], "/var/lib/docker/overlay2/x/merged",
	    "overlay", 10240, 5120, 5120, 10, 5);
	check_disk(&smp->disks[3], "/mnt/with space", "xfs", 10240, 0, 10240,
	    0, 0);
	check_disk(&smp->disks[4], "/boot/efi", "vfat", 51200, 512, 50688, 0,
	    0);
	/* statvfs is never tried on a remote or pseudo file system (it
	 * could hang), nor twice on one file system. */
	assert_false(stub_called("/nfs"));
	assert_false(stub_called("/proc"));
	assert_false(stub_called("/dev/shm"));
	assert_false(stub_called("/snap/core/1"));
	assert_false(stub_called("/home/.snap"));
	assert_true(stub_called("/gone"));
	assert_true(stub_called("/empty"));
}

/* --- tests -------------------------------------------------------------- */

static void
test_two_readings(void **state)
{
	struct sample *smp = calloc(1, sizeof(*smp));
	const struct sample_net *n;
	struct sampler *s;
	struct tree t;

	assert_non_null(smp);
	tree_make(&t, 1);
	tree_hw_disk(&t, "sda");
	tree_hw_disk(&t, "nvme0n1");
	tree_hw_disk(&t, "vdb");
	tree_hw_disk(&t, "cciss!c0d0");
	/* Virtual devices are in sys/block too, without device/. */
	tree_mkdir(&t, "sys/block/dm-0");
	tree_mkdir(&t, "sys/block/loop0");
	write_snapshot1(&t);
	s = open_tree(&t);

	nstub_calls = 0;
	read_at(s, 0, smp);
	assert_int_equal(smp->failed, 0);
	assert_true(smp->ts_ms == T0_MS);
	/* The first reading has levels but no rates. */
	check_levels(smp);
	assert_true(smp->cpu_pct == 0 && smp->cpu_user_pct == 0 &&
	    smp->cpu_system_pct == 0 && smp->cpu_iowait_pct == 0 &&
	    smp->cpu_steal_pct == 0);
	assert_true(smp->load1 == 0.52);
	assert_true(smp->load5 == 1.25);
	assert_true(smp->load15 == 12.75);
	assert_int_equal(smp->procs, 1234);
	assert_true(smp->uptime_s == 12345.67);
	assert_true(smp->disk_read_bytes_per_s == 0);
	assert_true(smp->disk_write_bytes_per_s == 0);
	assert_int_equal(smp->nnet, 2); /* lo is left out */
	assert_string_equal(smp->net[0].iface, "eth0");
	assert_true(smp->net[0].rx_bytes_total == 1000000);
	assert_true(smp->net[0].tx_bytes_total == 2000000);
	assert_true(smp->net[0].rx_bytes_per_s == 0);
	assert_string_equal(smp->net[1].iface, "eth1");
	assert_true(smp->net[1].rx_bytes_total == UINT64_MAX);

	write_snapshot2(&t);
	nstub_calls = 0;
	read_at(s, 2000000000ull, smp); /* 2 s later */
	assert_int_equal(smp->failed, 0);
	assert_true(smp->ts_ms == T0_MS + 2000);
	check_levels(smp);
	assert_true(smp->cpu_pct == 40.0);
	assert_true(smp->cpu_user_pct == 20.0);
	assert_true(smp->cpu_system_pct == 15.0);
	assert_true(smp->cpu_iowait_pct == 10.0);
	assert_true(smp->cpu_steal_pct == 5.0);
	assert_true(smp->load1 == 2.0);
	assert_true(smp->load15 == 0.05);
	assert_int_equal(smp->procs, 99);
	assert_true(smp->uptime_s == 12347.67);
	/* (4000 + 1000 + 10) and (8000 + 20) sectors of 512 bytes in 2 s */
	assert_true(smp->disk_read_bytes_per_s == 5010 * 512 / 2.0);
	assert_true(smp->disk_write_bytes_per_s == 8020 * 512 / 2.0);
	assert_int_equal(smp->nnet, 3);
	assert_non_null(n = net_named(smp, "eth0"));
	assert_true(n->rx_bytes_per_s == 1500000.0);
	assert_true(n->tx_bytes_per_s == 500000.0);
	assert_true(n->rx_errors_per_s == 2.0);
	assert_true(n->tx_errors_per_s == 1.0);
	assert_true(n->rx_bytes_total == 4000000);
	assert_true(n->tx_bytes_total == 3000000);
	assert_non_null(n = net_named(smp, "eth1"));
	assert_true(n->rx_bytes_per_s == 0); /* reset, not a wrap */
	assert_true(n->tx_bytes_per_s == 0);
	assert_true(n->rx_bytes_total == 10);
	assert_non_null(n = net_named(smp, "eth2"));
	assert_true(n->rx_bytes_per_s == 0 && n->tx_bytes_per_s == 0);

	/* No time passed: no rates, and no division by zero. */
	read_at(s, 2000000000ull, smp);
	assert_true(smp->cpu_pct == 0);
	assert_true(smp->disk_read_bytes_per_s == 0);
	assert_true(net_named(smp, "eth0")->rx_bytes_per_s == 0);

	sampler_close(s);
	tree_remove(&t);
	free(smp);
}

static void
test_mem_available_fallback(void **state)
{
	struct sample *smp = calloc(1, sizeof(*smp));
	struct sampler *s;
	struct tree t;

	assert_non_null(smp);
	tree_make(&t, 1);
	write_snapshot1(&t);
	/* A kernel before 3.14; swap lines missing altogether. */
	tree_write(&t, "proc/meminfo",
	    "MemTotal:        1000 kB\n"
	    "MemFree:          100 kB\n"
	    "Buffers:           20 kB\n"
	    "Cached:           300 kB\n");
	s = open_tree(&t);
	read_at(s, 0, smp);
	assert_int_equal(smp->failed & SAMPLE_F_MEM, 0);
	assert_true(smp->mem_total_bytes == 1000 * KB);
	assert_true(smp->mem_available_bytes == 420 * KB);
	assert_true(smp->mem_used_bytes == 580 * KB);
	assert_true(smp->swap_total_bytes == 0);
	assert_true(smp->swap_used_bytes == 0);

	/* Available above total (nonsense) gives used 0, not a wrap. */
	tree_write(&t, "proc/meminfo",
	    "MemTotal: 10 kB\nMemAvailable: 20 kB\n"
	    "SwapTotal: 5 kB\nSwapFree: 9 kB\n");
	read_at(s, 1, smp);
	assert_true(smp->mem_used_bytes == 0);
	assert_true(smp->swap_used_bytes == 0);
	sampler_close(s);
	tree_remove(&t);
	free(smp);
}

static void
test_huge_numbers(void **state)
{
	struct sample *smp = calloc(1, sizeof(*smp));
	struct sampler *s;
	struct tree t;

	assert_non_null(smp);
	tree_make(&t, 1);
	write_snapshot1(&t);
	tree_write(&t, "proc/meminfo",
	    "MemTotal: 18446744073709551615 kB\n"
	    "MemAvailable: 18014398509481984 kB\n" /* 2^54: 2^64 bytes */
	    "SwapTotal: 18446744073709551615 kB\n"
	    "SwapFree: 0 kB\n");
	tree_write(&t, "proc/stat",
	    "cpu  18446744073709551615 0 0 18446744073709551615\n"
	    "cpu0 1 1 1 1\n");
	tree_write(&t, "proc/loadavg",
	    "123456789012345678901234.5 0.000000000000000000000001 "
	    "1.99999999999999999999 1/99999999999 1\n");
	tree_write(&t, "proc/uptime", "99999999999999999999999999.99 1\n");
	s = open_tree(&t);
	read_at(s, 0, smp);
	assert_int_equal(smp->failed, 0);
	/* Saturated, not wrapped. */
	assert_true(smp->mem_total_bytes == UINT64_MAX);
	assert_true(smp->mem_available_bytes == UINT64_MAX);
	assert_true(smp->mem_used_bytes == 0);
	assert_true(smp->swap_total_bytes == UINT64_MAX);
	assert_true(smp->swap_used_bytes == UINT64_MAX);
	assert_true(smp->load1 > 1.234567e23 && smp->load1 < 1.234568e23);
	assert_true(smp->load5 == 0); /* digits past 19 are dropped */
	assert_true(smp->load15 > 1.99 && smp->load15 <= 2.0);
	assert_int_equal(smp->procs, UINT32_MAX);
	assert_true(smp->uptime_s > 9.9e25 && smp->uptime_s < 1.1e26);

	/* The counters went back to small values: no rate, no wrap. */
	tree_write(&t, "proc/stat", "cpu  1 0 0 1\ncpu0 1 1 1 1\n");
	read_at(s, 1000000000, smp);
	assert_int_equal(smp->failed, 0);
	assert_true(smp->cpu_pct == 0);
	tree_write(&t, "proc/stat", "cpu  3 0 0 3\ncpu0 1 1 1 1\n");
	read_at(s, 2000000000, smp);
	assert_true(smp->cpu_pct == 50.0);
	assert_true(smp->cpu_user_pct == 50.0);

	/* One past 2^64 - 1 is not a number. */
	tree_write(&t, "proc/meminfo", "MemTotal: 18446744073709551616 kB\n");
	read_at(s, 3000000000, smp);
	assert_true(smp->failed & SAMPLE_F_MEM);
	assert_true(smp->mem_total_bytes == 0);
	sampler_close(s);
	tree_remove(&t);
	free(smp);
}

static const char *const garbage[] = {
	"",
	"\n\n\n",
	"garbage\n",
	"\xff\xfe\x01 \t:::: / - - -\n",
	"cpu",
	"cpu  1 2\n",
	"MemTotal:\n",
	"MemTotal: kB\n",
	"0.1 0.2\n",
	"1 2 3 4/\n",
	"1 2 sda 1 2 3\n",
	"eth0: 1 2 3\n",
	": 1 2 3 4 5 6 7 8 9 10 11\n",
	"1 2 3:4 / /x rw shared:1\n",
	"1 2 x:y / /x rw - ext4 /dev/sda1 rw\n",
	"1 2 3:4 / /x rw - ext4\n",
};

static const char *const files[] = {
	"proc/stat",
	"proc/meminfo",
	"proc/loadavg",
	"proc/uptime",
	"proc/self/mountinfo",
	"proc/diskstats",
	"proc/net/dev",
};

/* clang-format off */
static const unsigned int flags[] = {
	SAMPLE_F_CPU, SAMPLE_F_MEM, SAMPLE_F_LOAD, SAMPLE_F_UPTIME,
	SAMPLE_F_DISKS, SAMPLE_F_DISKIO, SAMPLE_F_NET,
};
/* clang-format on */

/* Every file with every kind of garbage: no crash, zeros where it is, and
 * a flag for it unless the file says "nothing here" validly. */
static void
test_garbage(void **state)
{
	struct sample *smp = calloc(1, sizeof(*smp));
	struct sampler *s;
	struct tree t;
	size_t f, g;

	assert_non_null(smp);
	tree_make(&t, 1);
	tree_hw_disk(&t, "sda");
	write_snapshot1(&t);
	s = open_tree(&t);
	for (f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		for (g = 0; g < sizeof(garbage) / sizeof(garbage[0]); g++) {
			write_snapshot1(&t);
			tree_write(&t, files[f], garbage[g]);
			read_at(s, (f * 100 + g) * 1000000000ull, smp);
			/* Only the damaged section may suffer. */
			assert_int_equal(smp->failed & ~flags[f], 0);
			if (f <= 2)
				assert_true(smp->failed & flags[f]);
			/* "1 2 ..." is a valid uptime line. */
			if (f == 3 && !(smp->failed & flags[f]))
				assert_true(is_digit(garbage[g][0]));
			if (smp->failed & SAMPLE_F_CPU)
				assert_true(
				    smp->cpu_pct == 0 && smp->ncpu == 0);
			if (smp->failed & SAMPLE_F_MEM)
				assert_true(smp->mem_total_bytes == 0);
			if (smp->failed & SAMPLE_F_LOAD)
				assert_true(
				    smp->load1 == 0 && smp->procs == 0);
			if (f == 4)
				assert_int_equal(smp->ndisks, 0);
			if (f == 6)
				assert_int_equal(smp->nnet, 0);
		}
	}
	/* Garbage after good lines: the good lines still count. */
	write_snapshot1(&t);
	tree_write(&t, "proc/net/dev",
	    "  eth0: 1 1 1 1 1 1 1 1 1 1 1\n"
	    "  eth1: 1 x\nno colon here\n");
	read_at(s, 1000 * 1000000000ull, smp);
	assert_int_equal(smp->failed, SAMPLE_F_NET);
	assert_int_equal(smp->nnet, 1);

	/* A section that failed starts over: no rate from older data. */
	write_snapshot1(&t);
	read_at(s, 1001 * 1000000000ull, smp);
	tree_write(&t, "proc/stat", "nonsense\n");
	read_at(s, 1002 * 1000000000ull, smp);
	assert_true(smp->failed & SAMPLE_F_CPU);
	tree_write(&t, "proc/stat", stat2);
	read_at(s, 1003 * 1000000000ull, smp);
	assert_int_equal(smp->failed, 0);
	assert_true(smp->cpu_pct == 0);
	sampler_close(s);
	tree_remove(&t);
	free(smp);
}

static void
test_missing_files(void **state)
{
	struct sampler_conf conf = { .statvfs = stub_statvfs };
	struct sample *smp = calloc(1, sizeof(*smp));
	struct sampler *s = NULL;
	const char *what = NULL;
	struct tree t;

	assert_non_null(smp);
	tree_make(&t, 0);
	conf.root = t.root;
	/* proc/stat and proc/meminfo are required. */
	assert_int_equal(sampler_open(&conf, &s, &what), MERR_NOTFOUND);
	assert_null(s);
	assert_string_equal(what, "proc/stat");
	tree_write(&t, "proc/stat", stat1);
	assert_int_equal(sampler_open(&conf, &s, &what), MERR_NOTFOUND);
	assert_string_equal(what, "proc/meminfo");
	tree_write(&t, "proc/meminfo", meminfo1);
	/* The rest are not. */
	assert_int_equal(sampler_open(&conf, &s, &what), 0);
	read_at(s, 0, smp);
	assert_int_equal(smp->failed,
	    SAMPLE_F_LOAD | SAMPLE_F_UPTIME | SAMPLE_F_DISKS |
		SAMPLE_F_DISKIO | SAMPLE_F_NET);
	assert_int_equal(smp->ncpu, 2);
	assert_true(smp->mem_total_bytes == 16000000 * KB);
	sampler_close(s);

	/* Without sys/block, partitions are told by their names. */
	tree_write(&t, "proc/diskstats",
	    "8 0 sda 0 0 0 0 0 0 0\n8 1 sda1 0 0 0 0 0 0 0\n"
	    "259 0 nvme0n1 0 0 0 0 0 0 0\n259 1 nvme0n1p1 0 0 0 0 0 0 0\n"
	    "179 0 mmcblk0 0 0 0 0 0 0 0\n179 1 mmcblk0p12 0 0 0 0 0 0 0\n"
	    "202 1 xvda1 0 0 0 0 0 0 0\n253 0 dm-0 0 0 0 0 0 0 0\n"
	    "7 0 loop0 0 0 0 0 0 0 0\n");
	/* A file that opens but cannot be read (EISDIR). */
	tree_mkdir(&t, "proc/net/dev");
	assert_int_equal(sampler_open(&conf, &s, &what), 0);
	read_at(s, 0, smp);
	assert_true(smp->failed & SAMPLE_F_NET);
	assert_int_equal(smp->failed & SAMPLE_F_DISKIO, 0);
	assert_int_equal(s->nblk_prev, 3);
	assert_string_equal(s->blk_prev[0].name, "sda");
	assert_string_equal(s->blk_prev[1].name, "nvme0n1");
	assert_string_equal(s->blk_prev[2].name, "mmcblk0");
	sampler_close(s);

	/* A root that is not there. */
	conf.root = "/nonexistent/muster-sample";
	assert_int_equal(sampler_open(&conf, &s, &what), MERR_NOTFOUND);
	assert_string_equal(what, "/nonexistent/muster-sample");
	tree_remove(&t);
	free(smp);
}

/* More disks, interfaces and devices than kept, lines longer than the
 * buffer, a file larger than is read. */
static void
test_limits(void **state)
{
	static char big[(2u << 20) + 4096];
	struct sample *smp = calloc(1, sizeof(*smp));
	struct sampler *s;
	struct tree t;
	size_t n = 0, i;

	assert_non_null(smp);
	tree_make(&t, 1);
	write_snapshot1(&t);

	/* 100 interfaces: the first 64 (lo aside) are kept. */
	n = snprintf(big, sizeof(big), "h1\nh2\n");
	for (i = 0; i < 100; i++)
		n += snprintf(big + n, sizeof(big) - n,
		    " if%zu: %zu 0 0 0 0 0 0 0 %zu 0 0 0 0 0 0 0\n", i, i, i);
	tree_write_n(&t, "proc/net/dev", big, n);

	/* 100 real mounts, every mount point a fake_fss one: "/" under
	 * distinct devices and a too long mount point in front. */
	n = snprintf(big, sizeof(big), "1 1 1:1 / /");
	memset(big + n, 'x', SAMPLE_MOUNT_MAX);
	n += SAMPLE_MOUNT_MAX;
	n += snprintf(big + n, sizeof(big) - n, " rw - ext4 /dev/x rw\n");
	/* A line longer than the read buffer is skipped and flagged. */
	n += snprintf(big + n, sizeof(big) - n, "2 1 1:2 / /boot/efi rw ");
	memset(big + n, 'o', RDBUF_SIZE + 100);
	n += RDBUF_SIZE + 100;
	n += snprintf(big + n, sizeof(big) - n, " - ext4 /dev/y rw\n");
	for (i = 0; i < 100; i++)
		n += snprintf(big + n, sizeof(big) - n,
		    "%zu 1 9:%zu / / rw - ext4 /dev/md%zu rw\n", i + 10, i, i);
	tree_write_n(&t, "proc/self/mountinfo", big, n);

	/* 100 hardware devices: the first 64 count. */
	n = 0;
	for (i = 0; i < 100; i++) {
		char name[32];

		snprintf(name, sizeof(name), "vd%zu", i);
		tree_hw_disk(&t, name);
		n += snprintf(big + n, sizeof(big) - n,
		    "252 %zu vd%zu 0 0 %zu 0 0 0 %zu\n", i, i, i, i);
	}
	tree_write_n(&t, "proc/diskstats", big, n);

	/* /proc/stat's intr line is far longer than the buffer. */
	n = snprintf(big, sizeof(big), "%s", stat1);
	n -= strlen("btime 1700000000\n");
	n -= strlen("ctxt 999\n");
	n -= strlen("intr 12345 1 2 3 4 5\n");
	n += snprintf(big + n, sizeof(big) - n, "intr");
	for (i = 0; n < 200000; i++)
		n += snprintf(big + n, sizeof(big) - n, " %zu", i);
	n += snprintf(big + n, sizeof(big) - n, "\nctxt 1\n");
	tree_write_n(&t, "proc/stat", big, n);

	s = open_tree(&t);
	read_at(s, 0, smp);
	assert_int_equal(smp->failed, SAMPLE_F_DISKS);
	assert_int_equal(smp->ncpu, 2);
	assert_int_equal(smp->nnet, SAMPLE_IFACES_MAX);
	assert_string_equal(smp->net[63].iface, "if63");
	assert_int_equal(smp->ndisks, SAMPLE_DISKS_MAX);
	for (i = 0; i < SAMPLE_DISKS_MAX; i++) {
		assert_string_equal(smp->disks[i].mount, "/");
		assert_int_equal(smp->disks[i].dev_minor, i);
	}
	assert_int_equal(s->nblk_prev, SAMPLE_BLKDEVS_MAX);

	/* A mount table past FILE_READ_MAX is read up to there, and the
	 * line cut at that point is not taken for a whole one. */
	n = 0;
	for (i = 0; n < sizeof(big) - 4096; i++)
		n += snprintf(big + n, sizeof(big) - n,
		    "%zu 1 0:%zu / /p%zu rw - proc proc rw\n", i, i, i);
	n += snprintf(big + n, sizeof(big) - n,
	    "9 1 8:1 / / rw - ext4 "
	    "/dev/sda1 rw\n");
	tree_write_n(&t, "proc/self/mountinfo", big, n);
	read_at(s, 1000000000, smp);
	assert_int_equal(smp->ndisks, 0);
	assert_int_equal(smp->failed, SAMPLE_F_DISKS);
	sampler_close(s);
	tree_remove(&t);
	free(smp);
}

/* The decimal scanner rounds as strtod does, for what /proc prints. */
static void
test_scan_udouble(void **state)
{
	static const char *const in[] = { "0", "0.00", "0.52", "1.25", "12.75",
		"12345.67", "350735.47", "4930.54", "0.01", "99.99",
		"1234567.89", "007.5" };
	char buf[64];
	double v;
	size_t i;

	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", in[i]);
		assert_non_null(scan_udouble(buf, &v));
		assert_true(v == strtod(in[i], NULL));
	}
	snprintf(buf, sizeof(buf), "-1");
	assert_null(scan_udouble(buf, &v));
	snprintf(buf, sizeof(buf), ".5");
	assert_null(scan_udouble(buf, &v));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_readings),
		cmocka_unit_test(test_mem_available_fallback),
		cmocka_unit_test(test_huge_numbers),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_scan_udouble),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
