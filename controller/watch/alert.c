#include "alert.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "array.h"
#include "err.h"

static const struct metric_def {
	const char *name;
	enum alert_metric metric;
	bool per_mount; /* takes "[/mount]" */
} metric_defs[] = {
	{ "cpu_pct", AM_CPU_PCT, false },
	{ "cpu_iowait_pct", AM_CPU_IOWAIT_PCT, false },
	{ "cpu_steal_pct", AM_CPU_STEAL_PCT, false },
	{ "load1", AM_LOAD1, false },
	{ "load5", AM_LOAD5, false },
	{ "load15", AM_LOAD15, false },
	{ "mem_available_pct", AM_MEM_AVAILABLE_PCT, false },
	{ "mem_used_pct", AM_MEM_USED_PCT, false },
	{ "swap_used_pct", AM_SWAP_USED_PCT, false },
	{ "disk_used_pct", AM_DISK_USED_PCT, true },
	{ "inode_used_pct", AM_INODE_USED_PCT, true },
	{ "procs", AM_PROCS, false },
	{ "net_rx_bytes_per_s", AM_NET_RX_BYTES_PER_S, false },
	{ "net_tx_bytes_per_s", AM_NET_TX_BYTES_PER_S, false },
	{ "disk_read_bytes_per_s", AM_DISK_READ_BYTES_PER_S, false },
	{ "disk_write_bytes_per_s", AM_DISK_WRITE_BYTES_PER_S, false },
};

/* Two-character operators first so ">=" is not read as ">" and "=". */
static const struct op_def {
	const char *text;
	enum alert_op op;
} op_defs[] = {
	{ ">=", AO_GE },
	{ "<=", AO_LE },
	{ "==", AO_EQ },
	{ "!=", AO_NE },
	{ ">", AO_GT },
	{ "<", AO_LT },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define LABELS_MAX 32

static const struct unit_def {
	char unit;
	double seconds;
} unit_defs[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };

const char *
alert_metric_names(void)
{
	return "cpu_pct, cpu_iowait_pct, cpu_steal_pct, load1, load5, "
	       "load15, mem_available_pct, mem_used_pct, swap_used_pct, "
	       "disk_used_pct[/mount], inode_used_pct[/mount], procs, "
	       "net_rx_bytes_per_s, net_tx_bytes_per_s, disk_read_bytes_per_s, "
	       "disk_write_bytes_per_s";
}

const char *
alert_change_str(enum alert_change c)
{
	switch (c) {
	case ALERT_FIRED: return "firing";
	case ALERT_RESOLVED: return "resolved";
	case ALERT_NONE: break;
	}
	return "none";
}

/* --- parsing ----------------------------------------------------------- */

static size_t
skip_blanks(const char *s, size_t i)
{
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return i;
}

static bool
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Length of a decimal number at s: [+-] digits [. digits] [e [+-] digits]
 * with at least one digit before the exponent. Checked by hand because
 * strtod also takes "inf", "nan" and hex, which make no sense here.
 */
static size_t
number_len(const char *s)
{
	size_t i = 0, digits = 0;

	if (s[i] == '+' || s[i] == '-')
		i++;
	for (; is_digit(s[i]); i++)
		digits++;
	if (s[i] == '.')
		for (i++; is_digit(s[i]); i++)
			digits++;
	if (digits == 0)
		return 0;
	if (s[i] == 'e' || s[i] == 'E') {
		size_t exp = i + 1;

		if (s[exp] == '+' || s[exp] == '-')
			exp++;
		if (is_digit(s[exp])) {
			while (is_digit(s[exp]))
				exp++;
			i = exp;
		}
	}
	return i;
}

/* --- after the number: "for DURATION" and labels ------------------------ */

static bool
is_blank_or_end(char c)
{
	return c == ' ' || c == '\t' || c == '\0';
}

/* " for 5m" in the largest unit that divides it, "" for no duration. */
static void
format_for(char *text, size_t len, double for_s)
{
	char num[40];
	size_t k;

	text[0] = '\0';
	if (for_s <= 0)
		return;
	/* The last unit, s, takes whatever the others do not divide. */
	for (k = 0; k + 1 < NELEM(unit_defs); k++)
		if (fmod(for_s, unit_defs[k].seconds) == 0)
			break;
	alert_format_number(num, sizeof(num), for_s / unit_defs[k].seconds);
	snprintf(text, len, " for %s%c", num, unit_defs[k].unit);
}

/* "for DURATION" at expr + i (i past "for" and blanks). */
static int
parse_for(const char *expr, size_t *pos, double *for_s, char *err,
    size_t errlen)
{
	size_t i = *pos, len, k, unit_at;
	double v, mult = 1;
	char num[64];

	len = is_digit(expr[i]) || expr[i] == '.' ? number_len(expr + i) : 0;
	if (len == 0 || len >= sizeof(num)) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected a duration after "
		    "'for', as in 'for 5m' (units s, m, h, d)",
		    expr, i + 1);
		return MERR_PARSE;
	}
	memcpy(num, expr + i, len);
	num[len] = '\0';
	v = strtod(num, NULL);
	unit_at = i + len;
	for (k = 0; k < NELEM(unit_defs); k++)
		if (expr[i + len] == unit_defs[k].unit) {
			mult = unit_defs[k].seconds;
			len++;
			break;
		}
	if (!is_blank_or_end(expr[i + len])) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: unknown duration unit; use "
		    "s, m, h or d, as in 'for 5m'",
		    expr, unit_at + 1);
		return MERR_PARSE;
	}
	v *= mult;
	if (!isfinite(v) || v > ALERT_FOR_MAX) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: duration \"%.*s\" longer than "
		    "7d",
		    expr, i + 1, (int)len, expr + i);
		return MERR_PARSE;
	}
	*for_s = v;
	*pos = i + len;
	return 0;
}

