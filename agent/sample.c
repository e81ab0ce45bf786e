/*
 * The host's numbers from /proc, read the cheap way: every file stays open
 * and is re-read with pread from offset 0 (procfs regenerates it then),
 * through one fixed buffer, with hand-written scanners that stop as soon as
 * they have what they need. A reading allocates nothing; the agent is
 * single-threaded, so the buffer is shared by all samplers.
 */
#include "sample.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

/* Longer lines come back cut (only /proc/stat's "intr" line is). */
#define RDBUF_SIZE (16u * 1024)
/* A file is read no further: the mount table of a host with thousands of
 * containers would otherwise cost more than the rest together. */
#define FILE_READ_MAX (1u << 20)
/* user nice system idle iowait irq softirq steal; guest and guest_nice
 * follow but are already counted in user and nice. */
#define CPU_FIELDS 8
#define CPU_FIELDS_MIN 4
/* /proc/diskstats counts 512-byte sectors whatever the device's own. */
#define SECTOR_BYTES 512
#define KIB 1024
#define NS_PER_S 1e9

enum src {
	SRC_STAT,
	SRC_MEMINFO,
	SRC_LOADAVG,
	SRC_UPTIME,
	SRC_MOUNTS,
	SRC_DISKSTATS,
	SRC_NETDEV,
	SRC_N
};

static const struct {
	const char *path; /* under the root */
	unsigned int flag;
	int required;
} sources[SRC_N] = {
	[SRC_STAT] = { "proc/stat", SAMPLE_F_CPU, 1 },
	[SRC_MEMINFO] = { "proc/meminfo", SAMPLE_F_MEM, 1 },
	[SRC_LOADAVG] = { "proc/loadavg", SAMPLE_F_LOAD, 0 },
	[SRC_UPTIME] = { "proc/uptime", SAMPLE_F_UPTIME, 0 },
	/* mountinfo rather than mounts: it has the device number, which
	 * tells two mounts of one file system apart without a stat each. */
	[SRC_MOUNTS] = { "proc/self/mountinfo", SAMPLE_F_DISKS, 0 },
	[SRC_DISKSTATS] = { "proc/diskstats", SAMPLE_F_DISKIO, 0 },
	[SRC_NETDEV] = { "proc/net/dev", SAMPLE_F_NET, 0 },
};

/*
 * File systems left out of the disks. Kernel interfaces and memory file
 * systems have no backing store (a zero size catches the rest of those);
 * squashfs images (snaps) are read-only and always full; and statvfs on a
 * remote file system blocks while its server is unreachable, which would
 * stop every stream of the single-threaded agent.
 */
/* clang-format off */
static const char *const skip_fstypes[] = {
	"autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs",
	"debugfs", "devfs", "devpts", "devtmpfs", "efivarfs", "fusectl",
	"fuse.gvfsd-fuse", "fuse.lxcfs", "fuse.portal", "hugetlbfs", "mqueue",
	"nfsd", "nsfs", "pipefs", "proc", "pstore", "ramfs", "rootfs",
	"rpc_pipefs", "securityfs", "selinuxfs", "sockfs", "squashfs",
	"sysfs", "tmpfs", "tracefs", "usbfs", "xenfs",
	"afs", "ceph", "cifs", "fuse.glusterfs", "fuse.sshfs", "glusterfs",
	"lustre", "ncpfs", "nfs", "nfs4", "smb3", "smbfs",
};
/* clang-format on */

/* Block devices that are never the hardware: counting a device-mapper or
 * md device besides the disks below it would count its I/O twice. */
/* clang-format off */
static const char *const skip_blkdev_prefixes[] = {
	"dm-", "loop", "md", "nbd", "ram", "zram",
};
/* clang-format on */

/* Counters of one device or interface at the previous reading. */
struct ctr {
	char name[SAMPLE_BLKDEV_MAX];
	uint64_t v[4];
};

