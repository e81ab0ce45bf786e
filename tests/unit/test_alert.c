#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "alert.h"
#include "alertexec.h"
#include "err.h"
#include "fake_sample.h"

static void
fake_init(struct fake *f)
{
	fake_sample_init(f);
	f->s.cpu_pct = 91.5;
	f->s.cpu_iowait_pct = 12;
	f->s.cpu_steal_pct = 3;
	f->s.load1 = 4;
	f->s.load5 = 2.5;
	f->s.load15 = 1;
	f->s.mem_total_bytes = 1000;
	f->s.mem_available_bytes = 250;
	f->s.mem_used_bytes = 700;
	f->s.swap_total_bytes = 400;
	f->s.swap_used_bytes = 100;
	f->s.procs = 300;
	f->s.disk_read_bytes_per_s = 1e6;
	f->s.disk_write_bytes_per_s = 2e6;
}

static void
fake_disk(struct fake *f, const char *mount, uint64_t total, uint64_t used,
    uint64_t itotal, uint64_t iused)
{
	Muster__DiskUsage *d = &f->d[f->s.n_disks++];

	d->mount.data = (uint8_t *)mount;
	d->mount.len = strlen(mount);
	d->total_bytes = total;
	d->used_bytes = used;
	/* No reserved blocks: df's Use% equals used / total. */
	d->avail_bytes = total - used;
	d->inodes_total = itotal;
	d->inodes_used = iused;
}

static void
fake_net(struct fake *f, const char *iface, double rx, double tx)
{
	Muster__NetRate *n = &f->n[f->s.n_net++];

	n->iface.data = (uint8_t *)iface;
	n->iface.len = strlen(iface);
	n->rx_bytes_per_s = rx;
	n->tx_bytes_per_s = tx;
}

static void
parse_ok(const char *expr, struct alert_rule *r)
{
	char err[1024] = "";

	if (alert_parse(expr, r, err, sizeof(err)) != 0)
		fail_msg("\"%s\": %s", expr, err);
}

/* The parse fails and the message holds every one of the wants. */
static void
parse_fails(const char *expr, int want_r, const char *want1, const char *want2)
{
	struct alert_rule r = { .metric = AM_PROCS,
		.op = AO_NE,
		.threshold = 7 };
	char err[2048] = "";

	assert_int_equal(alert_parse(expr, &r, err, sizeof(err)), want_r);
	if (strstr(err, want1) == NULL ||
	    (want2 != NULL && strstr(err, want2) == NULL))
		fail_msg("\"%s\": message \"%s\" lacks \"%s\" / \"%s\"", expr,
		    err, want1, want2 ? want2 : "");
	/* untouched */
	assert_int_equal(r.metric, AM_PROCS);
	assert_int_equal(r.op, AO_NE);
	assert_null(r.text);
}

static const struct {
	const char *name;
	enum alert_metric metric;
} all_metrics[] = {
	{ "cpu_pct", AM_CPU_PCT },
	{ "cpu_iowait_pct", AM_CPU_IOWAIT_PCT },
	{ "cpu_steal_pct", AM_CPU_STEAL_PCT },
	{ "load1", AM_LOAD1 },
	{ "load5", AM_LOAD5 },
	{ "load15", AM_LOAD15 },
	{ "mem_available_pct", AM_MEM_AVAILABLE_PCT },
	{ "mem_used_pct", AM_MEM_USED_PCT },
	{ "swap_used_pct", AM_SWAP_USED_PCT },
	{ "disk_used_pct", AM_DISK_USED_PCT },
	{ "inode_used_pct", AM_INODE_USED_PCT },
	{ "procs", AM_PROCS },
	{ "net_rx_bytes_per_s", AM_NET_RX_BYTES_PER_S },
	{ "net_tx_bytes_per_s", AM_NET_TX_BYTES_PER_S },
	{ "disk_read_bytes_per_s", AM_DISK_READ_BYTES_PER_S },
	{ "disk_write_bytes_per_s", AM_DISK_WRITE_BYTES_PER_S },
};