/* UTF-8 (a JSON string can hold it) without control characters. */
static bool
label_value_ok(const char *v, size_t len)
{
	json_t *j;
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return false;
	if ((j = json_stringn(v, len)) == NULL)
		return false;
	json_decref(j);
	return true;
}

static bool
label_name_reserved(const char *name, size_t len)
{
	return (len >= 2 && name[0] == '_' && name[1] == '_') ||
	    (len == 8 && memcmp(name, "instance", 8) == 0) ||
	    (len == 4 && memcmp(name, "rule", 4) == 0);
}

/* One NAME=VALUE at expr + *pos into r. */
static int
parse_label(const char *expr, size_t *pos, struct alert_rule *r, char *err,
    size_t errlen)
{
	size_t i = *pos, name_len, vstart, vlen, k;
	struct alert_label *l;

	for (name_len = 0; is_name_char(expr[i + name_len]); name_len++)
		;
	if (name_len == 0 || is_digit(expr[i]) || expr[i + name_len] != '=') {
		snprintf(err, errlen,
		    "\"%s\": position %zu: unexpected \"%s\": expected "
		    "'for DURATION' or a label NAME=VALUE",
		    expr, i + 1, expr + i);
		return MERR_PARSE;
	}
	if (label_name_reserved(expr + i, name_len)) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: label \"%.*s\" is reserved "
		    "(muster sets instance and rule; __* are Prometheus')",
		    expr, i + 1, (int)name_len, expr + i);
		return MERR_PARSE;
	}
	for (k = 0; k < r->nlabels; k++)
		if (strlen(r->labels[k].name) == name_len &&
		    memcmp(r->labels[k].name, expr + i, name_len) == 0) {
			snprintf(err, errlen,
			    "\"%s\": position %zu: label \"%.*s\" given twice",
			    expr, i + 1, (int)name_len, expr + i);
			return MERR_PARSE;
		}
	if (r->nlabels >= LABELS_MAX) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: more than %d labels", expr, i + 1,
		    LABELS_MAX);
		return MERR_PARSE;
	}
	vstart = i + name_len + 1;
	if (expr[vstart] == '"') {
		const char *close = strchr(expr + vstart + 1, '"');

		if (close == NULL) {
			snprintf(err, errlen,
			    "\"%s\": position %zu: '\"' without a closing "
			    "'\"'",
			    expr, vstart + 1);
			return MERR_PARSE;
		}
		vstart++;
		vlen = (size_t)(close - (expr + vstart));
		*pos = vstart + vlen + 1;
	} else {
		for (vlen = 0; !is_blank_or_end(expr[vstart + vlen]) &&
		     expr[vstart + vlen] != '"';
		     vlen++)
			;
		*pos = vstart + vlen;
	}
	if (vlen == 0 || !label_value_ok(expr + vstart, vlen)) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected a label value after "
		    "'=': UTF-8 text without control characters, "
		    "\"quoted\" if it has blanks",
		    expr, vstart + 1);
		return MERR_PARSE;
	}
	if (!is_blank_or_end(expr[*pos])) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected a blank after the "
		    "label's value",
		    expr, *pos + 1);
		return MERR_PARSE;
	}
	if (ARRAY_RESERVE(r->labels, r->labels_cap, r->nlabels + 1, 4) != 0)
		return MERR_NOMEM;
	l = &r->labels[r->nlabels];
	l->name = strndup(expr + i, name_len);
	l->value = strndup(expr + vstart, vlen);
	r->nlabels++; /* freed with the rule even if one strndup failed */
	return l->name == NULL || l->value == NULL ? MERR_NOMEM : 0;
}

