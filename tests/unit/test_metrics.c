#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "fake_sample.h"
#include "metrics.h"

static ProtobufCBinaryData
bytes(const char *p, size_t n)
{
	ProtobufCBinaryData b = { n, (uint8_t *)p };

	return b;
}

#define BYTES(lit) bytes(lit, sizeof(lit) - 1)

static void
fake_init(struct fake *f)
{
	fake_sample_init(f);
	f->s.ts_ms = 1700000000123ULL;
	f->s.cpu_pct = 25;
	f->s.cpu_user_pct = 12.5;
	f->s.cpu_system_pct = 10;
	f->s.cpu_iowait_pct = 2;
	f->s.cpu_steal_pct = 0.5;
	f->s.ncpu = 8;
	f->s.load1 = 1.5;
	f->s.load5 = 0.75;
	f->s.load15 = 0.25;
	f->s.mem_total_bytes = 8589934592ULL;
	f->s.mem_available_bytes = 4294967296ULL;
	f->s.mem_used_bytes = 3221225472ULL;
	f->s.swap_total_bytes = 1073741824ULL;
	f->s.swap_used_bytes = 1048576;
	f->s.disk_read_bytes_per_s = 4096;
	f->s.disk_write_bytes_per_s = 8192.5;
	f->s.procs = 321;
	f->s.uptime_s = 86400.25;
}

static void
fake_disk(struct fake *f, ProtobufCBinaryData mount, ProtobufCBinaryData fs,
    uint64_t total, uint64_t used)
{
	Muster__DiskUsage *d = &f->d[f->s.n_disks++];

	d->mount = mount;
	d->fstype = fs;
	d->total_bytes = total;
	d->used_bytes = used;
	d->inodes_total = 1000;
	d->inodes_used = 10;
}

static void
fake_net(struct fake *f, ProtobufCBinaryData iface, double rx)
{
	Muster__NetRate *n = &f->n[f->s.n_net++];

	n->iface = iface;
	n->rx_bytes_per_s = rx;
	n->tx_bytes_per_s = rx / 2;
	n->rx_bytes_total = 123456789012ULL;
	n->tx_bytes_total = 42;
}

/* Render into a NUL-terminated string the caller frees. */
static char *
render(const struct metrics_host *hosts, size_t n)
{
	struct buf out;
	char *text;

	buf_init(&out, METRICS_MAX_BYTES);
	assert_int_equal(metrics_render(hosts, n, &out), 0);
	text = calloc(1, buf_len(&out) + 1);
	assert_non_null(text);
	if (buf_len(&out) > 0)
		memcpy(text, buf_ptr(&out), buf_len(&out));
	buf_free(&out);
	return text;
}

static void
assert_has(const char *text, const char *want)
{
	if (strstr(text, want) == NULL)
		fail_msg("missing \"%s\" in:\n%s", want, text);
}

static void
assert_lacks(const char *text, const char *unwanted)
{
	if (strstr(text, unwanted) != NULL)
		fail_msg("unexpected \"%s\" in:\n%s", unwanted, text);
}