static const struct {
	const char *text;
	enum alert_op op;
} all_ops[] = {
	{ ">", AO_GT },
	{ ">=", AO_GE },
	{ "<", AO_LT },
	{ "<=", AO_LE },
	{ "==", AO_EQ },
	{ "!=", AO_NE },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_parse_all(void **state)
{
	struct alert_rule r;
	char expr[128], canon[128];
	size_t m, o;

	for (m = 0; m < NELEM(all_metrics); m++) {
		for (o = 0; o < NELEM(all_ops); o++) {
			/* tight and loose spacing give the same rule */
			snprintf(expr, sizeof(expr), "%s%s1.5",
			    all_metrics[m].name, all_ops[o].text);
			snprintf(canon, sizeof(canon), "%s %s 1.5",
			    all_metrics[m].name, all_ops[o].text);
			parse_ok(expr, &r);
			assert_int_equal(r.metric, all_metrics[m].metric);
			assert_int_equal(r.op, all_ops[o].op);
			assert_true(r.threshold == 1.5);
			assert_null(r.mount);
			assert_string_equal(r.text, canon);
			alert_rule_free(&r);
			snprintf(expr, sizeof(expr), " \t%s \t%s\t 1.5 \t",
			    all_metrics[m].name, all_ops[o].text);
			parse_ok(expr, &r);
			assert_int_equal(r.metric, all_metrics[m].metric);
			assert_int_equal(r.op, all_ops[o].op);
			assert_string_equal(r.text, canon);
			alert_rule_free(&r);
		}
		/* every metric is named in the help list */
		assert_non_null(
		    strstr(alert_metric_names(), all_metrics[m].name));
	}
}

static void
test_parse_mount(void **state)
{
	struct alert_rule r;

	parse_ok("disk_used_pct[/var]>90", &r);
	assert_int_equal(r.metric, AM_DISK_USED_PCT);
	assert_string_equal(r.mount, "/var");
	assert_string_equal(r.text, "disk_used_pct[/var] > 90");
	alert_rule_free(&r);
	parse_ok("  inode_used_pct [ /srv/my data ]  >=  75.5 ", &r);
	assert_int_equal(r.metric, AM_INODE_USED_PCT);
	assert_string_equal(r.mount, "/srv/my data");
	assert_string_equal(r.text, "inode_used_pct[/srv/my data] >= 75.5");
	alert_rule_free(&r);
	parse_ok("disk_used_pct[/] != 0", &r);
	assert_string_equal(r.mount, "/");
	alert_rule_free(&r);
}

static void
test_parse_numbers(void **state)
{
	static const struct {
		const char *expr;
		double want;
	} ok[] = {
		{ "load1 > 0", 0 },
		{ "load1 > -1.5", -1.5 },
		{ "load1 > +2", 2 },
		{ "load1 > .5", 0.5 },
		{ "load1 > 5.", 5 },
		{ "load1 > 1e9", 1e9 },
		{ "load1 > 2.5E-3", 2.5e-3 },
		{ "load1>-0.25", -0.25 },
	};
	struct alert_rule r;
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		parse_ok(ok[i].expr, &r);
		assert_true(r.threshold == ok[i].want);
		alert_rule_free(&r);
	}
	/* the number is kept as written */
	parse_ok("net_rx_bytes_per_s > 1e9", &r);
	assert_string_equal(r.text, "net_rx_bytes_per_s > 1e9");
	alert_rule_free(&r);
}