/* Everything after the number: [for DURATION] [NAME=VALUE ...]. */
static int
parse_tail(const char *expr, size_t i, struct alert_rule *r, char *err,
    size_t errlen)
{
	int rc;

	if (strncmp(expr + i, "for", 3) == 0 &&
	    (expr[i + 3] == ' ' || expr[i + 3] == '\t')) {
		i = skip_blanks(expr, i + 3);
		if ((rc = parse_for(expr, &i, &r->for_s, err, errlen)) != 0)
			return rc;
		i = skip_blanks(expr, i);
	}
	while (expr[i] != '\0') {
		if ((rc = parse_label(expr, &i, r, err, errlen)) != 0)
			return rc;
		i = skip_blanks(expr, i);
	}
	return 0;
}

/* text plus the labels, quoted where they have blanks: parses back to
 * the same rule. */
static char *
labels_spec(const struct alert_rule *r)
{
	size_t len = strlen(r->text) + 1, i, off;
	char *spec;

	for (i = 0; i < r->nlabels; i++)
		len += strlen(r->labels[i].name) + strlen(r->labels[i].value) +
		    4;
	if ((spec = malloc(len)) == NULL)
		return NULL;
	off = (size_t)snprintf(spec, len, "%s", r->text);
	for (i = 0; i < r->nlabels; i++) {
		const char *v = r->labels[i].value;
		bool quote = strpbrk(v, " \t") != NULL;

		off += (size_t)snprintf(spec + off, len - off, " %s=%s%s%s",
		    r->labels[i].name, quote ? "\"" : "", v,
		    quote ? "\"" : "");
	}
	return spec;
}

/* METRIC, one of metric_defs. */
static int
parse_metric(const char *expr, size_t *pos, const struct metric_def **md,
    char *err, size_t errlen)
{
	size_t i, start, name_len, k;

	*md = NULL;
	start = i = skip_blanks(expr, *pos);
	while (is_name_char(expr[i]))
		i++;
	name_len = i - start;
	for (k = 0; name_len > 0 && k < NELEM(metric_defs); k++) {
		if (strlen(metric_defs[k].name) == name_len &&
		    strncmp(metric_defs[k].name, expr + start, name_len) == 0)
			*md = &metric_defs[k];
	}
	if (*md == NULL) {
		if (name_len == 0)
			snprintf(err, errlen,
			    "\"%s\": position %zu: expected "
			    "a metric name; valid metrics: %s",
			    expr, start + 1, alert_metric_names());
		else
			snprintf(err, errlen,
			    "\"%s\": position %zu: unknown "
			    "metric \"%.*s\"; valid metrics: %s",
			    expr, start + 1, (int)name_len, expr + start,
			    alert_metric_names());
		return MERR_PARSE;
	}
	*pos = i;
	return 0;
}