struct sampler {
	int rootfd;
	int fd[SRC_N];
	/* Without sys/block (a container without sysfs) partitions are
	 * told from whole devices by their names. */
	int have_sysblock;
	int (*statvfs_fn)(const char *, struct statvfs *);

	int have_prev;
	uint64_t prev_ns;
	int cpu_valid;
	uint64_t cpu_prev[CPU_FIELDS];
	int blk_valid;
	struct ctr blk_prev[SAMPLE_BLKDEVS_MAX];
	struct ctr blk_cur[SAMPLE_BLKDEVS_MAX];
	size_t nblk_prev;
	int net_valid;
	struct ctr net_prev[SAMPLE_IFACES_MAX];
	size_t nnet_prev;
};

/* --- reading lines -------------------------------------------------------- */

static char rdbuf[RDBUF_SIZE + 1];

struct lines {
	int fd;
	off_t off;  /* file offset of rdbuf[len] */
	size_t pos; /* first unread byte in rdbuf */
	size_t len; /* bytes in rdbuf */
	int eof;
	int capped; /* eof is FILE_READ_MAX, not the end */
	int skip;   /* drop bytes up to the next newline */
	int cut;    /* the line returned last was cut */
	int err;    /* errno of a failed read */
};

static void
lines_begin(struct lines *l, int fd)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
}

/*
 * The next line, NUL-terminated in place without its newline, or NULL at
 * the end (l->err set after a read error). A line longer than the buffer
 * comes back cut to its size with l->cut set, and its rest is skipped.
 * Valid until the next call.
 */
static char *
lines_next(struct lines *l)
{
	char *p, *nl;
	size_t avail;
	ssize_t n;

	l->cut = 0;
	for (;;) {
		p = rdbuf + l->pos;
		avail = l->len - l->pos;
		if ((nl = memchr(p, '\n', avail)) != NULL) {
			l->pos += nl - p + 1;
			if (l->skip) {
				l->skip = 0;
				continue;
			}
			*nl = '\0';
			return p;
		}
		if (l->skip) {
			l->pos = l->len = 0;
			avail = 0;
		}
		if (l->eof) {
			/* A last line without a newline still counts. */
			if (avail == 0 || l->skip)
				return NULL;
			p[avail] = '\0';
			l->pos = l->len;
			l->cut = l->capped;
			return p;
		}
		if (avail == RDBUF_SIZE) {
			p[avail] = '\0';
			l->pos = l->len;
			l->skip = 1;
			l->cut = 1;
			return p;
		}
		memmove(rdbuf, p, avail);
		l->pos = 0;
		l->len = avail;
		if (l->off >= FILE_READ_MAX) {
			l->eof = l->capped = 1;
			continue;
		}
		n = pread(l->fd, rdbuf + l->len, RDBUF_SIZE - l->len, l->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			l->err = errno;
			return NULL;
		}
		if (n == 0)
			l->eof = 1;
		l->off += n;
		l->len += n;
	}
}

/* --- scanners ------------------------------------------------------------- */

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char *
skip_blanks(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A decimal after blanks; NULL without digits or above 2^64 - 1. */
static char *
scan_u64(char *p, uint64_t *v)
{
	uint64_t x = 0;
	unsigned int d;

	p = skip_blanks(p);
	if (!is_digit(*p))
		return NULL;
	for (; is_digit(*p); p++) {
		d = *p - '0';
		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
	}
	*v = x;
	return p;
}

/*
 * digits[.digits] after blanks. The digits are taken as one integer and
 * divided by a power of ten, which rounds correctly (like strtod) while
 * they fit in 53 bits; digits past 19 are dropped.
 */
static char *
scan_udouble(char *p, double *v)
{
	static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
		1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
		1e19 };
	uint64_t mant = 0;
	int ndig = 0, frac = 0, scale = 0;

	p = skip_blanks(p);
	if (!is_digit(*p))
		return NULL;
	for (; is_digit(*p); p++) {
		if (ndig < 19) {
			mant = mant * 10 + (*p - '0');
			if (mant != 0)
				ndig++;
		} else
			scale++; /* an integer part past 19 digits */
	}
	if (*p == '.') {
		for (p++; is_digit(*p); p++) {
			if (ndig < 19 && frac < 19) {
				mant = mant * 10 + (*p - '0');
				if (mant != 0)
					ndig++;
				frac++;
			}
		}
	}
	*v = (double)mant / pow10[frac];
	while (scale-- > 0)
		*v *= 10;
	return p;
}