static void
test_parse_errors(void **state)
{
	char big[ALERT_EXPR_MAX + 10];

	parse_fails("cpu_pt > 90", MERR_PARSE,
	    "position 1: unknown metric "
	    "\"cpu_pt\"",
	    "valid metrics: cpu_pct, cpu_iowait_pct");
	parse_fails("", MERR_PARSE, "position 1: expected a metric name",
	    "disk_write_bytes_per_s");
	parse_fails("  > 90", MERR_PARSE, "position 3: expected a metric name",
	    "load15");
	parse_fails("90 < cpu_pct", MERR_PARSE,
	    "position 1: unknown metric "
	    "\"90\"",
	    NULL);
	parse_fails("cpu_pct 90", MERR_PARSE,
	    "position 9: expected an "
	    "operator (> >= < <= == !=)",
	    NULL);
	parse_fails("cpu_pct", MERR_PARSE, "position 8: expected an operator",
	    NULL);
	parse_fails("cpu_pct = 90", MERR_PARSE,
	    "position 9: '=' is not an "
	    "operator, use '=='",
	    NULL);
	parse_fails("cpu_pct => 90", MERR_PARSE, "position 9: '='", NULL);
	parse_fails("cpu_pct <> 90", MERR_PARSE,
	    "position 10: expected a "
	    "number after '<'",
	    NULL);
	parse_fails("cpu_pct >> 90", MERR_PARSE,
	    "position 10: expected a "
	    "number",
	    NULL);
	parse_fails("cpu_pct >", MERR_PARSE, "position 10: expected a number",
	    NULL);
	parse_fails("cpu_pct > 90 %", MERR_PARSE,
	    "position 14: unexpected "
	    "\"%\": expected 'for DURATION' or a label NAME=VALUE",
	    NULL);
	parse_fails("cpu_pct > 90 and load1 > 1", MERR_PARSE,
	    "position 14: "
	    "unexpected",
	    NULL);
	parse_fails("cpu_pct > inf", MERR_PARSE,
	    "position 11: expected a "
	    "number",
	    NULL);
	parse_fails("cpu_pct > nan", MERR_PARSE, "expected a number", NULL);
	parse_fails("cpu_pct > 0x10", MERR_PARSE,
	    "position 12: unexpected "
	    "\"x10\"",
	    NULL);
	parse_fails("cpu_pct > 1e", MERR_PARSE, "position 12: unexpected",
	    NULL);
	parse_fails("cpu_pct > 1e999", MERR_PARSE,
	    "position 11: number "
	    "\"1e999\" out of range",
	    NULL);
	parse_fails("cpu_pct[/var] > 1", MERR_PARSE,
	    "position 8: cpu_pct "
	    "takes no [mount]",
	    NULL);
	parse_fails("disk_used_pct[/var > 1", MERR_PARSE,
	    "position 14: '[' "
	    "without a closing ']'",
	    NULL);
	parse_fails("disk_used_pct[] > 1", MERR_PARSE,
	    "position 15: expected "
	    "an absolute mount point",
	    NULL);
	parse_fails("disk_used_pct[ var] > 1", MERR_PARSE,
	    "position 16: "
	    "expected an absolute mount point inside [ ], as in "
	    "disk_used_pct[/var]",
	    NULL);
	parse_fails("CPU_PCT > 1", MERR_PARSE, "unknown metric \"CPU_PCT\"",
	    NULL);
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "cpu_pct > 1", 11);
	parse_fails(big, MERR_LIMIT, "longer than 4096", NULL);
}

/* Evaluate expr against s; returns alert_eval's result. */
static int
eval(const char *expr, const Muster__Sample *s, double *value)
{
	struct alert_rule r;
	int res;

	parse_ok(expr, &r);
	*value = -12345;
	res = alert_eval(&r, s, value);
	alert_rule_free(&r);
	return res;
}

static void
assert_eval(const char *expr, const Muster__Sample *s, int want,
    double want_value)
{
	double v;
	int res = eval(expr, s, &v);

	if (res != want)
		fail_msg("\"%s\": got %d, want %d", expr, res, want);
	if (want >= 0 && fabs(v - want_value) > 1e-9)
		fail_msg("\"%s\": value %.17g, want %.17g", expr, v,
		    want_value);
}

static void
test_eval_values(void **state)
{
	struct fake f;

	fake_init(&f);
	fake_net(&f, "eth0", 1000, 10);
	fake_net(&f, "eth1", 500.5, 20);
	assert_eval("cpu_pct > 90", &f.s, 1, 91.5);
	assert_eval("cpu_iowait_pct > 12", &f.s, 0, 12);
	assert_eval("cpu_iowait_pct >= 12", &f.s, 1, 12);
	assert_eval("cpu_steal_pct < 3", &f.s, 0, 3);
	assert_eval("cpu_steal_pct <= 3", &f.s, 1, 3);
	assert_eval("load1 == 4", &f.s, 1, 4);
	assert_eval("load1 != 4", &f.s, 0, 4);
	assert_eval("load5 != 4", &f.s, 1, 2.5);
	assert_eval("load15 < 1.5", &f.s, 1, 1);
	assert_eval("mem_available_pct < 30", &f.s, 1, 25);
	assert_eval("mem_used_pct > 70", &f.s, 0, 70);
	assert_eval("swap_used_pct >= 25", &f.s, 1, 25);
	assert_eval("procs > 299", &f.s, 1, 300);
	assert_eval("net_rx_bytes_per_s > 1500", &f.s, 1, 1500.5);
	assert_eval("net_tx_bytes_per_s > 30", &f.s, 0, 30);
	assert_eval("disk_read_bytes_per_s >= 1e6", &f.s, 1, 1e6);
	assert_eval("disk_write_bytes_per_s < 1e6", &f.s, 0, 2e6);
}