/* [/mount], if there is one: *mount points into expr, NULL without. */
static int
parse_mount(const char *expr, size_t *pos, const struct metric_def *md,
    const char **mount, size_t *mount_len, char *err, size_t errlen)
{
	size_t i = skip_blanks(expr, *pos), start;
	const char *close;

	*mount = NULL;
	*mount_len = 0;
	*pos = i;
	if (expr[i] != '[')
		return 0;
	close = strchr(expr + i, ']');
	if (!md->per_mount) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: %s takes "
		    "no [mount]; only disk_used_pct and inode_used_pct "
		    "do",
		    expr, i + 1, md->name);
		return MERR_PARSE;
	}
	if (close == NULL) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: '[' "
		    "without a closing ']'",
		    expr, i + 1);
		return MERR_PARSE;
	}
	start = skip_blanks(expr, i + 1);
	*mount = expr + start;
	*mount_len = (size_t)(close - *mount);
	while (*mount_len > 0 &&
	    ((*mount)[*mount_len - 1] == ' ' ||
		(*mount)[*mount_len - 1] == '\t'))
		(*mount_len)--;
	if (*mount_len == 0 || (*mount)[0] != '/') {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected "
		    "an absolute mount point inside [ ], as in "
		    "%s[/var]",
		    expr, start + 1, md->name);
		return MERR_PARSE;
	}
	*pos = skip_blanks(expr, (size_t)(close - expr) + 1);
	return 0;
}

/* OP, one of op_defs. */
static int
parse_op(const char *expr, size_t *pos, const struct metric_def *md,
    const struct op_def **od, char *err, size_t errlen)
{
	size_t i = *pos, k;

	*od = NULL;
	for (k = 0; k < NELEM(op_defs); k++) {
		if (strncmp(expr + i, op_defs[k].text,
			strlen(op_defs[k].text)) == 0) {
			*od = &op_defs[k];
			break;
		}
	}
	if (*od == NULL) {
		if (expr[i] == '=')
			snprintf(err, errlen,
			    "\"%s\": position %zu: '=' is "
			    "not an operator, use '=='",
			    expr, i + 1);
		else
			snprintf(err, errlen,
			    "\"%s\": position %zu: expected "
			    "an operator (> >= < <= == !=) after %s",
			    expr, i + 1, md->name);
		return MERR_PARSE;
	}
	*pos = skip_blanks(expr, i + strlen((*od)->text));
	return 0;
}

/* NUMBER: its value, and its text as written (for the rule's text);
 * the caller frees *num, also on an error. */
static int
parse_number(const char *expr, size_t *pos, const struct op_def *od,
    char **num, double *threshold, char *err, size_t errlen)
{
	size_t start = *pos, num_len;
	char *end;

	*num = NULL;
	if ((num_len = number_len(expr + start)) == 0) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected a "
		    "number after '%s'",
		    expr, start + 1, od->text);
		return MERR_PARSE;
	}
	if ((*num = strndup(expr + start, num_len)) == NULL)
		return MERR_NOMEM;
	errno = 0;
	*threshold = strtod(*num, &end);
	if (*end != '\0' || !isfinite(*threshold) || errno == ERANGE) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: number \"%s\" "
		    "out of range",
		    expr, start + 1, *num);
		return MERR_PARSE;
	}
	*pos = skip_blanks(expr, start + num_len);
	return 0;
}

/* The rule's mount, its text (canonical: parses back to the same rule)
 * and its spec, from the parts as written. */
static int
rule_texts(struct alert_rule *nr, const struct metric_def *md,
    const char *mount, size_t mount_len, const struct op_def *od,
    const char *num)
{
	char fortext[48], *text;

	if (mount != NULL && (nr->mount = strndup(mount, mount_len)) == NULL)
		return MERR_NOMEM;
	format_for(fortext, sizeof(fortext), nr->for_s);
	if (asprintf(&text, "%s%s%s%s %s %s%s", md->name,
		mount != NULL ? "[" : "", mount != NULL ? nr->mount : "",
		mount != NULL ? "]" : "", od->text, num, fortext) == -1)
		return MERR_NOMEM;
	nr->text = text;
	if ((nr->spec = labels_spec(nr)) == NULL)
		return MERR_NOMEM;
	return 0;
}