static size_t
count(const char *text, const char *needle)
{
	size_t n = 0;
	const char *p;

	for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/*
 * Format rules a Prometheus parser enforces: every family's lines form one
 * group after its HELP and TYPE, each TYPE once, the text ends in newline.
 */
static void
assert_grouped(const char *text)
{
	char names[128][80], cur[80] = "", name[80], want[120];
	size_t nnames = 0, i, len;
	const char *line, *end;

	assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
	for (line = text; *line != '\0'; line = end + 1) {
		end = strchr(line, '\n');
		assert_non_null(end);
		if (line[0] == '#')
			continue;
		len = strcspn(line, "{ ");
		assert_true(len < sizeof(name));
		memcpy(name, line, len);
		name[len] = '\0';
		if (strcmp(name, cur) == 0)
			continue;
		for (i = 0; i < nnames; i++) {
			if (strcmp(names[i], name) == 0)
				fail_msg("family %s is split", name);
		}
		assert_true(nnames < 128);
		snprintf(names[nnames++], sizeof(names[0]), "%s", name);
		snprintf(cur, sizeof(cur), "%s", name);
	}
	for (i = 0; i < nnames; i++) {
		snprintf(want, sizeof(want), "# TYPE %.79s ", names[i]);
		assert_int_equal(count(text, want), 1);
	}
}

/* Nothing injected a line of its own. */
static void
assert_lines_start(const char *text)
{
	const char *line;

	for (line = text; *line != '\0'; line = strchr(line, '\n') + 1) {
		if (strncmp(line, "# HELP muster_", 14) != 0 &&
		    strncmp(line, "# TYPE muster_", 14) != 0 &&
		    strncmp(line, "muster_", 7) != 0)
			fail_msg("stray line: %.60s", line);
	}
}

/* RFC 3629 well-formedness, written independently of metrics.c. */
static int
valid_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xe0) == 0xc0)
			len = 2, cp = p[i] & 0x1f;
		else if ((p[i] & 0xf0) == 0xe0)
			len = 3, cp = p[i] & 0x0f;
		else if ((p[i] & 0xf8) == 0xf0)
			len = 4, cp = p[i] & 0x07;
		else
			return 0;
		if (i + len > n)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

/*
 * The authority on the format: promtool parses the text and lints names,
 * HELP and TYPE. Skipped when it is not installed.
 */
static void
promtool_check(const char *text)
{
	char path[] = "/tmp/test_metrics.XXXXXX", cmd[256];
	int fd, st;

	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not installed: skipping the format "
			      "check\n");
		skip();
	}
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	st = system(cmd);
	unlink(path);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("promtool check metrics failed (status %d) on:\n%s",
		    st, text);
}

/* An up host with a sample, one down, one up without a sample yet. */
static char *
render_fleet(struct fake *f)
{
	struct metrics_host hosts[3] = {
		{ "web1", true, 1699990000, &f->s, 1700000005.25 },
		{ "db", false, 1700000000, &f->s, 1699999997 },
		{ "new", true, 1700000001.5, NULL, 0 },
	};

	fake_init(f);
	fake_disk(f, BYTES("/"), BYTES("ext4"), 100000, 25000);
	fake_disk(f, BYTES("/var"), BYTES("xfs"), 200000, 190000);
	fake_net(f, BYTES("eth0"), 1000);
	fake_net(f, BYTES("eth1"), 0.5);
	return render(hosts, 3);
}