static void
test_eval_disks(void **state)
{
	struct fake f;

	fake_init(&f);
	/* no file system at all */
	assert_eval("disk_used_pct > 1", &f.s, MERR_NOTFOUND, 0);
	fake_disk(&f, "/", 1000, 500, 100, 90);
	fake_disk(&f, "/var", 1000, 950, 0, 0); /* no inodes (btrfs) */
	fake_disk(&f, "/proc", 0, 0, 0, 0);	/* no size */
	fake_disk(&f, "/srv", 2000, 100, 1000, 10);
	/* max over the disks */
	assert_eval("disk_used_pct > 90", &f.s, 1, 95);
	assert_eval("inode_used_pct > 80", &f.s, 1, 90);
	/* one mount */
	assert_eval("disk_used_pct[/] > 90", &f.s, 0, 50);
	assert_eval("disk_used_pct[/srv] < 10", &f.s, 1, 5);
	assert_eval("disk_used_pct[ /var ] >= 95", &f.s, 1, 95);
	assert_eval("inode_used_pct[/srv] > 0.5", &f.s, 1, 1);
	/* mount prefixes do not match, sizeless and absent mounts are absent */
	assert_eval("disk_used_pct[/sr] > 1", &f.s, MERR_NOTFOUND, 0);
	assert_eval("disk_used_pct[/proc] > 1", &f.s, MERR_NOTFOUND, 0);
	assert_eval("inode_used_pct[/var] > 1", &f.s, MERR_NOTFOUND, 0);
	assert_eval("disk_used_pct[/home] < 100", &f.s, MERR_NOTFOUND, 0);
}

static void
test_eval_absent(void **state)
{
	struct fake f;
	double v;

	fake_init(&f);
	/* no interfaces: absent, not 0 (< rules would fire) */
	assert_eval("net_rx_bytes_per_s < 1", &f.s, MERR_NOTFOUND, 0);
	assert_eval("net_tx_bytes_per_s < 1", &f.s, MERR_NOTFOUND, 0);
	f.s.swap_total_bytes = 0;
	assert_eval("swap_used_pct < 50", &f.s, MERR_NOTFOUND, 0);
	f.s.mem_total_bytes = 0;
	assert_eval("mem_available_pct < 10", &f.s, MERR_NOTFOUND, 0);
	assert_eval("mem_used_pct > 10", &f.s, MERR_NOTFOUND, 0);
	/* a NaN from the agent would make != hold */
	f.s.load1 = NAN;
	assert_eval("load1 != 4", &f.s, MERR_NOTFOUND, 0);
	/* *value is left alone when absent */
	assert_int_equal(eval("load1 > 1", &f.s, &v), MERR_NOTFOUND);
	assert_true(v == -12345);
	f.s.load1 = INFINITY;
	assert_eval("load1 > 1e300", &f.s, 1, INFINITY);
}

static void
test_transitions(void **state)
{
	struct alert_state st = { AP_INACTIVE, 0 };

	assert_int_equal(alert_update(&st, 0, 1, 0), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 2, 0), ALERT_FIRED);
	assert_int_equal(st.phase, AP_FIRING);
	assert_true(st.since == 2);
	assert_int_equal(alert_update(&st, 1, 3, 0), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 4, 0), ALERT_NONE);
	/* absent metric (or a host with no sample): nothing changes */
	assert_int_equal(alert_update(&st, MERR_NOTFOUND, 5, 0), ALERT_NONE);
	assert_int_equal(st.phase, AP_FIRING);
	assert_int_equal(alert_update(&st, 0, 6, 0), ALERT_RESOLVED);
	assert_int_equal(st.phase, AP_INACTIVE);
	assert_true(st.since == 6);
	assert_int_equal(alert_update(&st, 0, 7, 0), ALERT_NONE);
	assert_int_equal(alert_update(&st, MERR_NOTFOUND, 8, 0), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 9, 0), ALERT_FIRED);
	assert_string_equal(alert_change_str(ALERT_FIRED), "firing");
	assert_string_equal(alert_change_str(ALERT_RESOLVED), "resolved");
	assert_string_equal(alert_phase_name(AP_PENDING), "pending");
}

