#include "run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "mux.h"

struct run;

/* One command on one host. */
struct run_cmd {
	struct run_host *host;
	size_t index;
	struct output_host out;
	uint32_t stream;
	bool started, finished;
};

struct run_host {
	struct run *run;
	struct conn *conn;
	char *display;
	struct run_cmd *cmds;
	size_t pending;		/* commands not finished */
	ev_tstamp t_start;
	bool connecting;	/* counts against the fanout */
	bool gone;		/* conn freed */
};

struct run {
	struct conn_config *cfg;
	const struct run_options *opts;
	struct output out;
	struct run_host *hosts;
	size_t nhosts, next_to_start, connecting, live;
	ev_signal sigint, sigterm;
	bool interrupted;
	int exit_status;
};

/* Unreachable (3) outranks failed (1): there the command did not run. */
static void
note_exit(struct run *run, int status)
{
	if (status > run->exit_status)
		run->exit_status = status;
}

static void
finish_cmd(struct run_cmd *cmd, const struct host_result *res)
{
	struct run_host *h = cmd->host;
	struct run *run = h->run;

	if (cmd->finished)
		return;
	cmd->finished = true;
	output_host_done(&run->out, &cmd->out, res);
	output_host_free(&cmd->out);
	if (res->status == HS_OK)
		note_exit(run, EXIT_ALL_OK);
	else if (res->status == HS_FAILED || (res->status == HS_TIMEOUT &&
	    res->ran))
		note_exit(run, EXIT_CMD_FAILED);
	else
		note_exit(run, EXIT_UNREACHABLE);
	if (--h->pending == 0 && h->conn != NULL)
		conn_close(h->conn);
}

static int64_t
ms_since(struct run_host *h)
{
	return (int64_t)((ev_now(h->run->cfg->loop) - h->t_start) * 1000);
}

/* ---- stream callbacks ----------------------------------------------------- */

static void
on_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct run_cmd *cmd = arg;

	output_host_data(&cmd->host->run->out, &cmd->out, fd, p, n);
	/* Output is written (or captured) synchronously: credit at once. */
	if (cmd->host->conn != NULL)
		conn_stream_consumed(cmd->host->conn, cmd->stream, n);
}

static void
on_eof(void *arg, int fd)
{
}

static void
on_exit_msg(void *arg, const Muster__Exit *ex)
{
	struct run_cmd *cmd = arg;
	struct host_result res = { .host = cmd->out.name };
	char err[128];

	res.exit_code = ex->code;
	res.signal = ex->signal;
	res.ran = true;
	res.duration_ms = ms_since(cmd->host);
	if (ex->timed_out) {
		res.status = HS_TIMEOUT;
		snprintf(err, sizeof(err), "command timed out after %.0f s",
		    cmd->host->run->opts->timeout);
		res.error = err;
	} else if (ex->code == 0 && ex->signal == 0)
		res.status = HS_OK;
	else
		res.status = HS_FAILED;
	finish_cmd(cmd, &res);
}

static void
on_stream_error(void *arg, enum host_status st, const char *msg)
{
	struct run_cmd *cmd = arg;
	struct host_result res = { .host = cmd->out.name, .exit_code = -1 };

	res.status = st;
	res.error = msg;
	res.duration_ms = ms_since(cmd->host);
	finish_cmd(cmd, &res);
}

static const struct stream_ops run_stream_ops = {
	.data = on_data,
	.eof = on_eof,
	.exit = on_exit_msg,
	.error = on_stream_error,
};

/* ---- host life cycle ------------------------------------------------------- */

static void start_more(struct run *run);

static void
host_ready(struct conn *c, void *arg)
{
	struct run_host *h = arg;
	struct run *run = h->run;
	Muster__Exec exec;
	size_t i;
	char err[128];
	int r;

	h->connecting = false;
	run->connecting--;
	for (i = 0; i < run->opts->ncommands; i++) {
		struct run_cmd *cmd = &h->cmds[i];

		muster__exec__init(&exec);
		exec.shell_command.data = (uint8_t *)run->opts->commands[i];
		exec.shell_command.len = strlen(run->opts->commands[i]);
		exec.timeout_ms = (uint32_t)(run->opts->timeout * 1000);
		exec.window = MUX_EXEC_WINDOW;
		if ((r = conn_exec(c, &exec, &run_stream_ops, cmd,
		    &cmd->stream)) != 0) {
			snprintf(err, sizeof(err), "cannot start command: %s",
			    merr_str(r));
			on_stream_error(cmd, HS_FAILED, err);
			continue;
		}
		cmd->started = true;
	}
	start_more(run);
}

static void
report_timings(struct run_host *h, struct conn *c)
{
	const struct conn_stats *st = conn_stats(c);

	if (st->t_ready == 0) {
		fprintf(stderr, "muster: %s: no agent (connected %.0f ms, "
		    "authenticated %.0f ms)\n", h->display,
		    st->t_connected * 1000, st->t_authed * 1000);
		return;
	}
	fprintf(stderr, "muster: %s: connected %.0f ms, authenticated %.0f ms, "
	    "agent ready %.0f ms, agent %s\n", h->display,
	    st->t_connected * 1000, st->t_authed * 1000, st->t_ready * 1000,
	    !st->uploaded ? "cached" : st->upload_via_exec ?
	    "uploaded via exec" : "uploaded via sftp");
}