static void
test_fleet(void **state)
{
	struct fake f;
	char *t = render_fleet(&f);

	assert_has(t, "# HELP muster_up ");
	assert_has(t, "# TYPE muster_up gauge\n");
	assert_has(t, "muster_up{host=\"web1\"} 1\n");
	assert_has(t, "muster_up{host=\"db\"} 0\n");
	assert_has(t, "muster_up{host=\"new\"} 1\n");
	assert_has(t,
	    "muster_up_since_timestamp_seconds{host=\"web1\"} "
	    "1699990000\n");
	assert_has(t,
	    "muster_up_since_timestamp_seconds{host=\"new\"} "
	    "1700000001.5\n");
	assert_has(t,
	    "muster_down_since_timestamp_seconds{host=\"db\"} "
	    "1700000000\n");
	assert_has(t,
	    "muster_sample_timestamp_seconds{host=\"web1\"} "
	    "1700000000.123\n");
	assert_has(t,
	    "muster_cpu_usage_ratio{host=\"web1\",mode=\"total\"} "
	    "0.25\n");
	assert_has(t,
	    "muster_cpu_usage_ratio{host=\"web1\",mode=\"user\"} "
	    "0.125\n");
	assert_has(t,
	    "muster_cpu_usage_ratio{host=\"web1\",mode=\"system\"} "
	    "0.1\n");
	assert_has(t,
	    "muster_cpu_usage_ratio{host=\"web1\",mode=\"iowait\"} "
	    "0.02\n");
	assert_has(t,
	    "muster_cpu_usage_ratio{host=\"web1\",mode=\"steal\"} "
	    "0.005\n");
	assert_has(t, "muster_cpus{host=\"web1\"} 8\n");
	assert_has(t, "muster_load1{host=\"web1\"} 1.5\n");
	assert_has(t, "muster_load5{host=\"web1\"} 0.75\n");
	assert_has(t, "muster_load15{host=\"web1\"} 0.25\n");
	assert_has(t, "muster_memory_total_bytes{host=\"web1\"} 8589934592\n");
	assert_has(t,
	    "muster_memory_available_bytes{host=\"web1\"} "
	    "4294967296\n");
	assert_has(t, "muster_memory_used_bytes{host=\"web1\"} 3221225472\n");
	assert_has(t, "muster_swap_total_bytes{host=\"web1\"} 1073741824\n");
	assert_has(t, "muster_swap_used_bytes{host=\"web1\"} 1048576\n");
	assert_has(t,
	    "muster_filesystem_size_bytes{host=\"web1\","
	    "mountpoint=\"/\",fstype=\"ext4\"} 100000\n");
	assert_has(t,
	    "muster_filesystem_used_bytes{host=\"web1\","
	    "mountpoint=\"/var\",fstype=\"xfs\"} 190000\n");
	assert_has(t,
	    "muster_filesystem_inodes{host=\"web1\","
	    "mountpoint=\"/var\",fstype=\"xfs\"} 1000\n");
	assert_has(t,
	    "muster_filesystem_inodes_used{host=\"web1\","
	    "mountpoint=\"/\",fstype=\"ext4\"} 10\n");
	assert_has(t,
	    "muster_disk_read_bytes_per_second{host=\"web1\"} "
	    "4096\n");
	assert_has(t,
	    "muster_disk_written_bytes_per_second{host=\"web1\"} "
	    "8192.5\n");
	assert_has(t,
	    "muster_network_receive_bytes_per_second{host=\"web1\","
	    "device=\"eth0\"} 1000\n");
	assert_has(t,
	    "muster_network_transmit_bytes_per_second{host=\"web1\","
	    "device=\"eth1\"} 0.25\n");
	assert_has(t,
	    "muster_network_receive_errors_per_second{host=\"web1\","
	    "device=\"eth0\"} 0\n");
	assert_has(t,
	    "muster_network_transmit_errors_per_second{host=\"web1\","
	    "device=\"eth0\"} 0\n");
	assert_has(t, "# TYPE muster_network_receive_bytes_total counter\n");
	assert_has(t,
	    "muster_network_receive_bytes_total{host=\"web1\","
	    "device=\"eth0\"} 123456789012\n");
	assert_has(t,
	    "muster_network_transmit_bytes_total{host=\"web1\","
	    "device=\"eth1\"} 42\n");
	assert_has(t, "muster_processes{host=\"web1\"} 321\n");
	assert_has(t, "muster_uptime_seconds{host=\"web1\"} 86400.25\n");

	/* When each host's newest sample came, down hosts included. */
	assert_has(t,
	    "# TYPE muster_last_sample_received_timestamp_seconds "
	    "gauge\n");
	assert_has(t,
	    "muster_last_sample_received_timestamp_seconds"
	    "{host=\"web1\"} 1700000005.25\n");
	assert_has(t,
	    "muster_last_sample_received_timestamp_seconds"
	    "{host=\"db\"} 1699999997\n");
	assert_lacks(t,
	    "muster_last_sample_received_timestamp_seconds"
	    "{host=\"new\"}");

	/* A down host's old sample and a host without one show only up. */
	assert_int_equal(count(t, "host=\"db\""), 3);
	assert_int_equal(count(t, "host=\"new\""), 2);
	assert_int_equal(count(t, "muster_cpu_usage_ratio{"), 5);
	assert_grouped(t);
	assert_true(valid_utf8((const unsigned char *)t, strlen(t)));
	free(t);
}

static void
test_fleet_promtool(void **state)
{
	struct fake f;
	char *t = render_fleet(&f);

	promtool_check(t);
	free(t);
}