/* 'for 5m': fires only once every sample over 300 s held. */
static void
test_transitions_for(void **state)
{
	struct alert_state st = { AP_INACTIVE, 0 };
	double t;

	assert_int_equal(alert_update(&st, 1, 1000, 300), ALERT_NONE);
	assert_int_equal(st.phase, AP_PENDING);
	for (t = 1015; t < 1300; t += 15)
		assert_int_equal(alert_update(&st, 1, t, 300), ALERT_NONE);
	/* one sample that does not hold starts the wait over */
	assert_int_equal(alert_update(&st, 0, 1300, 300), ALERT_NONE);
	assert_int_equal(st.phase, AP_INACTIVE);
	assert_int_equal(alert_update(&st, 1, 1315, 300), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 1614, 300), ALERT_NONE);
	/* an absent metric neither breaks nor completes the wait */
	assert_int_equal(alert_update(&st, MERR_NOTFOUND, 1614.5, 300),
	    ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 1615, 300), ALERT_FIRED);
	assert_true(st.since == 1615);
	assert_int_equal(alert_update(&st, 1, 1630, 300), ALERT_NONE);
	assert_int_equal(alert_update(&st, 0, 1645, 300), ALERT_RESOLVED);

	/* the host went down while pending: the wait starts over */
	assert_int_equal(alert_update(&st, 1, 2000, 60), ALERT_NONE);
	alert_gap(&st);
	assert_int_equal(st.phase, AP_INACTIVE);
	assert_int_equal(alert_update(&st, 1, 2070, 60), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 2129, 60), ALERT_NONE);
	assert_int_equal(alert_update(&st, 1, 2130, 60), ALERT_FIRED);
	/* while firing it stays firing */
	alert_gap(&st);
	assert_int_equal(st.phase, AP_FIRING);
	assert_int_equal(alert_update(&st, 0, 2200, 60), ALERT_RESOLVED);
}

static void
test_parse_for_and_labels(void **state)
{
	static const struct {
		const char *expr, *text, *spec;
		double for_s;
		const char *name;
	} ok[] = {
		{ "disk_used_pct>90 for 5m", "disk_used_pct > 90 for 5m",
		    "disk_used_pct > 90 for 5m", 300, "disk_used_pct" },
		{ "load1 > 8 for 90", "load1 > 8 for 90s", "load1 > 8 for 90s",
		    90, "load1" },
		{ "load1 > 8 for 1.5h", "load1 > 8 for 90m",
		    "load1 > 8 for 90m", 5400, "load1" },
		{ "load1 > 8 for 2d", "load1 > 8 for 2d", "load1 > 8 for 2d",
		    172800, "load1" },
		{ "load1 > 8 for 0s", "load1 > 8", "load1 > 8", 0, "load1" },
		{ "cpu_pct>90 severity=page", "cpu_pct > 90",
		    "cpu_pct > 90 severity=page", 0, "cpu_pct" },
		{ "cpu_pct > 90\tfor  10m  severity=page  team=ops "
		  "alertname=CpuHot",
		    "cpu_pct > 90 for 10m",
		    "cpu_pct > 90 for 10m severity=page team=ops "
		    "alertname=CpuHot",
		    600, "CpuHot" },
		{ "procs > 1 summary=\"too many  procs\"", "procs > 1",
		    "procs > 1 summary=\"too many  procs\"", 0, "procs" },
		{ "procs > 1 note=\"caf\xc3\xa9 au lait\"", "procs > 1",
		    "procs > 1 note=\"caf\xc3\xa9 au lait\"", 0, "procs" },
		{ "procs > 1 for=x", "procs > 1", "procs > 1 for=x", 0,
		    "procs" },
	};
	struct alert_rule r, again;
	size_t i;

	for (i = 0; i < NELEM(ok); i++) {
		parse_ok(ok[i].expr, &r);
		assert_string_equal(r.text, ok[i].text);
		if (ok[i].spec != NULL)
			assert_string_equal(r.spec, ok[i].spec);
		assert_true(r.for_s == ok[i].for_s);
		assert_string_equal(alert_rule_name(&r), ok[i].name);
		parse_ok(r.spec, &again);
		assert_string_equal(again.spec, r.spec);
		alert_rule_free(&again);
		alert_rule_free(&r);
	}
	parse_ok("cpu_pct > 90 for 10m severity=page team=ops", &r);
	assert_int_equal(r.nlabels, 2);
	assert_string_equal(r.labels[0].name, "severity");
	assert_string_equal(r.labels[0].value, "page");
	assert_string_equal(r.labels[1].name, "team");
	assert_string_equal(r.labels[1].value, "ops");
	alert_rule_free(&r);
	/* blanks inside quotes are the value's */
	parse_ok("procs > 1 s=\"a b\"", &r);
	assert_string_equal(r.labels[0].value, "a b");
	assert_string_equal(r.spec, "procs > 1 s=\"a b\"");
	alert_rule_free(&r);
}

