#include "alert.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

extern char **environ;

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
#define ALERT_ENV_PREFIX "MUSTER_ALERT_"

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
	case ALERT_CLEARED: return "cleared";
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

int
alert_parse(const char *expr, struct alert_rule *rule, char *err,
    size_t errlen)
{
	const struct metric_def *md = NULL;
	const struct op_def *od = NULL;
	const char *mount = NULL;
	size_t i, start, name_len, mount_len = 0, num_len, k;
	double threshold;
	char *end, *num = NULL;
	struct alert_rule nr;
	int r = MERR_PARSE;

	memset(&nr, 0, sizeof(nr));
	if (strlen(expr) > ALERT_EXPR_MAX) {
		snprintf(err, errlen, "alert rule longer than %d bytes",
		    ALERT_EXPR_MAX);
		return MERR_LIMIT;
	}

	/* METRIC */
	start = i = skip_blanks(expr, 0);
	while (is_name_char(expr[i]))
		i++;
	name_len = i - start;
	for (k = 0; name_len > 0 && k < NELEM(metric_defs); k++) {
		if (strlen(metric_defs[k].name) == name_len &&
		    strncmp(metric_defs[k].name, expr + start, name_len) == 0)
			md = &metric_defs[k];
	}
	if (md == NULL) {
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
		return r;
	}

	/* [/mount] */
	i = skip_blanks(expr, i);
	if (expr[i] == '[') {
		const char *close = strchr(expr + i, ']');

		if (!md->per_mount) {
			snprintf(err, errlen,
			    "\"%s\": position %zu: %s takes "
			    "no [mount]; only disk_used_pct and inode_used_pct "
			    "do",
			    expr, i + 1, md->name);
			return r;
		}
		if (close == NULL) {
			snprintf(err, errlen,
			    "\"%s\": position %zu: '[' "
			    "without a closing ']'",
			    expr, i + 1);
			return r;
		}
		start = skip_blanks(expr, i + 1);
		mount = expr + start;
		mount_len = (size_t)(close - mount);
		while (mount_len > 0 &&
		    (mount[mount_len - 1] == ' ' ||
			mount[mount_len - 1] == '\t'))
			mount_len--;
		if (mount_len == 0 || mount[0] != '/') {
			snprintf(err, errlen,
			    "\"%s\": position %zu: expected "
			    "an absolute mount point inside [ ], as in "
			    "%s[/var]",
			    expr, start + 1, md->name);
			return r;
		}
		i = skip_blanks(expr, (size_t)(close - expr) + 1);
	}

	/* OP */
	for (k = 0; k < NELEM(op_defs); k++) {
		if (strncmp(expr + i, op_defs[k].text,
			strlen(op_defs[k].text)) == 0) {
			od = &op_defs[k];
			break;
		}
	}
	if (od == NULL) {
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
		return r;
	}
	i = skip_blanks(expr, i + strlen(od->text));

	/* NUMBER */
	start = i;
	if ((num_len = number_len(expr + i)) == 0) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: expected a "
		    "number after '%s'",
		    expr, i + 1, od->text);
		return r;
	}
	if ((num = strndup(expr + start, num_len)) == NULL)
		return MERR_NOMEM;
	errno = 0;
	threshold = strtod(num, &end);
	if (*end != '\0' || !isfinite(threshold) || errno == ERANGE) {
		snprintf(err, errlen,
		    "\"%s\": position %zu: number \"%s\" "
		    "out of range",
		    expr, start + 1, num);
		goto out;
	}
	i = skip_blanks(expr, start + num_len);
	if (expr[i] != '\0') {
		snprintf(err, errlen,
		    "\"%s\": position %zu: unexpected "
		    "\"%s\" after the number",
		    expr, i + 1, expr + i);
		goto out;
	}

	nr.metric = md->metric;
	nr.op = od->op;
	nr.threshold = threshold;
	if (mount != NULL && (nr.mount = strndup(mount, mount_len)) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	if (asprintf(&nr.text, "%s%s%s%s %s %s", md->name,
		mount != NULL ? "[" : "", mount != NULL ? nr.mount : "",
		mount != NULL ? "]" : "", od->text, num) == -1) {
		nr.text = NULL;
		r = MERR_NOMEM;
		goto out;
	}
	*rule = nr;
	memset(&nr, 0, sizeof(nr));
	r = 0;
out:
	free(num);
	alert_rule_free(&nr);
	return r;
}