/* Label bytes from a host we do not trust. */
static const char hostile_mount[] =
    "/mnt/a\"b\\c\nd"			    /* the three escapes */
    "\xff"				    /* never UTF-8 */
    "\xc3("				    /* truncated sequence */
    "\xc0\xaf"				    /* overlong "/" */
    "\xed\xa0\x80"			    /* surrogate */
    "\xc2\x85"				    /* C1 control NEL */
    "\x00\x1b[31m\r\t\x7f"		    /* NUL, ESC, CR, TAB, DEL */
    "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80"; /* ü € 😀 stay */

#define FFFD "\xef\xbf\xbd"

static char *
render_hostile(struct fake *f)
{
	struct metrics_host hosts[2] = {
		{ "we\"b\\1\nx", true, 0, &f->s, 0 },
		{ "h\xfft", false, 0, NULL, 0 },
	};

	fake_init(f);
	fake_disk(f, bytes(hostile_mount, sizeof(hostile_mount) - 1),
	    BYTES("ext4\"}\n"), 10, 5);
	fake_net(f, BYTES("eth0\"} 1\nmuster_up{host=\"evil\"} 1\n# "), 1);
	f->s.load1 = NAN;
	f->s.load5 = INFINITY;
	f->s.load15 = -INFINITY;
	return render(hosts, 2);
}

static void
test_hostile_labels(void **state)
{
	struct fake f;
	char *t = render_hostile(&f);

	assert_has(t, "muster_up{host=\"we\\\"b\\\\1\\nx\"} 1\n");
	assert_has(t, "muster_up{host=\"h" FFFD "t\"} 0\n");
	assert_has(t,
	    "mountpoint=\"/mnt/a\\\"b\\\\c\\nd" FFFD /* \xff */
		FFFD "("			     /* \xc3 then ( */
	    FFFD FFFD				     /* overlong: two bytes */
		FFFD FFFD FFFD			     /* surrogate: three */
		    FFFD			     /* NEL as one character */
			FFFD FFFD "[31m" FFFD FFFD FFFD
	    "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80\",fstype=\"ext4\\\"}\\n\"}");
	assert_has(t,
	    "device=\"eth0\\\"} 1\\nmuster_up{host=\\\"evil\\\"} "
	    "1\\n# \"} 1\n");
	assert_lacks(t, "\nmuster_up{host=\"evil\"}");
	assert_has(t, "muster_load1{host=\"we\\\"b\\\\1\\nx\"} NaN\n");
	assert_has(t, "muster_load5{host=\"we\\\"b\\\\1\\nx\"} +Inf\n");
	assert_has(t, "muster_load15{host=\"we\\\"b\\\\1\\nx\"} -Inf\n");
	assert_grouped(t);
	assert_true(valid_utf8((const unsigned char *)t, strlen(t)));
	/* No raw control characters other than line ends. */
	assert_int_equal(strcspn(t, "\r\t\x1b\x7f"), strlen(t));
	assert_lines_start(t);
	free(t);
}

static void
test_hostile_promtool(void **state)
{
	struct fake f;
	char *t = render_hostile(&f);

	promtool_check(t);
	free(t);
}

/* Stacked mounts and names that only differ in bytes that are replaced
 * would be duplicate series: the first one is kept. */
static void
test_duplicates(void **state)
{
	struct metrics_host host = { "h", true, 0, NULL, 0 };
	struct fake f;
	char *t;

	fake_init(&f);
	host.last = &f.s;
	fake_disk(&f, BYTES("/"), BYTES("ext4"), 100, 1);
	fake_disk(&f, BYTES("/"), BYTES("ext4"), 200, 2);
	fake_disk(&f, BYTES("/x\xff"), BYTES("tmpfs"), 300, 3);
	fake_disk(&f, BYTES("/x\xfe"), BYTES("tmpfs"), 400, 4);
	fake_net(&f, BYTES("eth0"), 1);
	fake_net(&f, BYTES("eth0"), 2);
	fake_net(&f, BYTES("lo"), 3);
	t = render(&host, 1);
	assert_int_equal(count(t, "muster_filesystem_size_bytes{"), 2);
	assert_has(t,
	    "muster_filesystem_size_bytes{host=\"h\","
	    "mountpoint=\"/\",fstype=\"ext4\"} 100\n");
	assert_has(t,
	    "muster_filesystem_size_bytes{host=\"h\","
	    "mountpoint=\"/x" FFFD "\",fstype=\"tmpfs\"} 300\n");
	assert_int_equal(count(t, "muster_network_receive_bytes_per_second{"),
	    2);
	assert_has(t,
	    "muster_network_receive_bytes_per_second{host=\"h\","
	    "device=\"eth0\"} 1\n");
	assert_has(t,
	    "muster_network_receive_bytes_per_second{host=\"h\","
	    "device=\"lo\"} 3\n");
	free(t);
}