static void
test_parse_for_and_labels_errors(void **state)
{
	parse_fails("load1 > 8 for", MERR_PARSE,
	    "position 11: unexpected \"for\"", NULL);
	parse_fails("load1 > 8 a=\"\"", MERR_PARSE,
	    "position 14: expected a label value", NULL);
	parse_fails("load1 > 8 for x", MERR_PARSE,
	    "position 15: expected a duration after 'for', as in 'for 5m'",
	    NULL);
	parse_fails("load1 > 8 for -5m", MERR_PARSE,
	    "position 15: expected a duration", NULL);
	parse_fails("load1 > 8 for 5w", MERR_PARSE,
	    "position 16: unknown duration unit; use s, m, h or d", NULL);
	parse_fails("load1 > 8 for 5ms", MERR_PARSE,
	    "position 16: unknown duration unit", NULL);
	parse_fails("load1 > 8 for 8d", MERR_PARSE,
	    "position 15: duration \"8d\" longer than 7d", NULL);
	parse_fails("load1 > 8 for 1e999", MERR_PARSE, "longer than 7d", NULL);
	parse_fails("load1 > 8 severity", MERR_PARSE,
	    "position 11: unexpected \"severity\": expected 'for DURATION' "
	    "or a label NAME=VALUE",
	    NULL);
	parse_fails("load1 > 8 severity=", MERR_PARSE,
	    "position 20: expected a label value after '='", NULL);
	parse_fails("load1 > 8 severity=\"", MERR_PARSE,
	    "position 20: '\"' without a closing '\"'", NULL);
	parse_fails("load1 > 8 s=\"a\"b", MERR_PARSE,
	    "position 16: expected a blank after the label's value", NULL);
	parse_fails("load1 > 8 s=a\"b", MERR_PARSE,
	    "position 14: expected a blank after the label's value", NULL);
	parse_fails("load1 > 8 1x=a", MERR_PARSE, "position 11: unexpected",
	    NULL);
	parse_fails("load1 > 8 instance=a", MERR_PARSE,
	    "position 11: label \"instance\" is reserved", NULL);
	parse_fails("load1 > 8 rule=a", MERR_PARSE,
	    "label \"rule\" is reserved", NULL);
	parse_fails("load1 > 8 __name__=a", MERR_PARSE,
	    "label \"__name__\" is reserved", NULL);
	parse_fails("load1 > 8 a=1 b=2 a=3", MERR_PARSE,
	    "position 19: label \"a\" given twice", NULL);
	parse_fails("load1 > 8 a=\x01", MERR_PARSE,
	    "position 13: expected a label value", NULL);
	parse_fails("load1 > 8 a=\xff\xfe", MERR_PARSE,
	    "position 13: expected a label value", NULL);
	parse_fails("load1 > 8 severity=page for 5m", MERR_PARSE,
	    "position 25: unexpected \"for 5m\"", NULL);
}

/* --- alert_exec -------------------------------------------------------- */

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	return text;
}

static void
assert_file_has(const char *dir, const char *name, const char *want)
{
	char path[512], *text;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((text = slurp(path)) == NULL)
		fail_msg("%s missing", path);
	if (strstr(text, want) == NULL)
		fail_msg("%s lacks \"%s\":\n%s", path, want, text);
	free(text);
}

static void
assert_absent(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (access(path, F_OK) == 0)
		fail_msg("%s exists: the shell interpreted a value", path);
}

static void
rm_dir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#define LEAKED_FD 77