/* The next blank-separated word, NUL-terminated in place; NULL if none. */
static char *
next_word(char **pp)
{
	char *p = skip_blanks(*pp), *w;

	if (*p == '\0')
		return NULL;
	w = p;
	while (*p != '\0' && *p != ' ' && *p != '\t')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*pp = p;
	return w;
}

static uint64_t
mul_sat(uint64_t a, uint64_t b)
{
	uint64_t r;

	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static uint64_t
add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Counters only grow; one that went back was reset (or wrapped). */
static double
rate(uint64_t cur, uint64_t prev, double dt)
{
	if (dt <= 0 || cur < prev)
		return 0;
	return (double)(cur - prev) / dt;
}

static size_t
copy_name(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

/* The entry named name, looked up at hint first: the kernel lists
 * devices in the same order from one reading to the next. */
static const struct ctr *
ctr_find(const struct ctr *t, size_t n, size_t hint, const char *name)
{
	size_t i;

	if (hint < n && strcmp(t[hint].name, name) == 0)
		return &t[hint];
	for (i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

/* --- /proc/stat ----------------------------------------------------------- */

static int
read_cpu(struct sampler *s, struct sample *out)
{
	uint64_t cur[CPU_FIELDS] = { 0 }, d[CPU_FIELDS], total = 0;
	struct lines l;
	char *line, *p;
	int i, nfields = 0, seen = 0;
	long n;

	lines_begin(&l, s->fd[SRC_STAT]);
	/* "cpu" then "cpu0".."cpuN" come first; what follows ("intr", a
	 * very long line) is not read. */
	while ((line = lines_next(&l)) != NULL) {
		if (strncmp(line, "cpu", 3) != 0)
			break;
		if (is_digit(line[3])) {
			if (out->ncpu < UINT32_MAX)
				out->ncpu++;
			continue;
		}
		if ((line[3] != ' ' && line[3] != '\t') || seen || l.cut)
			return -1;
		seen = 1;
		for (p = line + 3; nfields < CPU_FIELDS; nfields++)
			if ((p = scan_u64(p, &cur[nfields])) == NULL)
				break;
		if (nfields < CPU_FIELDS_MIN)
			return -1;
	}
	if (l.err != 0 || !seen)
		return -1;
	if (out->ncpu == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) > 0)
		out->ncpu = n;
	if (s->cpu_valid && s->have_prev) {
		/* iowait is known to go backwards on some kernels. */
		for (i = 0; i < CPU_FIELDS; i++) {
			d[i] = sub0(cur[i], s->cpu_prev[i]);
			total = add_sat(total, d[i]);
		}
		if (total > 0) {
			double t = total;

			out->cpu_pct = 100.0 * (total - d[3] - d[4]) / t;
			out->cpu_user_pct = 100.0 * (d[0] + d[1]) / t;
			out->cpu_system_pct = 100.0 * (d[2] + d[5] + d[6]) / t;
			out->cpu_iowait_pct = 100.0 * d[4] / t;
			out->cpu_steal_pct = 100.0 * d[7] / t;
		}
	}
	memcpy(s->cpu_prev, cur, sizeof(cur));
	return 0;
}

/* --- /proc/meminfo -------------------------------------------------------- */

enum {
	MEM_TOTAL,
	MEM_FREE,
	MEM_AVAILABLE,
	MEM_BUFFERS,
	MEM_CACHED,
	MEM_SWAP_TOTAL,
	MEM_SWAP_FREE,
	MEM_N
};

/* clang-format off */
static const char *const mem_keys[MEM_N] = {
	"MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached",
	"SwapTotal", "SwapFree",
};
/* clang-format on */

static int
read_mem(struct sampler *s, struct sample *out)
{
	uint64_t v[MEM_N] = { 0 }, x;
	unsigned int found = 0, all = (1u << MEM_N) - 1;
	struct lines l;
	char *line, *colon;
	int i;

	lines_begin(&l, s->fd[SRC_MEMINFO]);
	while (found != all && (line = lines_next(&l)) != NULL) {
		if (l.cut || (colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		for (i = 0; i < MEM_N; i++)
			if (strcmp(line, mem_keys[i]) == 0)
				break;
		if (i == MEM_N || (found & (1u << i)))
			continue;
		if (scan_u64(colon + 1, &x) == NULL)
			return -1;
		/* Every field we read is in kB (KiB, in fact). */
		v[i] = mul_sat(x, KIB);
		found |= 1u << i;
	}
	if (l.err != 0 || !(found & (1u << MEM_TOTAL)))
		return -1;
	out->mem_total_bytes = v[MEM_TOTAL];
	/* Kernels before 3.14 have no MemAvailable: approximate it the way
	 * free(1) did then. */
	if (found & (1u << MEM_AVAILABLE))
		out->mem_available_bytes = v[MEM_AVAILABLE];
	else
		out->mem_available_bytes = add_sat(
		    add_sat(v[MEM_FREE], v[MEM_BUFFERS]), v[MEM_CACHED]);
	out->mem_used_bytes = sub0(v[MEM_TOTAL], out->mem_available_bytes);
	out->swap_total_bytes = v[MEM_SWAP_TOTAL];
	out->swap_used_bytes = sub0(v[MEM_SWAP_TOTAL], v[MEM_SWAP_FREE]);
	return 0;
}

/* --- /proc/loadavg, /proc/uptime ------------------------------------------ */

/* "0.20 0.18 0.12 1/80 11206": procs is the 80, the kernel's scheduling
 * entities (threads), which costs nothing, unlike counting /proc. */
static int
read_load(struct sampler *s, struct sample *out)
{
	double l1, l5, l15;
	uint64_t running, total;
	struct lines l;
	char *p;

	lines_begin(&l, s->fd[SRC_LOADAVG]);
	if ((p = lines_next(&l)) == NULL || l.cut ||
	    (p = scan_udouble(p, &l1)) == NULL ||
	    (p = scan_udouble(p, &l5)) == NULL ||
	    (p = scan_udouble(p, &l15)) == NULL ||
	    (p = scan_u64(p, &running)) == NULL || *p != '/' ||
	    scan_u64(p + 1, &total) == NULL)
		return -1;
	out->load1 = l1;
	out->load5 = l5;
	out->load15 = l15;
	out->procs = total > UINT32_MAX ? UINT32_MAX : total;
	return 0;
}

/* "350735.47 234388.90": up, and idle summed over the CPUs. */
static int
read_uptime(struct sampler *s, struct sample *out)
{
	double up, idle;
	struct lines l;
	char *p;

	lines_begin(&l, s->fd[SRC_UPTIME]);
	if ((p = lines_next(&l)) == NULL || l.cut ||
	    (p = scan_udouble(p, &up)) == NULL ||
	    scan_udouble(p, &idle) == NULL)
		return -1;
	out->uptime_s = up;
	return 0;
}

/* --- file systems --------------------------------------------------------- */

static int
skipped_fstype(const char *fstype)
{
	size_t i;

	for (i = 0; i < sizeof(skip_fstypes) / sizeof(skip_fstypes[0]); i++)
		if (strcmp(fstype, skip_fstypes[i]) == 0)
			return 1;
	return 0;
}

/* The kernel writes space, tab, newline and backslash in a path as
 * \040, \011, \012 and \134. */
static void
unescape_octal(char *p)
{
	char *q = p;

	for (; *p != '\0'; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
		    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*q++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 |
			    (p[3] - '0'));
			p += 3;
		} else
			*q++ = *p;
	}
	*q = '\0';
}

/* FNV-1a; 0 is kept for "no device source". */
static uint64_t
hash_source(const char *src)
{
	uint64_t h = 14695981039346656037ull;

	if (strncmp(src, "/dev/", 5) != 0)
		return 0;
	for (; *src != '\0'; src++) {
		h ^= (unsigned char)*src;
		h *= 1099511628211ull;
	}
	return h != 0 ? h : 1;
}

/*
 * One file system is listed once, under its shortest mount point ("/"
 * rather than a bind mount of it). Same device number: a bind mount; same
 * /dev source: btrfs subvolumes, which have device numbers of their own
 * but share the space.
 */
static struct sample_disk *
find_same_fs(struct sample *out, uint32_t major, uint32_t minor,
    uint64_t source_hash)
{
	struct sample_disk *d;
	size_t i;

	for (i = 0; i < out->ndisks; i++) {
		d = &out->disks[i];
		if ((d->dev_major == major && d->dev_minor == minor) ||
		    (source_hash != 0 && d->source_hash == source_hash))
			return d;
	}
	return NULL;
}

/*
 * "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root
 * rw,errors=continue": device, mount point, then after the optional
 * fields and "-", type and source. 0 with nothing added for a mount that
 * is left out, -1 for a line that is not like that.
 */
static int
add_mount(struct sampler *s, char *line, struct sample *out)
{
	char *p = line, *dev, *mnt, *w, *fstype, *source, *colon;
	uint64_t major, minor, hash;
	struct sample_disk *d;
	struct statvfs st;
	size_t mlen;

	/* Each call takes the next word. */
	/* NOLINTNEXTLINE(misc-redundant-expression) */
	if (next_word(&p) == NULL || next_word(&p) == NULL ||
	    (dev = next_word(&p)) == NULL || next_word(&p) == NULL ||
	    (mnt = next_word(&p)) == NULL || next_word(&p) == NULL)
		return -1;
	while ((w = next_word(&p)) != NULL && strcmp(w, "-") != 0)
		;
	if (w == NULL || (fstype = next_word(&p)) == NULL ||
	    (source = next_word(&p)) == NULL)
		return -1;
	if ((colon = scan_u64(dev, &major)) == NULL || *colon != ':' ||
	    (colon = scan_u64(colon + 1, &minor)) == NULL || *colon != '\0' ||
	    major > UINT32_MAX || minor > UINT32_MAX)
		return -1;
	if (skipped_fstype(fstype))
		return 0;
	unescape_octal(mnt);
	if ((mlen = strlen(mnt)) >= SAMPLE_MOUNT_MAX)
		return 0;
	unescape_octal(source);
	hash = hash_source(source);
	if ((d = find_same_fs(out, major, minor, hash)) != NULL) {
		if (mlen < strlen(d->mount))
			memcpy(d->mount, mnt, mlen + 1);
		return 0;
	}
	if (out->ndisks == SAMPLE_DISKS_MAX)
		return 0;
	/* A mount we may not look into, or one gone since the table was
	 * read, is simply not there. */
	if (s->statvfs_fn(mnt, &st) != 0 || st.f_blocks == 0)
		return 0;
	d = &out->disks[out->ndisks++];
	memcpy(d->mount, mnt, mlen + 1);
	copy_name(d->fstype, sizeof(d->fstype), fstype);
	d->total_bytes = mul_sat(st.f_blocks, st.f_frsize);
	d->used_bytes = mul_sat(sub0(st.f_blocks, st.f_bfree), st.f_frsize);
	d->avail_bytes = mul_sat(st.f_bavail, st.f_frsize);
	d->inodes_total = st.f_files;
	d->inodes_used = sub0(st.f_files, st.f_ffree);
	d->dev_major = major;
	d->dev_minor = minor;
	d->source_hash = hash;
	return 0;
}

/* A line that makes no sense is skipped and flagged, and so is a table
 * not read to its end; -1 only when the file cannot be read. So for the
 * other tables below. */
static int
read_disks(struct sampler *s, struct sample *out)
{
	struct lines l;
	char *line;

	lines_begin(&l, s->fd[SRC_MOUNTS]);
	while ((line = lines_next(&l)) != NULL)
		if (l.cut || add_mount(s, line, out) != 0)
			out->failed |= SAMPLE_F_DISKS;
	if (l.capped)
		out->failed |= SAMPLE_F_DISKS;
	if (l.err != 0) {
		out->ndisks = 0;
		return -1;
	}
	return 0;
}

/* --- /proc/diskstats ------------------------------------------------------ */

/* sda1, vdb2, xvda1, nvme0n1p2, mmcblk0p1: for hosts without sysfs. */
static int
partition_name(const char *name)
{
	size_t n = strlen(name), i = n;

	if (n == 0 || !is_digit(name[n - 1]))
		return 0;
	if (strncmp(name, "sd", 2) == 0 || strncmp(name, "hd", 2) == 0 ||
	    strncmp(name, "vd", 2) == 0 || strncmp(name, "xvd", 3) == 0)
		return 1;
	while (i > 0 && is_digit(name[i - 1]))
		i--;
	return i >= 2 && name[i - 1] == 'p' && is_digit(name[i - 2]);
}

/*
 * Whole devices backed by hardware (or what a VM presents as such): they
 * have sys/block/<name>/device, which partitions (not in sys/block) and
 * virtual devices (dm, md, loop, zram) lack, so no byte counts twice.
 */
static int
hardware_disk(struct sampler *s, const char *name)
{
	char path[sizeof("sys/block//device") + SAMPLE_BLKDEV_MAX];
	size_t i, n;

	for (i = 0; i <
	     sizeof(skip_blkdev_prefixes) / sizeof(skip_blkdev_prefixes[0]);
	     i++)
		if (strncmp(name, skip_blkdev_prefixes[i],
			strlen(skip_blkdev_prefixes[i])) == 0)
			return 0;
	if (!s->have_sysblock)
		return !partition_name(name);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	memcpy(path, "sys/block/", 10);
	n = 10;
	/* sysfs writes the '/' of names like cciss/c0d0 as '!'. */
	for (; *name != '\0'; name++)
		path[n++] = *name == '/' ? '!' : *name;
	memcpy(path + n, "/device", sizeof("/device"));
	return faccessat(s->rootfd, path, F_OK, 0) == 0;
}

/* "8 0 sda reads merged sectors ms writes merged sectors ms ..." */
static int
read_diskio(struct sampler *s, struct sample *out, double dt)
{
	uint64_t f[7], major, minor;
	const struct ctr *prev;
	double rd = 0, wr = 0;
	struct ctr *c;
	struct lines l;
	char *line, *p, *name;
	size_t ncur = 0;
	int i;

	lines_begin(&l, s->fd[SRC_DISKSTATS]);
	while ((line = lines_next(&l)) != NULL) {
		p = line;
		if (l.cut || (p = scan_u64(p, &major)) == NULL ||
		    (p = scan_u64(p, &minor)) == NULL ||
		    (name = next_word(&p)) == NULL) {
			out->failed |= SAMPLE_F_DISKIO;
			continue;
		}
		for (i = 0; i < 7; i++)
			if ((p = scan_u64(p, &f[i])) == NULL)
				break;
		if (i < 7) {
			out->failed |= SAMPLE_F_DISKIO;
			continue;
		}
		if (strlen(name) >= SAMPLE_BLKDEV_MAX ||
		    ncur == SAMPLE_BLKDEVS_MAX || !hardware_disk(s, name))
			continue;
		c = &s->blk_cur[ncur];
		copy_name(c->name, sizeof(c->name), name);
		c->v[0] = f[2]; /* sectors read */
		c->v[1] = f[6]; /* sectors written */
		if (s->blk_valid &&
		    (prev = ctr_find(s->blk_prev, s->nblk_prev, ncur,
			 c->name)) != NULL) {
			rd += rate(c->v[0], prev->v[0], dt);
			wr += rate(c->v[1], prev->v[1], dt);
		}
		ncur++;
	}
	if (l.capped)
		out->failed |= SAMPLE_F_DISKIO;
	if (l.err != 0)
		return -1;
	/* A device that appeared since the last reading adds nothing yet:
	 * its counters since boot are no rate. */
	memcpy(s->blk_prev, s->blk_cur, ncur * sizeof(s->blk_cur[0]));
	s->nblk_prev = ncur;
	out->disk_read_bytes_per_s = rd * SECTOR_BYTES;
	out->disk_write_bytes_per_s = wr * SECTOR_BYTES;
	return 0;
}

/* --- /proc/net/dev -------------------------------------------------------- */

/* "  eth0: rx bytes packets errs drop fifo frame compressed multicast
 * tx bytes packets errs ...", after two lines of headings. */
static int
read_net(struct sampler *s, struct sample *out, double dt)
{
	uint64_t f[11];
	const struct ctr *prev;
	struct sample_net *n;
	struct lines l;
	char *line, *name, *colon, *p;
	int i;

	lines_begin(&l, s->fd[SRC_NETDEV]);
	while ((line = lines_next(&l)) != NULL) {
		/* The headings have no ':'; names cannot have one. */
		if ((colon = strchr(line, ':')) == NULL)
			continue;
		*colon = '\0';
		name = skip_blanks(line);
		p = colon + 1;
		for (i = 0; i < 11; i++)
			if ((p = scan_u64(p, &f[i])) == NULL)
				break;
		if (l.cut || i < 11 || *name == '\0') {
			out->failed |= SAMPLE_F_NET;
			continue;
		}
		if (strcmp(name, "lo") == 0 ||
		    strlen(name) >= SAMPLE_IFACE_MAX ||
		    out->nnet == SAMPLE_IFACES_MAX)
			continue;
		n = &out->net[out->nnet];
		copy_name(n->iface, sizeof(n->iface), name);
		n->rx_bytes_total = f[0];
		n->rx_errors_total = f[2];
		n->tx_bytes_total = f[8];
		n->tx_errors_total = f[10];
		if (s->net_valid &&
		    (prev = ctr_find(s->net_prev, s->nnet_prev, out->nnet,
			 n->iface)) != NULL) {
			n->rx_bytes_per_s = rate(f[0], prev->v[0], dt);
			n->tx_bytes_per_s = rate(f[8], prev->v[1], dt);
			n->rx_errors_per_s = rate(f[2], prev->v[2], dt);
			n->tx_errors_per_s = rate(f[10], prev->v[3], dt);
		}
		out->nnet++;
	}
	if (l.capped)
		out->failed |= SAMPLE_F_NET;
	if (l.err != 0) {
		out->nnet = 0;
		return -1;
	}
	for (s->nnet_prev = 0; s->nnet_prev < out->nnet; s->nnet_prev++) {
		n = &out->net[s->nnet_prev];
		copy_name(s->net_prev[s->nnet_prev].name,
		    sizeof(s->net_prev[0].name), n->iface);
		s->net_prev[s->nnet_prev].v[0] = n->rx_bytes_total;
		s->net_prev[s->nnet_prev].v[1] = n->tx_bytes_total;
		s->net_prev[s->nnet_prev].v[2] = n->rx_errors_total;
		s->net_prev[s->nnet_prev].v[3] = n->tx_errors_total;
	}
	return 0;
}

/* --- the sampler ---------------------------------------------------------- */

static int
errno_code(int e)
{
	if (e == ENOENT)
		return MERR_NOTFOUND;
	if (e == ENOMEM)
		return MERR_NOMEM;
	return MERR_SYS;
}

int
sampler_open(const struct sampler_conf *conf, struct sampler **out,
    const char **what)
{
	const char *root = conf != NULL && conf->root != NULL ?
	    conf->root :
	    "/";
	struct sampler *s;
	int i, r, saved;

	*out = NULL;
	*what = root;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < SRC_N; i++)
		s->fd[i] = -1;
	s->statvfs_fn = conf != NULL && conf->statvfs != NULL ?
	    conf->statvfs :
	    statvfs;
	if ((s->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	for (i = 0; i < SRC_N; i++) {
		s->fd[i] = openat(s->rootfd, sources[i].path,
		    O_RDONLY | O_NOCTTY | O_CLOEXEC);
		if (s->fd[i] == -1 && sources[i].required) {
			*what = sources[i].path;
			goto fail;
		}
	}
	s->have_sysblock = faccessat(s->rootfd, "sys/block", F_OK, 0) == 0;
	*out = s;
	return 0;
fail:
	saved = errno;
	r = errno_code(saved);
	sampler_close(s);
	errno = saved;
	return r;
}

void
sampler_close(struct sampler *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < SRC_N; i++)
		if (s->fd[i] != -1)
			(void)close(s->fd[i]);
	if (s->rootfd != -1)
		(void)close(s->rootfd);
	free(s);
}

void
sample_time_now(struct sample_time *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t->mono_ns = (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
	clock_gettime(CLOCK_REALTIME, &ts);
	t->real_ms = (uint64_t)ts.tv_sec * 1000u + ts.tv_nsec / 1000000;
}

void
sampler_read(struct sampler *s, const struct sample_time *now,
    struct sample *out)
{
	double dt = 0;
	int ok;

	memset(out, 0, sizeof(*out));
	out->ts_ms = now->real_ms;
	if (s->have_prev && now->mono_ns > s->prev_ns)
		dt = (now->mono_ns - s->prev_ns) / NS_PER_S;
	/* A section that fails is zeroed and starts over: its next rates
	 * would otherwise span the gap from an older reading. */
	ok = s->fd[SRC_STAT] != -1 && read_cpu(s, out) == 0;
	if (!ok) {
		out->cpu_pct = out->cpu_user_pct = out->cpu_system_pct = 0;
		out->cpu_iowait_pct = out->cpu_steal_pct = 0;
		out->ncpu = 0;
		out->failed |= SAMPLE_F_CPU;
	}
	s->cpu_valid = ok;
	if (s->fd[SRC_MEMINFO] == -1 || read_mem(s, out) != 0)
		out->failed |= SAMPLE_F_MEM;
	if (s->fd[SRC_LOADAVG] == -1 || read_load(s, out) != 0)
		out->failed |= SAMPLE_F_LOAD;
	if (s->fd[SRC_UPTIME] == -1 || read_uptime(s, out) != 0)
		out->failed |= SAMPLE_F_UPTIME;
	if (s->fd[SRC_MOUNTS] == -1 || read_disks(s, out) != 0)
		out->failed |= SAMPLE_F_DISKS;
	ok = s->fd[SRC_DISKSTATS] != -1 && read_diskio(s, out, dt) == 0;
	if (!ok) {
		out->disk_read_bytes_per_s = out->disk_write_bytes_per_s = 0;
		out->failed |= SAMPLE_F_DISKIO;
	}
	s->blk_valid = ok;
	ok = s->fd[SRC_NETDEV] != -1 && read_net(s, out, dt) == 0;
	if (!ok)
		out->failed |= SAMPLE_F_NET;
	s->net_valid = ok;
	s->prev_ns = now->mono_ns;
	s->have_prev = 1;
}
