#include "metrics.h"
#include "utf8.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/*
 * The families are tables rather than code so that adding a Sample field
 * is one line here, and so that every family gets its HELP and TYPE and
 * is rendered as one group, which the format requires.
 */
enum field_kind { FK_DOUBLE, FK_U64, FK_U32 };

struct field {
	size_t off; /* in the message */
	enum field_kind kind;
	double divisor; /* 0: the value as is (integers stay exact) */
};

/* clang-format off */
#define SAMPLE_FIELD(m, k, d) { offsetof(Muster__Sample, m), k, d }
#define DISK_FIELD(m) { offsetof(Muster__DiskUsage, m), FK_U64, 0 }
#define NET_FIELD(m, k) { offsetof(Muster__NetRate, m), k, 0 }
/* clang-format on */

/* Up to this many series per host in one sample family (cpu modes). */
#define ITEMS_MAX 5

struct sample_family {
	const char *name, *type, *help;
	const char *label; /* name of the extra label, or NULL */
	size_t nitems;
	struct {
		const char *label_value;
		struct field field;
	} items[ITEMS_MAX];
};

static const struct sample_family sample_families[] = {
	{ "muster_sample_timestamp_seconds", "gauge",
	    "Time of the newest sample by the host's own clock.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(ts_ms, FK_U64, 1000) } } },
	{ "muster_cpu_usage_ratio", "gauge",
	    "Share of all CPUs' time busy (mode total) and in each mode "
	    "since the previous sample.",
	    "mode", 5,
	    { { "total", SAMPLE_FIELD(cpu_pct, FK_DOUBLE, 100) },
		{ "user", SAMPLE_FIELD(cpu_user_pct, FK_DOUBLE, 100) },
		{ "system", SAMPLE_FIELD(cpu_system_pct, FK_DOUBLE, 100) },
		{ "iowait", SAMPLE_FIELD(cpu_iowait_pct, FK_DOUBLE, 100) },
		{ "steal", SAMPLE_FIELD(cpu_steal_pct, FK_DOUBLE, 100) } } },
	/* Not muster_cpu_count: "_count" belongs to histograms and
	 * summaries, and promtool rejects it elsewhere. */
	{ "muster_cpus", "gauge", "Number of CPUs online.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(ncpu, FK_U32, 0) } } },
	{ "muster_load1", "gauge", "1-minute load average.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(load1, FK_DOUBLE, 0) } } },
	{ "muster_load5", "gauge", "5-minute load average.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(load5, FK_DOUBLE, 0) } } },
	{ "muster_load15", "gauge", "15-minute load average.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(load15, FK_DOUBLE, 0) } } },
	{ "muster_memory_total_bytes", "gauge", "Physical memory.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(mem_total_bytes, FK_U64, 0) } } },
	{ "muster_memory_available_bytes", "gauge",
	    "Memory available for new work without swapping.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(mem_available_bytes, FK_U64, 0) } } },
	{ "muster_memory_used_bytes", "gauge", "Memory in use.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(mem_used_bytes, FK_U64, 0) } } },
	{ "muster_swap_total_bytes", "gauge", "Swap space.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(swap_total_bytes, FK_U64, 0) } } },
	{ "muster_swap_used_bytes", "gauge", "Swap space in use.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(swap_used_bytes, FK_U64, 0) } } },
	{ "muster_disk_read_bytes_per_second", "gauge",
	    "Bytes read from block devices per second.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(disk_read_bytes_per_s, FK_DOUBLE, 0) } } },
	{ "muster_disk_written_bytes_per_second", "gauge",
	    "Bytes written to block devices per second.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(disk_write_bytes_per_s, FK_DOUBLE, 0) } } },
	{ "muster_processes", "gauge", "Number of processes.", NULL, 1,
	    { { NULL, SAMPLE_FIELD(procs, FK_U32, 0) } } },
	{ "muster_uptime_seconds", "gauge", "Time since the host booted.",
	    NULL, 1, { { NULL, SAMPLE_FIELD(uptime_s, FK_DOUBLE, 0) } } },
};

/* A family with one series per file system or per network interface. */
struct device_family {
	const char *name, *type, *help;
	struct field field;
};

static const struct device_family disk_families[] = {
	{ "muster_filesystem_size_bytes", "gauge", "File system size.",
	    DISK_FIELD(total_bytes) },
	{ "muster_filesystem_used_bytes", "gauge", "File system space in use.",
	    DISK_FIELD(used_bytes) },
	{ "muster_filesystem_inodes", "gauge", "File system inodes.",
	    DISK_FIELD(inodes_total) },
	{ "muster_filesystem_inodes_used", "gauge",
	    "File system inodes in use.", DISK_FIELD(inodes_used) },
};

static const struct device_family net_families[] = {
	{ "muster_network_receive_bytes_per_second", "gauge",
	    "Bytes received per second.",
	    NET_FIELD(rx_bytes_per_s, FK_DOUBLE) },
	{ "muster_network_transmit_bytes_per_second", "gauge",
	    "Bytes sent per second.", NET_FIELD(tx_bytes_per_s, FK_DOUBLE) },
	{ "muster_network_receive_errors_per_second", "gauge",
	    "Receive errors per second.",
	    NET_FIELD(rx_errors_per_s, FK_DOUBLE) },
	{ "muster_network_transmit_errors_per_second", "gauge",
	    "Transmit errors per second.",
	    NET_FIELD(tx_errors_per_s, FK_DOUBLE) },
	{ "muster_network_receive_bytes_total", "counter",
	    "Bytes received since the interface came up.",
	    NET_FIELD(rx_bytes_total, FK_U64) },
	{ "muster_network_transmit_bytes_total", "counter",
	    "Bytes sent since the interface came up.",
	    NET_FIELD(tx_bytes_total, FK_U64) },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A label text (`host="a"`) in render.labels. */
struct span {
	size_t off, len;
	int dup; /* repeats an earlier device of the host */
};

struct host_prep {
	struct span host;
	const Muster__Sample *sample; /* NULL: only the up families */
	struct span *disk;	      /* sample->n_disks entries */
	struct span *net;	      /* sample->n_net entries */
};

struct render {
	struct buf *out;
	bool target;	   /* one host's text: no host label */
	struct buf labels; /* every escaped label text, rendered once */
	struct host_prep *prep;
	size_t n;
};

/* A value as printed: integers exactly, the rest as shortest doubles. */
struct value {
	int exact;
	uint64_t u;
	double d;
};

/* --- text -------------------------------------------------------------- */

static int
put_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

static int
label_plain(uint8_t c)
{
	return c >= 0x20 && c < 0x7f && c != '\\' && c != '"';
}

/*
 * A label value from untrusted bytes. The format escapes only backslash,
 * double quote and line feed; other controls (C0, DEL, C1) would pass
 * raw and upset line-based tools and terminals reading the text, so they
 * become U+FFFD like bytes that are not UTF-8.
 */
static int
put_label_value(struct buf *b, const uint8_t *p, size_t n)
{
	static const uint8_t replacement[] = { 0xef, 0xbf, 0xbd };
	size_t i = 0, run, seq;
	uint32_t cp = 0;
	int r;

	while (i < n) {
		for (run = i; run < n && label_plain(p[run]); run++)
			;
		if ((r = buf_append(b, p + i, run - i)) != 0)
			return r;
		if ((i = run) == n)
			break;
		seq = 1;
		if (p[i] == '\\')
			r = put_str(b, "\\\\");
		else if (p[i] == '"')
			r = put_str(b, "\\\"");
		else if (p[i] == '\n')
			r = put_str(b, "\\n");
		else if (p[i] >= 0x80 &&
		    (seq = utf8_seq(p + i, n - i, &cp)) > 0 && cp >= 0xa0)
			r = buf_append(b, p + i, seq);
		else {
			if (seq == 0)
				seq = 1;
			r = buf_append(b, replacement, sizeof(replacement));
		}
		if (r != 0)
			return r;
		i += seq;
	}
	return 0;
}

static int
put_label(struct buf *b, const char *name, const uint8_t *p, size_t n)
{
	int r;

	if ((r = put_str(b, name)) != 0 || (r = put_str(b, "=\"")) != 0 ||
	    (r = put_label_value(b, p, n)) != 0)
		return r;
	return put_str(b, "\"");
}

/* Shortest text that reads back as the same double; Prometheus's own
 * spellings for the values printf has no agreed form for. */
static int
put_double(struct buf *b, double v)
{
	char text[40];
	int prec;

	if (isnan(v))
		return put_str(b, "NaN");
	if (isinf(v))
		return put_str(b, v > 0 ? "+Inf" : "-Inf");
	for (prec = 15; prec < 17; prec++) {
		snprintf(text, sizeof(text), "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			return put_str(b, text);
	}
	snprintf(text, sizeof(text), "%.17g", v);
	return put_str(b, text);
}

static int
put_value(struct buf *b, struct value v)
{
	char text[24];

	if (!v.exact)
		return put_double(b, v.d);
	snprintf(text, sizeof(text), "%" PRIu64, v.u);
	return put_str(b, text);
}

static struct value
field_value(const void *msg, const struct field *f)
{
	const char *base = msg;
	struct value v = { 0, 0, 0 };
	uint64_t u64;
	uint32_t u32;
	double d;

	switch (f->kind) {
	case FK_DOUBLE:
		memcpy(&d, base + f->off, sizeof(d));
		v.d = d;
		break;
	case FK_U64:
		memcpy(&u64, base + f->off, sizeof(u64));
		v.u = u64;
		v.d = (double)u64;
		v.exact = 1;
		break;
	case FK_U32:
		memcpy(&u32, base + f->off, sizeof(u32));
		v.u = u32;
		v.d = u32;
		v.exact = 1;
		break;
	}
	if (f->divisor != 0) {
		v.d /= f->divisor;
		v.exact = 0;
	}
	return v;
}

/* --- preparation: every label text escaped once ------------------------ */

static int
add_span(struct render *rd, struct span *sp, const char *name1,
    const ProtobufCBinaryData *v1, const char *name2,
    const ProtobufCBinaryData *v2)
{
	int r;

	sp->off = buf_len(&rd->labels);
	if ((r = put_label(&rd->labels, name1, v1->data, v1->len)) != 0)
		return r;
	if (name2 != NULL &&
	    ((r = put_str(&rd->labels, ",")) != 0 ||
		(r = put_label(&rd->labels, name2, v2->data, v2->len)) != 0))
		return r;
	sp->len = buf_len(&rd->labels) - sp->off;
	sp->dup = 0;
	return 0;
}

struct sort_entry {
	const uint8_t *text;
	size_t len, index;
};

static int
metrics_sort_entry_cmp(const void *a, const void *b)
{
	const struct sort_entry *x = a, *y = b;
	size_t common = x->len < y->len ? x->len : y->len;
	int c;

	if ((c = memcmp(x->text, y->text, common)) != 0)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Mark every span whose text equals an earlier one's. Sorting keeps this
 * O(n log n) for hosts with thousands of interfaces (container veths);
 * the index breaks ties so the first of equals is kept.
 */
static int
mark_duplicates(struct render *rd, struct span *spans, size_t n)
{
	struct sort_entry *v;
	size_t i;

	if (n < 2)
		return 0;
	if ((v = calloc(n, sizeof(*v))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++) {
		v[i].text = buf_ptr(&rd->labels) + spans[i].off;
		v[i].len = spans[i].len;
		v[i].index = i;
	}
	qsort(v, n, sizeof(*v), metrics_sort_entry_cmp);
	for (i = 1; i < n; i++) {
		if (v[i].len == v[i - 1].len &&
		    memcmp(v[i].text, v[i - 1].text, v[i].len) == 0)
			spans[v[i].index].dup = 1;
	}
	free(v);
	return 0;
}

static int
prepare_host(struct render *rd, const struct metrics_host *h,
    struct host_prep *hp)
{
	ProtobufCBinaryData name;
	const Muster__Sample *s;
	size_t i, ndev;
	int r;

	name.data = (uint8_t *)h->host;
	name.len = strlen(h->host);
	if (!rd->target &&
	    (r = add_span(rd, &hp->host, "host", &name, NULL, NULL)) != 0)
		return r;
	if (!h->up || (s = h->last) == NULL)
		return 0;
	hp->sample = s;
	if ((ndev = s->n_disks + s->n_net) == 0)
		return 0;
	if ((hp->disk = calloc(ndev, sizeof(*hp->disk))) == NULL)
		return MERR_NOMEM;
	hp->net = hp->disk + s->n_disks;
	for (i = 0; i < s->n_disks; i++) {
		if ((r = add_span(rd, &hp->disk[i], "mountpoint",
			 &s->disks[i]->mount, "fstype",
			 &s->disks[i]->fstype)) != 0)
			return r;
	}
	for (i = 0; i < s->n_net; i++) {
		if ((r = add_span(rd, &hp->net[i], "device", &s->net[i]->iface,
			 NULL, NULL)) != 0)
			return r;
	}
	if ((r = mark_duplicates(rd, hp->disk, s->n_disks)) != 0)
		return r;
	return mark_duplicates(rd, hp->net, s->n_net);
}

/* --- rendering --------------------------------------------------------- */

static int
put_header(struct buf *b, const char *name, const char *type, const char *help)
{
	int r;

	if ((r = put_str(b, "# HELP ")) != 0 || (r = put_str(b, name)) != 0 ||
	    (r = put_str(b, " ")) != 0 || (r = put_str(b, help)) != 0 ||
	    (r = put_str(b, "\n# TYPE ")) != 0 ||
	    (r = put_str(b, name)) != 0 || (r = put_str(b, " ")) != 0 ||
	    (r = put_str(b, type)) != 0)
		return r;
	return put_str(b, "\n");
}

/* name{host="h"[,extra]} value */
static int
put_line(struct render *rd, const char *name, const struct host_prep *hp,
    const void *extra, size_t extra_len, struct value v)
{
	struct buf *b = rd->out;
	int r;

	if ((r = put_str(b, name)) != 0)
		return r;
	if (hp->host.len + extra_len > 0 &&
	    ((r = put_str(b, "{")) != 0 ||
		(r = buf_append(b, buf_ptr(&rd->labels) + hp->host.off,
		     hp->host.len)) != 0))
		return r;
	if (extra_len > 0 &&
	    ((hp->host.len > 0 && (r = put_str(b, ",")) != 0) ||
		(r = buf_append(b, extra, extra_len)) != 0))
		return r;
	if (hp->host.len + extra_len > 0 && (r = put_str(b, "}")) != 0)
		return r;
	if ((r = put_str(b, " ")) != 0 || (r = put_value(b, v)) != 0)
		return r;
	return put_str(b, "\n");
}

static int
render_up(struct render *rd, const struct metrics_host *hosts)
{
	const char *since_name;
	struct value v = { 1, 0, 0 };
	size_t i;
	int r, pass, started;

	if (rd->n > 0 &&
	    (r = put_header(rd->out, "muster_up", "gauge",
		 "Whether the host's agent is connected and its samples arrive "
		 "(1) or not (0).")) != 0)
		return r;
	for (i = 0; i < rd->n; i++) {
		v.u = hosts[i].up;
		if ((r = put_line(rd, "muster_up", &rd->prep[i], NULL, 0,
			 v)) != 0)
			return r;
	}
	/* Two families, so a query need not know the state to find the time. */
	for (pass = 0; pass < 2; pass++) {
		since_name = pass == 0 ?
		    "muster_up_since_timestamp_seconds" :
		    "muster_down_since_timestamp_seconds";
		started = 0;
		for (i = 0; i < rd->n; i++) {
			if (hosts[i].up != (pass == 0) || hosts[i].since <= 0)
				continue;
			if (!started &&
			    (r = put_header(rd->out, since_name, "gauge",
				 pass == 0 ?
				     "Time the host's agent connection came up." :
				     "Time the host's agent connection was lost or "
				     "first failed, or its samples stopped.")) !=
				0)
				return r;
			started = 1;
			v.exact = 0;
			v.d = hosts[i].since;
			if ((r = put_line(rd, since_name, &rd->prep[i], NULL,
				 0, v)) != 0)
				return r;
		}
	}
	/* Kept for down hosts too: that is when the age matters. */
	started = 0;
	for (i = 0; i < rd->n; i++) {
		if (hosts[i].last_rx <= 0)
			continue;
		if (!started &&
		    (r = put_header(rd->out,
			 "muster_last_sample_received_timestamp_seconds",
			 "gauge",
			 "Time the controller received the host's newest sample, "
			 "by the controller's clock.")) != 0)
			return r;
		started = 1;
		v.exact = 0;
		v.d = hosts[i].last_rx;
		if ((r = put_line(rd,
			 "muster_last_sample_received_timestamp_seconds",
			 &rd->prep[i], NULL, 0, v)) != 0)
			return r;
	}
	return 0;
}

static int
render_sample_family(struct render *rd, const struct sample_family *f)
{
	char extra[64];
	size_t i, k;
	int r, started = 0, extra_len = 0;

	for (i = 0; i < rd->n; i++) {
		if (rd->prep[i].sample == NULL)
			continue;
		if (!started &&
		    (r = put_header(rd->out, f->name, f->type, f->help)) != 0)
			return r;
		started = 1;
		for (k = 0; k < f->nitems; k++) {
			if (f->label != NULL)
				extra_len = snprintf(extra, sizeof(extra),
				    "%s=\"%s\"", f->label,
				    f->items[k].label_value);
			if ((r = put_line(rd, f->name, &rd->prep[i], extra,
				 extra_len,
				 field_value(rd->prep[i].sample,
				     &f->items[k].field))) != 0)
				return r;
		}
	}
	return 0;
}

static int
render_device_family(struct render *rd, const struct device_family *f,
    int disks)
{
	const struct host_prep *hp;
	const struct span *sp;
	const void *dev;
	size_t i, k, ndev;
	int r, started = 0;

	for (i = 0; i < rd->n; i++) {
		hp = &rd->prep[i];
		if (hp->sample == NULL)
			continue;
		ndev = disks ? hp->sample->n_disks : hp->sample->n_net;
		for (k = 0; k < ndev; k++) {
			sp = disks ? &hp->disk[k] : &hp->net[k];
			if (sp->dup)
				continue;
			dev = disks ?
			    (const void *)hp->sample->disks[k] :
			    (const void *)hp->sample->net[k];
			if (!started &&
			    (r = put_header(rd->out, f->name, f->type,
				 f->help)) != 0)
				return r;
			started = 1;
			if ((r = put_line(rd, f->name, hp,
				 buf_ptr(&rd->labels) + sp->off, sp->len,
				 field_value(dev, &f->field))) != 0)
				return r;
		}
	}
	return 0;
}

/* --- node_exporter's families, as the agent sent them ------------------ */

static bool
name_char(uint8_t c, bool first, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	    (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

static bool
valid_name(ProtobufCBinaryData n, bool metric)
{
	size_t i;

	if (n.len == 0 || n.len > 200)
		return false;
	for (i = 0; i < n.len; i++)
		if (!name_char(n.data[i], i == 0, metric))
			return false;
	return true;
}

static bool
same_bytes(ProtobufCBinaryData a, const char *s)
{
	return a.len == strlen(s) && memcmp(a.data, s, a.len) == 0;
}

/*
 * What a host sends is checked before it is rendered: names as the
 * format spells them, node_* only (the muster_* and process_* families
 * are the controller's own), label names neither reserved (__*) nor the
 * host label, nor twice in a family, and as many label values as the
 * series need. A family that fails is left out whole.
 */
static bool
valid_family(const Muster__Family *f, bool target)
{
	size_t i, j;

	if (!valid_name(f->name, true) || f->name.len <= 5 ||
	    memcmp(f->name.data, "node_", 5) != 0 || f->type > 2 ||
	    f->n_values == 0 || f->n_label_names > 32 ||
	    f->n_label_values / (f->n_label_names ? f->n_label_names : 1) !=
		(f->n_label_names ? f->n_values : 0) ||
	    f->n_label_values % (f->n_label_names ? f->n_label_names : 1) != 0)
		return false;
	for (i = 0; i < f->n_label_names; i++) {
		if (!valid_name(f->label_names[i], false) ||
		    (f->label_names[i].len >= 2 &&
			memcmp(f->label_names[i].data, "__", 2) == 0) ||
		    (!target && same_bytes(f->label_names[i], "host")))
			return false;
		for (j = 0; j < i; j++)
			if (f->label_names[j].len == f->label_names[i].len &&
			    memcmp(f->label_names[j].data,
				f->label_names[i].data,
				f->label_names[i].len) == 0)
				return false;
	}
	return true;
}

struct fam_entry {
	const Muster__Family *f;
	size_t host;
};

static int
metrics_fam_entry_cmp(const void *a, const void *b)
{
	const struct fam_entry *x = a, *y = b;
	size_t n = x->f->name.len < y->f->name.len ?
	    x->f->name.len :
	    y->f->name.len;
	int c;

	if ((c = memcmp(x->f->name.data, y->f->name.data, n)) != 0)
		return c;
	if (x->f->name.len != y->f->name.len)
		return x->f->name.len < y->f->name.len ? -1 : 1;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	/* Same host twice: keep the order it sent them in. */
	return x->f < y->f ? -1 : x->f > y->f;
}

static int
render_family_series(struct render *rd, const struct fam_entry *e,
    const char *name)
{
	const Muster__Family *f = e->f;
	const struct host_prep *hp = &rd->prep[e->host];
	struct buf *b = rd->out;
	size_t i, k, nl = f->n_label_names;
	bool any;
	int r;

	for (i = 0; i < f->n_values; i++) {
		if ((r = put_str(b, name)) != 0)
			return r;
		any = hp->host.len > 0 || nl > 0;
		if (any && (r = put_str(b, "{")) != 0)
			return r;
		if (hp->host.len > 0 &&
		    (r = buf_append(b, buf_ptr(&rd->labels) + hp->host.off,
			 hp->host.len)) != 0)
			return r;
		for (k = 0; k < nl; k++) {
			if ((k > 0 || hp->host.len > 0) &&
			    (r = put_str(b, ",")) != 0)
				return r;
			if ((r = buf_append(b, f->label_names[k].data,
				 f->label_names[k].len)) != 0 ||
			    (r = put_str(b, "=\"")) != 0 ||
			    (r = put_label_value(b,
				 f->label_values[i * nl + k].data,
				 f->label_values[i * nl + k].len)) != 0 ||
			    (r = put_str(b, "\"")) != 0)
				return r;
		}
		if (any && (r = put_str(b, "}")) != 0)
			return r;
		if ((r = put_str(b, " ")) != 0 ||
		    (r = put_double(b, f->values[i])) != 0 ||
		    (r = put_str(b, "\n")) != 0)
			return r;
	}
	return 0;
}

/*
 * Each family is one group across hosts, as the format requires: the
 * (name, host) pairs are sorted, the first host's type is the family's
 * and a host that disagrees, or repeats a family, is left out of it.
 */
static int
render_families(struct render *rd)
{
	static const char *const types[] = { "gauge", "counter", "untyped" };
	struct fam_entry *e = NULL;
	const Muster__Sample *s;
	char name[208];
	size_t i, j, n = 0, total = 0;
	int r = 0;

	for (i = 0; i < rd->n; i++)
		if ((s = rd->prep[i].sample) != NULL)
			total += s->n_families;
	if (total == 0)
		return 0;
	if ((e = calloc(total, sizeof(*e))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < rd->n; i++) {
		if ((s = rd->prep[i].sample) == NULL)
			continue;
		for (j = 0; j < s->n_families; j++)
			if (valid_family(s->families[j], rd->target)) {
				e[n].f = s->families[j];
				e[n++].host = i;
			}
	}
	qsort(e, n, sizeof(*e), metrics_fam_entry_cmp);
	for (i = 0; i < n; i = j) {
		memcpy(name, e[i].f->name.data, e[i].f->name.len);
		name[e[i].f->name.len] = '\0';
		if ((r = put_header(rd->out, name, types[e[i].f->type],
			 "node_exporter's family, read by muster's agent.")) !=
		    0)
			goto out;
		for (j = i; j < n && same_bytes(e[j].f->name, name); j++) {
			if (e[j].f->type != e[i].f->type ||
			    (j > i && e[j - 1].host == e[j].host))
				continue;
			if ((r = render_family_series(rd, &e[j], name)) != 0)
				goto out;
		}
	}
out:
	free(e);
	return r;
}

static int
render_all(const struct metrics_host *hosts, size_t n, bool target,
    struct buf *out)
{
	struct render rd;
	struct host_prep *prep = NULL;
	size_t i, saved_max = out->max;
	int r;

	memset(&rd, 0, sizeof(rd));
	rd.target = target;
	rd.out = out;
	rd.n = n;
	buf_init(&rd.labels, METRICS_MAX_BYTES);
	buf_reset(out);
	if (out->max > METRICS_MAX_BYTES)
		out->max = METRICS_MAX_BYTES;
	/* Owned by this local, not rd.prep: the analyzer assumes a call
	 * given &rd.labels may overwrite every field of rd. */
	if (n > 0 && (prep = calloc(n, sizeof(*prep))) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	rd.prep = prep;
	for (i = 0; i < n; i++) {
		if ((r = prepare_host(&rd, &hosts[i], &rd.prep[i])) != 0)
			goto out;
	}
	if ((r = render_up(&rd, hosts)) != 0)
		goto out;
	for (i = 0; i < NELEM(sample_families); i++) {
		if ((r = render_sample_family(&rd, &sample_families[i])) != 0)
			goto out;
	}
	for (i = 0; i < NELEM(disk_families); i++) {
		if ((r = render_device_family(&rd, &disk_families[i], 1)) != 0)
			goto out;
	}
	for (i = 0; i < NELEM(net_families); i++) {
		if ((r = render_device_family(&rd, &net_families[i], 0)) != 0)
			goto out;
	}
	/* node_* only per target: in one page for every host they would be
	 * the size of the fleet times node_exporter's, and promtool's lint
	 * rejects some of node_exporter's own names there. */
	r = target ? render_families(&rd) : 0;
out:
	out->max = saved_max;
	for (i = 0; prep != NULL && i < n; i++)
		free(prep[i].disk);
	free(prep);
	buf_free(&rd.labels);
	return r;
}

int
metrics_render(const struct metrics_host *hosts, size_t n, struct buf *out)
{
	return render_all(hosts, n, false, out);
}

int
metrics_render_target(const struct metrics_host *host, struct buf *out)
{
	return render_all(host, 1, true, out);
}