static void
test_exec_environment(void **state)
{
	char dir[] = "/tmp/test_alert.XXXXXX", cmd[2048], host[1024];
	char errpath[600], want[1200], *text;
	struct alert_event ev = { 0 };
	struct alert_rule rule;
	sigset_t usr1, saved;
	int st, errfd, saved_err;
	long long t;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	/* Host names with shell syntax pointing at files that must not
	 * appear. */
	snprintf(host, sizeof(host),
	    "a\"'; touch %s/p1; $(touch %s/p2) "
	    "`touch %s/p3` \\\" x\ny",
	    dir, dir, dir);
	snprintf(want, sizeof(want), "disk_used_pct[/$(touch %s/p4)] > 90",
	    dir);
	parse_ok(want, &rule);
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' || exit 9; "
	    /* The mask as exec'd, read with builtins before the shell forks
	     * anything: dash blocks signals around each fork, and a grep of
	     * /proc/$$/status can catch that moment. */
	    "while read -r k v; do case $k in SigBlk:|SigIgn:) "
	    "printf '%%s\\t%%s\\n' \"$k\" \"$v\";; esac; "
	    "done < /proc/$$/status > sig; "
	    "env > env; "
	    "printf %%s \"$MUSTER_ALERT_HOST\" > host; "
	    "readlink /proc/$$/fd/0 > stdin; "
	    "cut -d' ' -f5 /proc/$$/stat > pgrp; echo $$ > pid; "
	    "if test -e /proc/$$/fd/%d; then echo leaked > fd; fi; "
	    "echo to-stdout",
	    dir, LEAKED_FD);

	/* What the child must not inherit: a stale value, a descriptor
	 * without close-on-exec, an ignored and a blocked signal. */
	setenv("MUSTER_ALERT_HOST", "stale", 1);
	assert_int_equal(dup2(2, LEAKED_FD), LEAKED_FD);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &saved);
	/* The child's stdout goes to our stderr: catch it in a file. */
	snprintf(errpath, sizeof(errpath), "%s/stderr", dir);
	assert_true((errfd = open(errpath, O_WRONLY | O_CREAT, 0600)) >= 0);
	fflush(stderr);
	assert_true((saved_err = dup(2)) >= 0);
	assert_int_equal(dup2(errfd, 2), 2);

	ev.kind = AE_FIRING;
	ev.host = host;
	ev.rule = &rule;
	ev.value = 93.25;
	ev.since = 1700000000.5;
	assert_int_equal(alert_exec(cmd, &ev, &pid), 0);

	dup2(saved_err, 2);
	close(saved_err);
	close(errfd);
	close(LEAKED_FD);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	signal(SIGPIPE, SIG_DFL);
	unsetenv("MUSTER_ALERT_HOST");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	/* details verbatim in the environment */
	snprintf(want, sizeof(want), "%s/host", dir);
	text = slurp(want);
	assert_non_null(text);
	assert_string_equal(text, host);
	free(text);
	snprintf(want, sizeof(want),
	    "MUSTER_ALERT_RULE=disk_used_pct[/$(touch "
	    "%s/p4)] > 90\n",
	    dir);
	assert_file_has(dir, "env", want);
	assert_file_has(dir, "env", "MUSTER_ALERT_STATE=firing\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_VALUE=93.25\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_TIME=");
	assert_file_has(dir, "env", "MUSTER_ALERT_SINCE=1700000000.5\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_NAME=disk_used_pct\n");
	text = slurp(strcat(strcpy(want, dir), "/env"));
	assert_non_null(text);
	assert_null(strstr(text, "stale"));
	assert_non_null(strstr(text, "PATH=")); /* the rest is passed on */
	t = atoll(strstr(text, "MUSTER_ALERT_TIME=") + 18);
	assert_true(llabs(t - (long long)time(NULL)) < 60);
	free(text);
	/* and nothing was run by the shell */
	assert_absent(dir, "p1");
	assert_absent(dir, "p2");
	assert_absent(dir, "p3");
	assert_absent(dir, "p4");

	/* stdin, process group, descriptors, signals, stdout */
	assert_file_has(dir, "stdin", "/dev/null\n");
	snprintf(want, sizeof(want), "%ld\n", (long)pid);
	assert_file_has(dir, "pgrp", want);
	assert_file_has(dir, "pid", want);
	assert_absent(dir, "fd");
	assert_file_has(dir, "sig", "SigBlk:\t0000000000000000\n");
	/* Signals 1-31 only: glibc's posix_spawn leaves its own internal
	 * signals (32, 33) ignored in the child. */
	snprintf(want, sizeof(want), "%s/sig", dir);
	text = slurp(want);
	assert_non_null(text);
	assert_non_null(strstr(text, "SigIgn:\t"));
	assert_int_equal(strtoull(strstr(text, "SigIgn:\t") + 8, NULL, 16) &
		0x7fffffffULL,
	    0);
	free(text);
	assert_file_has(dir, "stderr", "to-stdout\n");

	alert_rule_free(&rule);
	rm_dir(dir);
}