void
alert_rule_free(struct alert_rule *rule)
{
	free(rule->mount);
	free(rule->text);
	rule->mount = rule->text = NULL;
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

enum alert_change
alert_update(struct alert_state *st, int holds)
{
	if (holds < 0)
		return ALERT_NONE;
	if (holds && !st->firing) {
		st->firing = true;
		return ALERT_FIRED;
	}
	if (!holds && st->firing) {
		st->firing = false;
		return ALERT_CLEARED;
	}
	return ALERT_NONE;
}

/* --- running the command ----------------------------------------------- */

/* Shortest text that reads back as v, so scripts see "123456789" and
 * not "1.23457e+08". */
static void
format_double(char *text, size_t len, double v)
{
	int prec;

	for (prec = 15; prec < 17; prec++) {
		snprintf(text, len, "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			return;
	}
	snprintf(text, len, "%.17g", v);
}

/* "NAME=value" into *slot. */
static int
env_entry(char **slot, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);

	if ((*slot = malloc(nlen + vlen + 2)) == NULL)
		return MERR_NOMEM;
	memcpy(*slot, name, nlen);
	(*slot)[nlen] = '=';
	memcpy(*slot + nlen + 1, value, vlen + 1);
	return 0;
}

/*
 * Our environment without MUSTER_ALERT_* (a muster started from an alert
 * command must not pass its parent's values on) plus this alert's.
 * Built before posix_spawn: nothing may allocate between fork and exec
 * in a process with other threads.
 */
static int
build_env(char ***envp, const char *host, const char *rule, const char *state,
    double value)
{
	char **env, **added, valtext[40], timetext[24];
	size_t n = 0, k = 0, i;
	int r;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((env = calloc(n + 6, sizeof(*env))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], ALERT_ENV_PREFIX,
			strlen(ALERT_ENV_PREFIX)) != 0)
			env[k++] = environ[i];
	}
	format_double(valtext, sizeof(valtext), value);
	snprintf(timetext, sizeof(timetext), "%lld", (long long)time(NULL));
	added = env + k;
	if ((r = env_entry(&added[0], "MUSTER_ALERT_HOST", host)) != 0 ||
	    (r = env_entry(&added[1], "MUSTER_ALERT_RULE", rule)) != 0 ||
	    (r = env_entry(&added[2], "MUSTER_ALERT_STATE", state)) != 0 ||
	    (r = env_entry(&added[3], "MUSTER_ALERT_VALUE", valtext)) != 0 ||
	    (r = env_entry(&added[4], "MUSTER_ALERT_TIME", timetext)) != 0) {
		for (i = 0; i < 5; i++)
			free(added[i]);
		free(env);
		return r;
	}
	*envp = env;
	return 0;
}

static void
free_env(char **envp)
{
	size_t i;

	for (i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], ALERT_ENV_PREFIX,
			strlen(ALERT_ENV_PREFIX)) == 0)
			free(envp[i]);
	}
	free(envp);
}

int
alert_exec(const char *cmd, const char *host, const struct alert_rule *rule,
    enum alert_change change, double value, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char **envp = NULL;
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	int r, sr;

	if (change == ALERT_NONE)
		return MERR_INVAL;
	if ((r = build_env(&envp, host, rule->text, alert_change_str(change),
		 value)) != 0)
		return r;
	if (posix_spawnattr_init(&attr) != 0) {
		free_env(envp);
		return MERR_NOMEM;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		posix_spawnattr_destroy(&attr);
		free_env(envp);
		return MERR_NOMEM;
	}
	sigemptyset(&none);
	sigfillset(&all);
	/* Dispositions we ignore (SIGPIPE) would survive exec; the blocked
	 * mask of the loop thread would too. */
	if ((sr = posix_spawnattr_setflags(&attr,
		 POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
		     POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (sr = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (sr = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
	    (sr = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (sr = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
		 O_RDONLY, 0)) != 0 ||
	    (sr = posix_spawn_file_actions_adddup2(&fa, 2, 1)) != 0 ||
	    /* Our descriptors are close-on-exec but not necessarily every
	     * library's; a long-running alert command must not hold the
	     * HTTP listener or a host connection open. */
	    (sr = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (sr = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, envp)) != 0) {
		errno = sr;
		r = MERR_SYS;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free_env(envp);
	return r;
}