/* Same mount, other file system type: a different series. */
static void
test_same_mount_other_fstype(void **state)
{
	struct metrics_host host = { "h", true, 0, NULL, 0 };
	struct fake f;
	char *t;

	fake_init(&f);
	host.last = &f.s;
	fake_disk(&f, BYTES("/"), BYTES("rootfs"), 100, 1);
	fake_disk(&f, BYTES("/"), BYTES("ext4"), 200, 2);
	t = render(&host, 1);
	assert_int_equal(count(t, "muster_filesystem_size_bytes{"), 2);
	free(t);
}

static void
test_empty(void **state)
{
	struct metrics_host down = { "h", false, 0, NULL, 0 };
	char *t;

	t = render(NULL, 0);
	assert_string_equal(t, "");
	free(t);
	t = render(&down, 1);
	assert_string_equal(t,
	    "# HELP muster_up Whether the host's agent is "
	    "connected and its samples arrive (1) or not (0).\n"
	    "# TYPE muster_up gauge\n"
	    "muster_up{host=\"h\"} 0\n");
	free(t);
}

/*
 * A host whose samples stopped while its connection stays open (a stopped
 * agent): down, with the age of its newest sample exported, and none of
 * that sample's values repeated as if they were current.
 */
static void
test_stale(void **state)
{
	struct metrics_host host = { "h", false, 1700000010, NULL,
		1700000006.5 };
	struct fake f;
	char *t;

	fake_init(&f);
	host.last = &f.s;
	t = render(&host, 1);
	assert_string_equal(t,
	    "# HELP muster_up Whether the host's agent is connected and its "
	    "samples arrive (1) or not (0).\n"
	    "# TYPE muster_up gauge\n"
	    "muster_up{host=\"h\"} 0\n"
	    "# HELP muster_down_since_timestamp_seconds Time the host's agent "
	    "connection was lost or first failed, or its samples "
	    "stopped.\n"
	    "# TYPE muster_down_since_timestamp_seconds gauge\n"
	    "muster_down_since_timestamp_seconds{host=\"h\"} 1700000010\n"
	    "# HELP muster_last_sample_received_timestamp_seconds Time the "
	    "controller received the host's newest sample, by the "
	    "controller's clock.\n"
	    "# TYPE muster_last_sample_received_timestamp_seconds gauge\n"
	    "muster_last_sample_received_timestamp_seconds{host=\"h\"} "
	    "1700000006.5\n");
	promtool_check(t);
	free(t);
}

/* Output past the buffer's maximum is refused, and the buffer keeps its
 * own maximum; a later render into the same buffer starts afresh. */
static void
test_limit(void **state)
{
	struct metrics_host host = { "h", true, 0, NULL, 0 };
	struct fake f;
	struct buf out;

	fake_init(&f);
	host.last = &f.s;
	buf_init(&out, 200);
	assert_int_equal(metrics_render(&host, 1, &out), MERR_LIMIT);
	assert_int_equal(out.max, 200);
	host.last = NULL;
	assert_int_equal(metrics_render(&host, 1, &out), 0);
	assert_true(buf_len(&out) < 200);
	assert_memory_equal(buf_ptr(&out), "# HELP", 6);
	buf_free(&out);
}

/* Families as a host sends them: the good ones are rendered on the
 * host's target page, the malformed ones are left out whole. */
