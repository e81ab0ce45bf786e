/*
 * Driving a set of hosts for one job (run, push, pull, watch): a conn per
 * host, connection set-ups paced by the fanout, ^C handling, and the loop
 * run until the job is finished: every host final (done reported, none
 * waiting to start or to reconnect, no conn held by a worker) and the job
 * not busy. The job's own watchers (timers, progress lines) never decide
 * it. The job plugs in through fleet_job_ops and
 * keeps its per-host state in fleet_host.job.
 */
#ifndef MUSTER_FLEET_H
#define MUSTER_FLEET_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "conn.h"
#include "hostlist.h"
#include "pace.h"

struct fleet;

/*
 * Rolling work (--batch, --max-fail) and what each host came to, for the
 * job's caller to keep (--rerun). Given through conn_config.roll; NULL:
 * every host as the fanout allows, nothing kept.
 */
struct fleet_roll {
	size_t batch;	 /* hosts at work at once; 0: no limit */
	size_t max_fail; /* start no more after this many failed; 0: off */
	/* One per host of the set, in its order, filled in by the fleet:
	 * the first status other than ok a job reported for the host, or
	 * how its connection ended, HS_SKIPPED when never started. */
	enum host_status *final;
	size_t nfinal;
	size_t failed;	/* hosts that ended other than ok */
	bool cut_short; /* max_fail reached: hosts were skipped */
};

struct fleet_host {
	struct fleet *fleet;
	struct conn *conn; /* NULL once the conn is gone */
	const struct host_spec *spec;
	char *display;
	size_t index;
	ev_tstamp t_start;
	ev_timer retry;
	bool connecting; /* counts against the pacer */
	bool authed;	 /* ... no longer as unauthenticated */
	bool retrying;
	bool counted;	   /* in fleet.live: started and not yet done */
	bool reported;	   /* the job gave a status (fleet_host_result) */
	int early_retries; /* reconnects after a drop before the banner */
	void *job;	   /* the job's per-host state */
};

struct fleet_job_ops {
	/* The host's agent is up: start its work. */
	void (*ready)(struct fleet_host *h);
	/* The host is finished (its conn closed or failed); called once. */
	void (*done)(struct fleet_host *h, enum host_status st,
	    const char *error);
	/* ^C or SIGTERM: the job may cancel streams; hosts are closed after. */
	void (*interrupt)(struct fleet *f);
	/* Optional: the job still has work once every host is final (output
	 * to flush, a child to reap); the loop runs on while it says so. */
	bool (*busy)(struct fleet *f);
};

struct fleet {
	struct conn_config *cfg;
	const struct fleet_job_ops *ops;
	void *job;
	struct fleet_host *hosts;
	size_t nhosts, next_to_start, live;
	struct pacer pace;
	ev_signal sigint, sigterm;
	bool interrupted;
	struct fleet_roll *roll; /* cfg->roll */
};

int fleet_init(struct fleet *f, struct conn_config *cfg,
    const struct host_set *hosts, int fanout, const struct fleet_job_ops *ops,
    void *job);
/* Connect everything and run the loop until the job is finished (above). */
void fleet_run(struct fleet *f);
/* Connect the host again (after its conn is gone), after delay seconds.
 * For long-running jobs; the job's ready/done run again. */
int fleet_host_reconnect(struct fleet_host *h, double delay);
/* End the job: as on ^C, without the message. */
void fleet_stop(struct fleet *f);
/* The job is finished with this host: close its conn gracefully. */
void fleet_host_close(struct fleet_host *h);
double fleet_host_elapsed_ms(const struct fleet_host *h);
/*
 * What the host's work came to, reported by the job (several times for
 * several commands: the first status other than ok is the host's). With
 * --max-fail the fleet counts it, and stops starting hosts at the limit.
 */
void fleet_host_result(struct fleet_host *h, enum host_status st);
void fleet_free(struct fleet *f);

#endif