int
alert_parse(const char *expr, struct alert_rule *rule, char *err,
    size_t errlen)
{
	const struct metric_def *md;
	const struct op_def *od;
	const char *mount;
	size_t i = 0, mount_len;
	char *num = NULL;
	struct alert_rule nr;
	int r;

	memset(&nr, 0, sizeof(nr));
	if (strlen(expr) > ALERT_EXPR_MAX) {
		snprintf(err, errlen, "alert rule longer than %d bytes",
		    ALERT_EXPR_MAX);
		return MERR_LIMIT;
	}
	if ((r = parse_metric(expr, &i, &md, err, errlen)) != 0 ||
	    (r = parse_mount(expr, &i, md, &mount, &mount_len, err, errlen)) !=
		0 ||
	    (r = parse_op(expr, &i, md, &od, err, errlen)) != 0 ||
	    (r = parse_number(expr, &i, od, &num, &nr.threshold, err,
		 errlen)) != 0)
		goto out;
	nr.metric = md->metric;
	nr.op = od->op;
	if ((r = parse_tail(expr, i, &nr, err, errlen)) != 0 ||
	    (r = rule_texts(&nr, md, mount, mount_len, od, num)) != 0)
		goto out;
	*rule = nr;
	memset(&nr, 0, sizeof(nr));
out:
	free(num);
	alert_rule_free(&nr);
	return r;
}

void
alert_rule_free(struct alert_rule *rule)
{
	size_t i;

	for (i = 0; i < rule->nlabels; i++) {
		free(rule->labels[i].name);
		free(rule->labels[i].value);
	}
	free(rule->labels);
	free(rule->mount);
	free(rule->text);
	free(rule->spec);
	memset(rule, 0, sizeof(*rule));
}

const char *
alert_rule_name(const struct alert_rule *r)
{
	size_t i;

	for (i = 0; i < r->nlabels; i++)
		if (strcmp(r->labels[i].name, "alertname") == 0)
			return r->labels[i].value;
	for (i = 0; i < NELEM(metric_defs); i++)
		if (metric_defs[i].metric == r->metric)
			return metric_defs[i].name;
	return "muster";
}

/* --- evaluation -------------------------------------------------------- */

static double
percent(uint64_t part, uint64_t total)
{
	return (double)part / (double)total * 100.0;
}

static bool
mount_matches(const struct alert_rule *r, const Muster__DiskUsage *d)
{
	size_t len;

	if (r->mount == NULL)
		return true;
	len = strlen(r->mount);
	return d->mount.len == len &&
	    memcmp(d->mount.data, r->mount, len) == 0;
}

/* Largest used share over the (matching) file systems; false if none
 * has a size: pseudo and some network file systems report 0, and
 * btrfs and vfat report no inodes at all. */
double
alert_disk_used_pct(const Muster__DiskUsage *d)
{
	/* As df's Use%: blocks reserved for root do not count as free. */
	if (d->avail_bytes > 0 || d->used_bytes > 0)
		return d->used_bytes + d->avail_bytes == 0 ?
		    0 :
		    100.0 * (double)d->used_bytes /
			(double)(d->used_bytes + d->avail_bytes);
	return d->total_bytes ?
	    100.0 * (double)d->used_bytes / (double)d->total_bytes :
	    0;
}

static bool
disk_max(const struct alert_rule *r, const Muster__Sample *s, bool inodes,
    double *value)
{
	const Muster__DiskUsage *d;
	bool found = false;
	double v;
	size_t i;

	for (i = 0; i < s->n_disks; i++) {
		d = s->disks[i];
		if (!mount_matches(r, d))
			continue;
		if (inodes ? d->inodes_total == 0 : d->total_bytes == 0)
			continue;
		v = inodes ? percent(d->inodes_used, d->inodes_total) :
			     alert_disk_used_pct(d);
		if (!found || v > *value)
			*value = v;
		found = true;
	}
	return found;
}

