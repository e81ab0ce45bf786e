/*
 * LIVE (-L): gather, printed as groups form. The first host of a new
 * group prints the group whole, tagged "#n"; hosts that join a known
 * group are reported as "#n += hosts" at most every live_interval
 * seconds; output_finish prints the map of every group. A group keeps its
 * first host's result and only the names of the others, so memory grows
 * with the number of distinct outputs, not of hosts.
 */
#include "output.h"
#include "output_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "array.h"
#include "err.h"
#include "hostlist.h"

/* --- LIVE --------------------------------------------------------------- */

/* One group of alike hosts, kept from its first host to output_finish. */
struct live_group {
	struct gathered rep; /* the first host: decides membership */
	char **names;
	size_t n, cap;
	size_t reported; /* names[0, reported) have been printed */
	size_t number;	 /* #1, #2, ... in order of appearance */
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
live_free(struct output *o)
{
	size_t i, k;

	for (i = 0; i < o->nlive; i++) {
		gathered_free(o, &o->live[i]->rep);
		for (k = 0; k < o->live[i]->n; k++)
			free(o->live[i]->names[k]);
		free(o->live[i]->names);
		free(o->live[i]);
	}
	free(o->live);
	o->live = NULL;
	o->nlive = o->live_cap = 0;
}

static int
live_add_name(struct live_group *lg, char *name)
{
	int r;

	if ((r = ARRAY_RESERVE(lg->names, lg->cap, lg->n + 1, 8)) != 0)
		return r;
	lg->names[lg->n++] = name;
	return 0;
}

/* "#2 += 127.0.1.[4-9] (8 hosts)": the hosts that joined since the
 * group was last reported. */
static int
live_report_joins(struct output *o)
{
	struct live_group *lg;
	char *folded, head[64];
	size_t i;
	int r = 0;

	for (i = 0; i < o->nlive && r == 0; i++) {
		lg = o->live[i];
		if (lg->reported == lg->n)
			continue;
		folded = hostlist_fold((const char *const *)lg->names +
			lg->reported,
		    lg->n - lg->reported);
		snprintf(head, sizeof(head), "#%zu += ", lg->number);
		if (fprintf(o->out, "%s%s (%zu host%s)\n", head,
			folded ? folded : lg->names[lg->reported], lg->n,
			lg->n == 1 ? "" : "s") < 0)
			r = MERR_IO;
		free(folded);
		lg->reported = lg->n;
	}
	o->live_last = now_seconds();
	if (fflush(o->out) != 0 && r == 0)
		r = MERR_IO;
	return r;
}

int
live_done(struct output *o, struct output_host *h,
    const struct host_result *res)
{
	struct live_group *lg = NULL;
	struct gathered g, *pg = &g, *prep;
	struct gather_group grp;
	char tag[32], *name;
	size_t i;
	int r;

	if ((r = gathered_take(o, h, res, &g)) != 0)
		return r;
	for (i = 0; i < o->nlive; i++) {
		prep = &o->live[i]->rep;
		if (prep->hash == g.hash && gathered_cmp(&pg, &prep) == 0) {
			lg = o->live[i];
			break;
		}
	}
	if (lg != NULL) {
		/* Only the name is kept; the output is the group's. */
		name = g.name;
		g.name = NULL;
		gathered_free(o, &g);
		if ((r = live_add_name(lg, name)) != 0) {
			free(name);
			return r;
		}
		if (gathered_silent(&lg->rep))
			lg->reported = lg->n;
		else if (now_seconds() - o->live_last >= o->live_interval)
			return live_report_joins(o);
		return 0;
	}
	if ((r = ARRAY_RESERVE(o->live, o->live_cap, o->nlive + 1, 16)) != 0) {
		gathered_free(o, &g);
		return r;
	}
	if ((lg = calloc(1, sizeof(*lg))) == NULL) {
		gathered_free(o, &g);
		return MERR_NOMEM;
	}
	if ((name = strdup(g.name)) == NULL || live_add_name(lg, name) != 0) {
		free(name);
		free(lg);
		gathered_free(o, &g);
		return MERR_NOMEM;
	}
	lg->rep = g;
	lg->number = o->nlive + 1;
	lg->reported = 1;
	o->live[o->nlive++] = lg;
	if (gathered_silent(&lg->rep))
		return 0;
	/* Earlier joins first, so the stream reads in the order things
	 * happened. */
	if ((r = live_report_joins(o)) != 0)
		return r;
	prep = &lg->rep;
	grp.folded = lg->names[0];
	grp.members = &prep;
	grp.count = 1;
	snprintf(tag, sizeof(tag), "#%zu", lg->number);
	return gather_print_group(o, &grp, tag);
}

/* The map of every group at the end: number, host set, status. */
void
live_finish(struct output *o)
{
	struct live_group *lg;
	struct buf line;
	char *folded, count[48];
	size_t i;

	if (o->nlive == 0)
		return;
	live_report_joins(o);
	fputs(RULE, o->out);
	for (i = 0; i < o->nlive; i++) {
		lg = o->live[i];
		folded = hostlist_fold((const char *const *)lg->names, lg->n);
		buf_init(&line,
		    ESCAPED_MAX(256 +
			(folded ? strlen(folded) : strlen(lg->names[0])) +
			(lg->rep.error ? strlen(lg->rep.error) : 0)));
		snprintf(count, sizeof(count), "#%zu ", lg->number);
		output_put_str(&line, count);
		output_put_str(&line, folded ? folded : lg->names[0]);
		snprintf(count, sizeof(count), " (%zu)", lg->n);
		output_put_str(&line, count);
		if (gathered_silent(&lg->rep))
			output_put_str(&line, " ok, no output");
		else if (lg->rep.status != HS_OK) {
			output_put_str(&line, " ");
			output_put_status(&line, lg->rep.status,
			    lg->rep.exit_code, lg->rep.signal, lg->rep.error);
		}
		output_put_str(&line, "\n");
		output_write_buf(o->out, &line);
		buf_free(&line);
		free(folded);
	}
	fflush(o->out);
}