static void
host_done(struct conn *c, enum host_status st, const char *error, void *arg)
{
	struct run_host *h = arg;
	struct run *run = h->run;
	size_t i;

	/* Streams were failed by the conn; commands never started get the
	 * connection's status here. */
	for (i = 0; i < run->opts->ncommands; i++) {
		struct host_result res = { .host = h->cmds[i].out.name,
		    .exit_code = -1 };

		if (h->cmds[i].finished)
			continue;
		res.status = st == HS_OK ? HS_UNREACHABLE : st;
		res.error = error ? error : "connection closed";
		res.duration_ms = ms_since(h);
		finish_cmd(&h->cmds[i], &res);
	}
	if (h->connecting) {
		h->connecting = false;
		run->connecting--;
	}
	if (run->cfg->verbose)
		report_timings(h, c);
	h->conn = NULL;
	h->gone = true;
	run->live--;
	start_more(run);
	if (run->live == 0 && run->next_to_start == run->nhosts) {
		ev_signal_stop(run->cfg->loop, &run->sigint);
		ev_signal_stop(run->cfg->loop, &run->sigterm);
	}
}

static const struct conn_owner_ops run_conn_ops = {
	.ready = host_ready,
	.done = host_done,
};

static void
start_more(struct run *run)
{
	struct run_host *h;

	while (run->next_to_start < run->nhosts && !run->interrupted &&
	    run->connecting < (size_t)run->opts->fanout) {
		h = &run->hosts[run->next_to_start++];
		h->t_start = ev_now(run->cfg->loop);
		h->connecting = true;
		run->connecting++;
		run->live++;
		conn_start(h->conn);
	}
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct run *run = w->data;
	size_t i;

	if (run->interrupted)	/* second ^C: stop waiting */
		exit(EXIT_INTERNAL);
	run->interrupted = true;
	fprintf(stderr, "muster: interrupted; cancelling commands\n");
	for (i = 0; i < run->nhosts; i++)
		if (run->hosts[i].conn != NULL && !run->hosts[i].gone)
			conn_close(run->hosts[i].conn);
}

/* A short unique label per host: its name, with the user when two
 * entries share a name, and a port other than 22. */
static char *
display_name(const struct host_set *hosts, size_t i)
{
	const struct host_spec *s = &hosts->v[i];
	bool dup = false;
	char *out = NULL, port[16] = "";
	size_t j;

	for (j = 0; j < hosts->n && !dup; j++)
		dup = j != i && strcmp(hosts->v[j].name, s->name) == 0;
	if (s->port != 0 && s->port != 22)
		snprintf(port, sizeof(port), ":%u", s->port);
	if (asprintf(&out, "%s%s%s%s", dup && s->user ? s->user : "",
	    dup && s->user ? "@" : "", s->name, port) < 0)
		return NULL;
	return out;
}

static int
setup_hosts(struct run *run, const struct host_set *hosts)
{
	size_t i, k;
	char *label;
	int r;

	if ((run->hosts = calloc(hosts->n, sizeof(*run->hosts))) == NULL)
		return MERR_NOMEM;
	run->nhosts = hosts->n;
	for (i = 0; i < hosts->n; i++) {
		struct run_host *h = &run->hosts[i];

		h->run = run;
		if ((h->display = display_name(hosts, i)) == NULL)
			return MERR_NOMEM;
		if ((h->cmds = calloc(run->opts->ncommands,
		    sizeof(*h->cmds))) == NULL)
			return MERR_NOMEM;
		for (k = 0; k < run->opts->ncommands; k++) {
			h->cmds[k].host = h;
			h->cmds[k].index = k;
			label = NULL;
			if (run->opts->ncommands > 1 && asprintf(&label,
			    "%s#%zu", h->display, k + 1) < 0)
				return MERR_NOMEM;
			r = output_host_init(&run->out, &h->cmds[k].out,
			    label ? label : h->display);
			free(label);
			if (r != 0)
				return r;
		}
		h->pending = run->opts->ncommands;
		if ((r = conn_new(run->cfg, &hosts->v[i], h->display,
		    &run_conn_ops, h, &h->conn)) != 0)
			return r;
	}
	return 0;
}

static void
teardown_hosts(struct run *run)
{
	size_t i, k;

	for (i = 0; i < run->nhosts; i++) {
		struct run_host *h = &run->hosts[i];

		for (k = 0; h->cmds != NULL && k < run->opts->ncommands; k++)
			if (!h->cmds[k].finished)
				output_host_free(&h->cmds[k].out);
		free(h->cmds);
		free(h->display);
	}
	free(run->hosts);
}

int
run_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct run_options *opts)
{
	struct run run;
	ev_tstamp t0;
	int r;

	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.opts = opts;
	output_init(&run.out, opts->mode, stdout, stderr, opts->raw,
	    opts->max_output);
	if ((r = setup_hosts(&run, hosts)) != 0) {
		fprintf(stderr, "muster: %s\n", merr_str(r));
		teardown_hosts(&run);
		output_free(&run.out);
		return EXIT_INTERNAL;
	}
	ev_signal_init(&run.sigint, on_signal, SIGINT);
	ev_signal_init(&run.sigterm, on_signal, SIGTERM);
	run.sigint.data = run.sigterm.data = &run;
	ev_signal_start(cfg->loop, &run.sigint);
	ev_signal_start(cfg->loop, &run.sigterm);
	t0 = ev_time();
	start_more(&run);
	/* The loop ends by itself once every conn has been freed. */
	ev_run(cfg->loop, 0);
	ev_signal_stop(cfg->loop, &run.sigint);
	ev_signal_stop(cfg->loop, &run.sigterm);
	output_finish(&run.out, ev_time() - t0);
	teardown_hosts(&run);
	output_free(&run.out);
	return run.interrupted && run.exit_status == EXIT_ALL_OK ?
	    EXIT_CMD_FAILED : run.exit_status;
}