static bool
metric_value(const struct alert_rule *r, const Muster__Sample *s, double *v)
{
	size_t i;

	switch (r->metric) {
	case AM_CPU_PCT: *v = s->cpu_pct; return true;
	case AM_CPU_IOWAIT_PCT: *v = s->cpu_iowait_pct; return true;
	case AM_CPU_STEAL_PCT: *v = s->cpu_steal_pct; return true;
	case AM_LOAD1: *v = s->load1; return true;
	case AM_LOAD5: *v = s->load5; return true;
	case AM_LOAD15: *v = s->load15; return true;
	case AM_MEM_AVAILABLE_PCT:
	case AM_MEM_USED_PCT:
		if (s->mem_total_bytes == 0)
			return false;
		*v = percent(r->metric == AM_MEM_USED_PCT ?
			s->mem_used_bytes :
			s->mem_available_bytes,
		    s->mem_total_bytes);
		return true;
	case AM_SWAP_USED_PCT:
		if (s->swap_total_bytes == 0)
			return false;
		*v = percent(s->swap_used_bytes, s->swap_total_bytes);
		return true;
	case AM_DISK_USED_PCT: return disk_max(r, s, false, v);
	case AM_INODE_USED_PCT: return disk_max(r, s, true, v);
	case AM_PROCS: *v = s->procs; return true;
	case AM_NET_RX_BYTES_PER_S:
	case AM_NET_TX_BYTES_PER_S:
		if (s->n_net == 0)
			return false;
		*v = 0;
		for (i = 0; i < s->n_net; i++)
			*v += r->metric == AM_NET_RX_BYTES_PER_S ?
			    s->net[i]->rx_bytes_per_s :
			    s->net[i]->tx_bytes_per_s;
		return true;
	case AM_DISK_READ_BYTES_PER_S:
		*v = s->disk_read_bytes_per_s;
		return true;
	case AM_DISK_WRITE_BYTES_PER_S:
		*v = s->disk_write_bytes_per_s;
		return true;
	}
	return false;
}

int
alert_eval(const struct alert_rule *r, const Muster__Sample *s, double *value)
{
	double v = 0;

	/* NaN compares false to everything, so "!= 5" would fire on it. */
	if (!metric_value(r, s, &v) || isnan(v))
		return MERR_NOTFOUND;
	*value = v;
	switch (r->op) {
	case AO_GT: return v > r->threshold;
	case AO_GE: return v >= r->threshold;
	case AO_LT: return v < r->threshold;
	case AO_LE: return v <= r->threshold;
	case AO_EQ: return v == r->threshold;
	case AO_NE: return v != r->threshold;
	}
	return MERR_NOTFOUND;
}

static const char *const phase_names[] = {
#define ALERT_PHASE_NAME(id, name) name,
	ALERT_PHASES(ALERT_PHASE_NAME)
#undef ALERT_PHASE_NAME
};

const char *
alert_phase_name(enum alert_phase p)
{
	return (unsigned)p < AP_COUNT ? phase_names[p] : "?";
}

enum alert_change
alert_update(struct alert_state *st, int holds, double now, double for_s)
{
	if (holds < 0)
		return ALERT_NONE;
	if (!holds) {
		enum alert_phase was = st->phase;

		if (was != AP_INACTIVE) {
			st->phase = AP_INACTIVE;
			st->since = now;
		}
		return was == AP_FIRING ? ALERT_RESOLVED : ALERT_NONE;
	}
	if (st->phase == AP_INACTIVE) {
		st->phase = AP_PENDING;
		st->since = now;
	}
	if (st->phase == AP_PENDING && now - st->since >= for_s) {
		st->phase = AP_FIRING;
		st->since = now;
		return ALERT_FIRED;
	}
	return ALERT_NONE;
}

void
alert_gap(struct alert_state *st)
{
	if (st->phase == AP_PENDING)
		st->phase = AP_INACTIVE;
}

/* Shortest text that reads back as v, so scripts see "123456789" and
 * not "1.23457e+08". */
void
alert_format_number(char *text, size_t len, double v)
{
	int prec;

	for (prec = 15; prec < 17; prec++) {
		snprintf(text, len, "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			return;
	}
	snprintf(text, len, "%.17g", v);
}