static void
test_exec_resolved_and_values(void **state)
{
	char dir[] = "/tmp/test_alert.XXXXXX", cmd[1024];
	struct alert_event ev = { .kind = AE_RESOLVED, .host = "h" };
	struct alert_rule rule;
	pid_t pid;
	int st;

	assert_non_null(mkdtemp(dir));
	parse_ok("net_rx_bytes_per_s > 1e8 for 1m severity=page "
		 "summary=\"rx $(touch x) high\"",
	    &rule);
	ev.rule = &rule;
	ev.value = 123456789;
	snprintf(cmd, sizeof(cmd), "cd '%s' && env > env && exit 3", dir);
	assert_int_equal(alert_exec(cmd, &ev, &pid), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 3);
	assert_file_has(dir, "env", "MUSTER_ALERT_STATE=resolved\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_VALUE=123456789\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_HOST=h\n");
	assert_file_has(dir, "env",
	    "MUSTER_ALERT_RULE=net_rx_bytes_per_s > "
	    "1e8 for 1m\n");
	assert_file_has(dir, "env",
	    "MUSTER_ALERT_LABELS=severity=page\nsummary=rx $(touch x) "
	    "high\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_LABEL_severity=page\n");
	assert_file_has(dir, "env",
	    "MUSTER_ALERT_LABEL_summary=rx $(touch x) high\n");
	assert_absent(dir, "x");
	alert_rule_free(&rule);
	rm_dir(dir);
}

/* A host down and back: no rule, the reason in DETAIL. */
static void
test_exec_down_up(void **state)
{
	char dir[] = "/tmp/test_alert.XXXXXX", cmd[1024], path[600], *text;
	struct alert_event ev = { .kind = AE_DOWN,
		.host = "web1",
		.since = 42,
		.detail = "no sample for 3 s" };
	json_t *j;
	pid_t pid;
	int st;

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof(cmd), "cd '%s' && env > env", dir);
	assert_int_equal(alert_exec(cmd, &ev, &pid), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_file_has(dir, "env", "MUSTER_ALERT_STATE=down\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_HOST=web1\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_SINCE=42\n");
	assert_file_has(dir, "env", "MUSTER_ALERT_DETAIL=no sample for 3 s\n");
	snprintf(path, sizeof(path), "%s/env", dir);
	text = slurp(path);
	assert_non_null(text);
	assert_null(strstr(text, "MUSTER_ALERT_RULE="));
	assert_null(strstr(text, "MUSTER_ALERT_VALUE="));
	free(text);
	j = alert_event_json(&ev, 50);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text,
	    "{\"event\":\"down\",\"host\":\"web1\",\"ts\":50.0,"
	    "\"detail\":\"no sample for 3 s\",\"state\":\"down\","
	    "\"since\":42.0}");
	free(text);
	json_decref(j);
	ev.kind = AE_UP;
	ev.detail = NULL;
	j = alert_event_json(&ev, 60);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text,
	    "{\"event\":\"up\",\"host\":\"web1\",\"ts\":60.0,"
	    "\"detail\":null,\"state\":\"up\",\"since\":42.0}");
	free(text);
	json_decref(j);
	rm_dir(dir);
}

/* A rule's event has its parts as fields, and the old detail string. */
static void
test_event_json_rule(void **state)
{
	struct alert_event ev = { .kind = AE_FIRING, .host = "db2" };
	struct alert_rule rule;
	json_t *j;
	char *text;

	parse_ok("disk_used_pct[/var] > 90 for 5m severity=page team=db",
	    &rule);
	ev.rule = &rule;
	ev.value = 93.5;
	ev.since = 1000;
	j = alert_event_json(&ev, 1001);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text,
	    "{\"event\":\"alert\",\"host\":\"db2\",\"ts\":1001.0,"
	    "\"detail\":\"disk_used_pct[/var] > 90 for 5m firing (value "
	    "93.50)\",\"state\":\"firing\",\"since\":1000.0,"
	    "\"rule\":\"disk_used_pct[/var] > 90 for 5m\","
	    "\"name\":\"disk_used_pct\",\"value\":93.5,"
	    "\"labels\":{\"severity\":\"page\",\"team\":\"db\"}}");
	free(text);
	json_decref(j);
	alert_rule_free(&rule);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_all),
		cmocka_unit_test(test_parse_mount),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_eval_values),
		cmocka_unit_test(test_eval_disks),
		cmocka_unit_test(test_eval_absent),
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_transitions_for),
		cmocka_unit_test(test_parse_for_and_labels),
		cmocka_unit_test(test_parse_for_and_labels_errors),
		cmocka_unit_test(test_exec_environment),
		cmocka_unit_test(test_exec_resolved_and_values),
		cmocka_unit_test(test_exec_down_up),
		cmocka_unit_test(test_event_json_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