static void
test_families(void **state)
{
	ProtobufCBinaryData ln_cpu[2] = { BYTES("cpu"), BYTES("mode") };
	ProtobufCBinaryData lv_cpu[4] = { BYTES("0"), BYTES("idle"),
		BYTES("0"), BYTES("user") };
	double v_cpu[2] = { 12.5, 3 };
	ProtobufCBinaryData ln_host[1] = { BYTES("host") };
	ProtobufCBinaryData lv_host[1] = { BYTES("spoofed") };
	ProtobufCBinaryData ln_bad[1] = { BYTES("a-b") };
	double v_one[1] = { 1 };
	Muster__Family
	    cpu = MUSTER__FAMILY__INIT,
	    load = MUSTER__FAMILY__INIT, spoof = MUSTER__FAMILY__INIT,
	    own = MUSTER__FAMILY__INIT, short_lv = MUSTER__FAMILY__INIT,
	    badlabel = MUSTER__FAMILY__INIT, badtype = MUSTER__FAMILY__INIT;
	Muster__Family *fams[7] = { &load, &cpu, &spoof, &own, &short_lv,
		&badlabel, &badtype };
	struct fake f1, f2;
	struct metrics_host hosts[2];
	struct buf out;
	char *t;

	(void)state;
	cpu.name = BYTES("node_cpu_seconds_total");
	cpu.type = 1;
	cpu.n_label_names = 2;
	cpu.label_names = ln_cpu;
	cpu.n_label_values = 4;
	cpu.label_values = lv_cpu;
	cpu.n_values = 2;
	cpu.values = v_cpu;
	load.name = BYTES("node_load1");
	load.n_values = 1;
	load.values = v_one;
	spoof = load;
	spoof.name = BYTES("node_spoof");
	spoof.n_label_names = 1;
	spoof.label_names = ln_host;
	spoof.n_label_values = 1;
	spoof.label_values = lv_host;
	own = load;
	own.name = BYTES("muster_up");
	short_lv = cpu;
	short_lv.name = BYTES("node_short");
	short_lv.n_label_values = 3;
	badlabel = spoof;
	badlabel.name = BYTES("node_badlabel");
	badlabel.label_names = ln_bad;
	badtype = load;
	badtype.name = BYTES("node_badtype");
	badtype.type = 7;
	fake_init(&f1);
	fake_init(&f2);
	f1.s.n_families = f2.s.n_families = 7;
	f1.s.families = f2.s.families = fams;
	memset(hosts, 0, sizeof(hosts));
	hosts[0].host = "a";
	hosts[1].host = "b";
	hosts[0].up = hosts[1].up = true;
	hosts[0].last = &f1.s;
	hosts[1].last = &f2.s;
	/* The page of every host has none: they are per target. */
	t = render(hosts, 2);
	assert_null(strstr(t, "node_"));
	free(t);
	/* One target: no host label, and a host label of its own is fine. */
	buf_init(&out, METRICS_MAX_BYTES);
	assert_int_equal(metrics_render_target(&hosts[0], &out), 0);
	assert_int_equal(buf_append(&out, "", 1), 0);
	t = (char *)buf_ptr(&out);
	assert_has(t, "\nmuster_up 1\n");
	assert_has(t,
	    "\nnode_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 12.5\n");
	assert_has(t, "\nnode_load1 1\n");
	assert_has(t, "\nnode_spoof{host=\"spoofed\"} 1\n");
	assert_null(strstr(t, "host=\"a\""));
	assert_null(strstr(t, "node_short"));
	assert_null(strstr(t, "node_badlabel"));
	assert_null(strstr(t, "node_badtype"));
	/* A host's family may not pose as the controller's own. */
	assert_null(strstr(strstr(t, "# TYPE muster_up gauge") + 1,
	    "# TYPE muster_up gauge"));
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fleet),
		cmocka_unit_test(test_fleet_promtool),
		cmocka_unit_test(test_hostile_labels),
		cmocka_unit_test(test_hostile_promtool),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_same_mount_other_fstype),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_families),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
