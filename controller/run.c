#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "fleet.h"
#include "mux.h"

/* One command on one host. */
struct run_cmd {
	struct run_host *host;
	struct output_host out;
	uint32_t stream;
	bool finished;
};

struct run_host {
	struct run *run;
	struct fleet_host *fh;
	struct run_cmd *cmds;
	size_t pending;		/* commands not finished */
};

struct run {
	const struct run_options *opts;
	struct output out;
	struct run_host *hosts;
	struct fleet fleet;
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
finish_cmd(struct run_cmd *cmd, struct host_result *res)
{
	struct run_host *h = cmd->host;
	struct run *run = h->run;

	if (cmd->finished)
		return;
	cmd->finished = true;
	res->duration_ms = (int64_t)fleet_host_elapsed_ms(h->fh);
	output_host_done(&run->out, &cmd->out, res);
	output_host_free(&cmd->out);
	if (res->status == HS_OK)
		note_exit(run, EXIT_ALL_OK);
	else if (res->status == HS_FAILED || (res->status == HS_TIMEOUT &&
	    res->ran))
		note_exit(run, EXIT_CMD_FAILED);
	else
		note_exit(run, EXIT_UNREACHABLE);
	if (--h->pending == 0)
		fleet_host_close(h->fh);
}

/* ---- stream callbacks ----------------------------------------------------- */

static void
on_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct run_cmd *cmd = arg;

	output_host_data(&cmd->host->run->out, &cmd->out, fd, p, n);
	/* Output is written (or captured) synchronously: credit at once. */
	if (cmd->host->fh->conn != NULL)
		conn_stream_consumed(cmd->host->fh->conn, cmd->stream, n);
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
	finish_cmd(cmd, &res);
}

static const struct stream_ops run_stream_ops = {
	.data = on_data,
	.eof = on_eof,
	.exit = on_exit_msg,
	.error = on_stream_error,
};

/* ---- host life cycle ------------------------------------------------------- */

static void
host_ready(struct fleet_host *fh)
{
	struct run_host *h = fh->job;
	struct run *run = h->run;
	Muster__Exec exec;
	size_t i;
	char err[128];
	int r;

	for (i = 0; i < run->opts->ncommands; i++) {
		struct run_cmd *cmd = &h->cmds[i];

		muster__exec__init(&exec);
		exec.shell_command.data = (uint8_t *)run->opts->commands[i];
		exec.shell_command.len = strlen(run->opts->commands[i]);
		exec.timeout_ms = (uint32_t)(run->opts->timeout * 1000);
		exec.window = MUX_EXEC_WINDOW;
		if ((r = conn_exec(fh->conn, &exec, &run_stream_ops, cmd,
		    &cmd->stream)) != 0) {
			snprintf(err, sizeof(err), "cannot start command: %s",
			    merr_str(r));
			on_stream_error(cmd, HS_FAILED, err);
		}
	}
}

static void
host_done(struct fleet_host *fh, enum host_status st, const char *error)
{
	struct run_host *h = fh->job;
	size_t i;

	/* Commands still open get the connection's status. */
	for (i = 0; i < h->run->opts->ncommands; i++) {
		struct host_result res = { .host = h->cmds[i].out.name,
		    .exit_code = -1 };

		res.status = st == HS_OK ? HS_UNREACHABLE : st;
		res.error = error ? error : "connection closed";
		finish_cmd(&h->cmds[i], &res);
	}
}

static const struct fleet_job_ops run_job_ops = {
	.ready = host_ready,
	.done = host_done,
};

static int
setup_hosts(struct run *run)
{
	size_t i, k, ncmd = run->opts->ncommands;
	char *label;
	int r;

	if ((run->hosts = calloc(run->fleet.nhosts,
	    sizeof(*run->hosts))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < run->fleet.nhosts; i++) {
		struct run_host *h = &run->hosts[i];

		h->run = run;
		h->fh = &run->fleet.hosts[i];
		h->fh->job = h;
		if ((h->cmds = calloc(ncmd, sizeof(*h->cmds))) == NULL)
			return MERR_NOMEM;
		h->pending = ncmd;
		for (k = 0; k < ncmd; k++) {
			h->cmds[k].host = h;
			label = NULL;
			/* Several commands: host#1, host#2, ... */
			if (ncmd > 1 && asprintf(&label, "%s#%zu",
			    h->fh->display, k + 1) < 0)
				return MERR_NOMEM;
			r = output_host_init(&run->out, &h->cmds[k].out,
			    label ? label : h->fh->display);
			free(label);
			if (r != 0) {
				h->cmds[k].finished = true;
				return r;
			}
		}
	}
	return 0;
}

static void
teardown_hosts(struct run *run)
{
	size_t i, k;

	for (i = 0; run->hosts != NULL && i < run->fleet.nhosts; i++) {
		struct run_host *h = &run->hosts[i];

		for (k = 0; h->cmds != NULL && k < run->opts->ncommands; k++)
			if (!h->cmds[k].finished)
				output_host_free(&h->cmds[k].out);
		free(h->cmds);
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
	run.opts = opts;
	output_init(&run.out, opts->mode, stdout, stderr, opts->raw,
	    opts->max_output);
	if ((r = fleet_init(&run.fleet, cfg, hosts, opts->fanout,
	    &run_job_ops, &run)) != 0 || (r = setup_hosts(&run)) != 0) {
		fprintf(stderr, "muster: %s\n", merr_str(r));
		teardown_hosts(&run);
		fleet_free(&run.fleet);
		output_free(&run.out);
		return EXIT_INTERNAL;
	}
	t0 = ev_time();
	fleet_run(&run.fleet);
	output_finish(&run.out, ev_time() - t0);
	/* An interrupted run that happened to finish is still not a clean
	 * one. */
	if (run.fleet.interrupted && run.exit_status == EXIT_ALL_OK)
		run.exit_status = EXIT_CMD_FAILED;
	teardown_hosts(&run);
	fleet_free(&run.fleet);
	output_free(&run.out);
	return run.exit_status;
}
