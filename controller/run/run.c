#include "run.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "askpass.h"
#include "err.h"
#include "fleet.h"
#include "frame.h"
#include "hostfiles.h"
#include "mux.h"
#include "outq.h"
#include "stdinfeed.h"

/* One command on one host. */
struct run_cmd {
	struct run_host *host;
	struct output_host out;
	struct hostfile file;	  /* --outdir, --errdir */
	struct feed_reader feed;  /* --stdin */
	struct outq_owner queued; /* its bytes waiting for stdout */
	struct buf backlog;	  /* output not yet shown: stdout is behind */
	uint32_t stream;
	bool started;	   /* the stream is open on the agent */
	bool stdin_closed; /* Eof(0) sent */
	bool finished;
};

struct run_host {
	struct run *run;
	struct fleet_host *fh;
	struct run_cmd *cmds;
	size_t pending; /* commands not finished */
	size_t next;	/* first command not started yet */
	size_t running; /* started, not finished: streams held */
	bool ready;	/* the agent is up */
	bool starting;	/* in start_queued */
};

struct run {
	const struct run_options *opts;
	struct output out;
	struct outq stdout_q; /* what out writes to stdout */
	ev_timer stop;	      /* a local write failed: cancel, from the loop */
	bool write_failed;    /* said so on stderr */
	struct hostfiles files;
	struct stdin_feed feed; /* --stdin */
	struct run_host *hosts;
	struct fleet fleet;
	char *become_pass; /* --ask-become-pass; wiped at the end */
	size_t slots;	   /* commands running at once on a host */
	int exit_status;
	int largest_code; /* -S: the largest remote exit code seen */
	/* -b and --diff print nothing until the end: a line on stderr
	 * says how far the run is meanwhile. */
	ev_timer progress;
	bool progress_shown;
	size_t cmds_total, cmds_started, cmds_done, cmds_failed;
};

static void start_queued(struct run_host *h);

#define BECOME_PASS_MAX 1024
#define PROGRESS_INTERVAL 0.5

static void
progress_clear(struct run *run)
{
	if (!run->progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	run->progress_shown = false;
}

static void
run_on_progress(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *run = w->data;

	fprintf(stderr,
	    "\r\033[Kmuster: %zu/%zu done, %zu running, %zu "
	    "failed",
	    run->cmds_done, run->cmds_total,
	    run->cmds_started - run->cmds_done, run->cmds_failed);
	fflush(stderr);
	run->progress_shown = true;
}

/* Unreachable (3) outranks failed (1): there the command did not run. */
static void
note_exit(struct run *run, int status)
{
	if (status > run->exit_status)
		run->exit_status = status;
}

static void
run_on_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *run = w->data;

	fleet_stop(&run->fleet);
}

/*
 * Output that cannot be written is lost: the remote work goes on for
 * nobody. Cancel it (from the loop: we may be inside a stream's callback)
 * and end with EXIT_INTERNAL, as for any local failure.
 */
static void
output_lost(struct run *run)
{
	note_exit(run, EXIT_INTERNAL);
	if (!run->fleet.interrupted && !ev_is_active(&run->stop))
		ev_timer_start(run->fleet.cfg->loop, &run->stop);
}

/* A local file of --outdir/--errdir failed (said once per file): that
 * command's output is lost, so it is cancelled; the others go on. */
static void
file_error(struct run_cmd *cmd, const char *msg)
{
	struct conn *c = cmd->host->fh->conn;

	note_exit(cmd->host->run, EXIT_INTERNAL);
	if (c == NULL || !cmd->started || cmd->finished) {
		fprintf(stderr, "muster: %s: %s\n", cmd->out.name, msg);
		return;
	}
	fprintf(stderr, "muster: %s: %s; cancelling its command\n",
	    cmd->out.name, msg);
	(void)conn_stream_cancel(c, cmd->stream);
}

/*
 * Hosts' stderr lines go where our stderr goes; with `2>&1 | reader` that
 * is the pipe stdout is queued for: they take the same queue, in order,
 * or a stalled reader would block the loop on them instead.
 */
static FILE *
stderr_file(struct run *run)
{
	struct stat a, b;

	if (run->stdout_q.queueing && fstat(STDOUT_FILENO, &a) == 0 &&
	    fstat(STDERR_FILENO, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return outq_file(&run->stdout_q);
	return stderr;
}

static void
run_stdout_error(void *arg, int err)
{
	struct run *run = arg;

	if (run->write_failed)
		return;
	run->write_failed = true;
	fprintf(stderr, "muster: stdout: %s; cancelling\n", strerror(err));
	output_lost(run);
}

/*
 * While stdout is behind, a host's output waits here as it came, before
 * output.c turns it into lines (a byte can become 20 there), and its
 * credit is returned only once it is shown. The agent stops sending when
 * the window is used and the command blocks on its pipe: a slow reader
 * slows the command, never the loop, and what waits is bounded by the
 * stream's window. Records are [fd][u32 length][bytes].
 */
#define BACKLOG_MAX (MUX_EXEC_WINDOW + 64u * 1024)

static void
show_output(struct run_cmd *cmd, int fd, const uint8_t *p, size_t n)
{
	struct run *run = cmd->host->run;

	if (fd == 2)
		progress_clear(run);
	outq_owner_set(&run->stdout_q, &cmd->queued);
	/* -B (clush): one stream per host, in the order it came. */
	if (run->opts->merge_stderr)
		fd = 1;
	output_host_data(&run->out, &cmd->out, fd, p, n);
	outq_owner_set(&run->stdout_q, NULL);
}

static int
backlog_put(struct run_cmd *cmd, int fd, const uint8_t *p, size_t n)
{
	uint8_t tag = (uint8_t)fd;
	int r;

	if (n > UINT32_MAX || buf_room(&cmd->backlog) < n + 5)
		return MERR_LIMIT;
	if ((r = buf_append(&cmd->backlog, &tag, 1)) != 0 ||
	    (r = buf_put_u32(&cmd->backlog, (uint32_t)n)) != 0)
		return r;
	return buf_append(&cmd->backlog, p, n);
}

/* Show what waited, as far as stdout keeps up (all of it when the
 * command is finishing), returning its credit. */
static void
backlog_show(struct run_cmd *cmd, bool all)
{
	struct run *run = cmd->host->run;
	struct conn *c = cmd->host->fh->conn;
	const uint8_t *p;
	uint32_t n;
	size_t shown = 0;
	int fd;

	while (buf_len(&cmd->backlog) >= 5 &&
	    (all || !outq_hold(&run->stdout_q, &cmd->queued))) {
		p = buf_ptr(&cmd->backlog);
		fd = p[0];
		n = buf_load_u32be(p + 1);
		show_output(cmd, fd, p + 5, n);
		buf_consume(&cmd->backlog, 5 + (size_t)n);
		shown += n;
	}
	buf_trim(&cmd->backlog);
	if (c != NULL && !cmd->finished && shown > 0)
		conn_stream_consumed(c, cmd->stream, shown);
}

static void
run_on_stdout_drained(struct outq_owner *ow)
{
	struct run_cmd *cmd = (struct run_cmd *)((char *)ow -
	    offsetof(struct run_cmd, queued));

	backlog_show(cmd, false);
}

static void
finish_cmd(struct run_cmd *cmd, struct host_result *res)
{
	struct run_host *h = cmd->host;
	struct run *run = h->run;
	char err[512];

	if (cmd->finished)
		return;
	res->host_name = h->fh->display;
	res->command_index = (unsigned)(cmd - h->cmds) + 1;
	res->command = run->opts->commands[res->command_index - 1];
	backlog_show(cmd, true);
	buf_free(&cmd->backlog);
	cmd->finished = true;
	if (cmd->started)
		h->running--;
	else
		run->cmds_started++;
	run->cmds_done++;
	if (res->status != HS_OK)
		run->cmds_failed++;
	stdin_feed_remove(&cmd->feed);
	if (hostfile_done(&run->files, &cmd->file, err, sizeof(err)) != 0)
		file_error(cmd, err);
	res->duration_ms = (int64_t)fleet_host_elapsed_ms(h->fh);
	output_host_done(&run->out, &cmd->out, res);
	output_host_free(&cmd->out);
	outq_owner_forget(&run->stdout_q, &cmd->queued);
	fleet_host_result(h->fh, res->status);
	/* -S (pdsh, clush): a signal counts as the shell would say it. */
	if (res->ran && res->exit_code > run->largest_code)
		run->largest_code = res->exit_code;
	else if (res->ran && res->signal > 0 &&
	    128 + res->signal > run->largest_code)
		run->largest_code = 128 + res->signal;
	if (res->status == HS_OK)
		note_exit(run, EXIT_ALL_OK);
	else if (res->status == HS_FAILED ||
	    (res->status == HS_TIMEOUT && res->ran))
		note_exit(run, EXIT_CMD_FAILED);
	else
		note_exit(run, EXIT_UNREACHABLE);
	if (--h->pending == 0)
		fleet_host_close(h->fh);
	else
		start_queued(h);
}

/* ---- stream callbacks ----------------------------------------------------- */

static void
run_on_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct run_cmd *cmd = arg;
	struct run *run = cmd->host->run;
	char err[512];

	if (hostfile_write(&run->files, &cmd->file, fd, p, n, err,
		sizeof(err)) != 0)
		file_error(cmd, err);
	if ((buf_len(&cmd->backlog) > 0 ||
		outq_hold(&run->stdout_q, &cmd->queued)) &&
	    backlog_put(cmd, fd, p, n) == 0)
		return;
	show_output(cmd, fd, p, n);
	if (cmd->host->fh->conn != NULL)
		conn_stream_consumed(cmd->host->fh->conn, cmd->stream, n);
}

static void
run_on_eof(void *arg, int fd)
{
}

/* "sudo: a password is required": the first lines sudo wrote, newlines
 * folded into "; " (output.c neutralises the rest). */
static void
become_reason(const Muster__Exit *ex, char *out, size_t outlen)
{
	size_t i, n = 0, len = ex->become_error.len;
	const uint8_t *p = ex->become_error.data;

	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0) {
		snprintf(out, outlen,
		    "sudo did not run the command (it "
		    "ended or was stopped first)");
		return;
	}
	for (i = 0; i < len && n + 3 < outlen; i++) {
		if (p[i] == '\r')
			continue;
		if (p[i] == '\n') {
			out[n++] = ';';
			out[n++] = ' ';
		} else
			out[n++] = (char)p[i];
	}
	out[n] = '\0';
}

static void
run_on_exit_msg(void *arg, const Muster__Exit *ex)
{
	struct run_cmd *cmd = arg;
	struct host_result res = { .host = cmd->out.name };
	char err[512];

	res.exit_code = ex->code;
	res.signal = ex->signal;
	res.ran = true;
	if (ex->become_failed) {
		/* sudo's own words, cut to one line's worth. */
		res.status = HS_BECOME;
		res.ran = false;
		res.exit_code = -1;
		res.signal = 0;
		become_reason(ex, err, sizeof(err));
		res.error = err;
	} else if (ex->timed_out) {
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

/*
 * The command ends without an Exit: its stream failed, or its host was
 * lost. One already sent may have run, wholly or in part: that is a
 * failure to look at, not an unreachable host to simply try again.
 */
static void
cmd_lost(struct run_cmd *cmd, enum host_status st, const char *msg)
{
	struct host_result res = { .host = cmd->out.name, .exit_code = -1 };
	char why[512];

	res.status = st;
	res.error = msg;
	if (cmd->started && !cmd->finished) {
		res.ran = true;
		if (st == HS_UNREACHABLE) {
			res.status = HS_FAILED;
			snprintf(why, sizeof(why),
			    "lost after the command "
			    "started (it may have run): %s",
			    msg);
			res.error = why;
		}
	}
	finish_cmd(cmd, &res);
}

static void
run_on_stream_error(void *arg, enum host_status st, const char *msg)
{
	cmd_lost(arg, st, msg);
}

/*
 * --stdin: send what the shared feed has for this command, as far as the
 * stream's credit and the channel's queue allow; Eof once stdin ended and
 * every byte went out. With nothing to send the stream stops asking and
 * the feed wakes it when more is read.
 */
static void
run_on_writable(void *arg)
{
	struct run_cmd *cmd = arg;
	struct conn *c = cmd->host->fh->conn;
	const uint8_t *p;
	size_t room, n;

	if (c == NULL || cmd->finished || cmd->stdin_closed)
		return;
	while ((room = conn_stream_room(c, cmd->stream)) > 0 &&
	    (n = stdin_feed_peek(&cmd->feed, &p)) > 0) {
		if (n > room)
			n = room;
		if (n > FRAME_DATA_CHUNK)
			n = FRAME_DATA_CHUNK;
		if (conn_stream_send(c, cmd->stream, 0, p, n) != 0)
			return;
		stdin_feed_advance(&cmd->feed, n);
	}
	if (stdin_feed_done(&cmd->feed)) {
		cmd->stdin_closed = true;
		conn_stream_want_write(c, cmd->stream, false);
		(void)conn_stream_eof(c, cmd->stream, 0);
		stdin_feed_remove(&cmd->feed);
	} else if (room > 0)
		/* The feed has nothing yet: it wakes us. */
		conn_stream_want_write(c, cmd->stream, false);
}

static void
run_on_feed_wake(struct feed_reader *r)
{
	struct run_cmd *cmd = (struct run_cmd *)((char *)r -
	    offsetof(struct run_cmd, feed));
	struct conn *c = cmd->host->fh->conn;

	if (c != NULL && cmd->started && !cmd->finished)
		conn_stream_want_write(c, cmd->stream, true);
}

static const struct stream_ops run_stream_ops = {
	.data = run_on_data,
	.eof = run_on_eof,
	.exit = run_on_exit_msg,
	.error = run_on_stream_error,
	.writable = run_on_writable,
};

/* ---- host life cycle ------------------------------------------------------- */

/*
 * Start commands in order while the host has stream slots. The agent keeps
 * at most 256 streams open on a channel (PROTOCOL.md section 11): more -c
 * than that wait for earlier ones to end instead of failing. Called again
 * whenever a command ends; a start that fails ends its command, which
 * calls back here, so re-entry is left to the loop already running.
 */
static void
start_queued(struct run_host *h)
{
	struct fleet_host *fh = h->fh;
	struct run *run = h->run;
	const struct run_options *opts = run->opts;
	Muster__Exec exec;
	size_t i;
	char err[128];
	int r;

	if (h->starting || !h->ready)
		return;
	h->starting = true;
	for (i = h->next; fh->conn != NULL && h->running < run->slots &&
	     i < opts->ncommands;
	     i = ++h->next) {
		struct run_cmd *cmd = &h->cmds[i];

		if (cmd->finished)
			continue;
		muster__exec__init(&exec);
		exec.shell_command.data = (uint8_t *)opts->commands[i];
		exec.shell_command.len = strlen(opts->commands[i]);
		exec.timeout_ms = (uint32_t)(opts->timeout * 1000);
		exec.window = MUX_EXEC_WINDOW;
		/* Without --stdin the agent gives the command /dev/null: an
		 * interactive program then ends instead of waiting. */
		exec.want_stdin = opts->want_stdin;
		exec.tty = opts->tty;
		if (opts->become) {
			exec.become_user.data = (uint8_t *)opts->become_user;
			exec.become_user.len = strlen(opts->become_user);
		}
		if (run->become_pass != NULL) {
			exec.become_password
			    .data = (uint8_t *)run->become_pass;
			exec.become_password.len = strlen(run->become_pass);
		}
		if ((r = conn_exec(fh->conn, &exec, &run_stream_ops, cmd,
			 &cmd->stream)) != 0) {
			/* A failing conn: its done callback ends what is
			 * left with the connection's own status. */
			if (r == MERR_PROTOCOL)
				break;
			snprintf(err, sizeof(err), "cannot start command: %s",
			    merr_str(r));
			run_on_stream_error(cmd, HS_FAILED, err);
			continue;
		}
		cmd->started = true;
		h->running++;
		run->cmds_started++;
		if (opts->want_stdin)
			conn_stream_want_write(fh->conn, cmd->stream, true);
	}
	h->starting = false;
}

static void
run_host_ready(struct fleet_host *fh)
{
	struct run_host *h = fh->job;

	h->ready = true;
	start_queued(h);
}

static void
run_host_done(struct fleet_host *fh, enum host_status st, const char *error)
{
	struct run_host *h = fh->job;
	size_t i;

	h->ready = false;
	/* Commands still open get the connection's status. */
	for (i = 0; i < h->run->opts->ncommands; i++)
		cmd_lost(&h->cmds[i], st == HS_OK ? HS_UNREACHABLE : st,
		    error ? error : "connection closed");
}

/* Every host is final: the run is finished once stdout has taken what is
 * queued (outq_sync writes the rest blocking, should the loop end). */
static bool
run_busy(struct fleet *f)
{
	struct run *run = f->job;

	return outq_pending(&run->stdout_q);
}

static const struct fleet_job_ops run_job_ops = {
	.ready = run_host_ready,
	.done = run_host_done,
	.busy = run_busy,
};

static int
setup_hosts(struct run *run)
{
	size_t i, k, ncmd = run->opts->ncommands;
	char *label;
	int r;

	if ((run->hosts = calloc(run->fleet.nhosts, sizeof(*run->hosts))) ==
	    NULL)
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
			struct run_cmd *cmd = &h->cmds[k];

			cmd->host = h;
			cmd->queued.resume = run_on_stdout_drained;
			buf_init(&cmd->backlog, BACKLOG_MAX);
			label = NULL;
			/* Several commands: host#1, host#2, ... */
			if (ncmd > 1 &&
			    asprintf(&label, "%s#%zu", h->fh->display, k + 1) <
				0)
				return MERR_NOMEM;
			r = output_host_init(&run->out, &cmd->out,
			    label ? label : h->fh->display);
			hostfile_init(&cmd->file,
			    label ? label : h->fh->display);
			free(label);
			if (r != 0) {
				cmd->finished = true;
				return r;
			}
			/* Every command is a reader from the start: the
			 * feed keeps each byte until the slowest took it. */
			if (run->opts->want_stdin &&
			    (r = stdin_feed_add(&run->feed, &cmd->feed,
				 run_on_feed_wake)) != 0)
				return r;
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
			if (!h->cmds[k].finished) {
				output_host_free(&h->cmds[k].out);
				buf_free(&h->cmds[k].backlog);
			}
		free(h->cmds);
	}
	free(run->hosts);
}

/*
 * --ask-become-pass: $MUSTER_BECOME_PASS (tests, pipelines), else once on
 * the terminal with echo off. sudo reads one line: no newline in it.
 */
static int
get_become_pass(struct run *run, char *err, size_t errlen)
{
	const char *env = getenv("MUSTER_BECOME_PASS");
	char *pw;
	int r;

	if ((pw = calloc(1, BECOME_PASS_MAX + 1)) == NULL)
		return MERR_NOMEM;
	run->become_pass = pw;
	if (env != NULL) {
		if (strlen(env) > BECOME_PASS_MAX) {
			snprintf(err, errlen,
			    "MUSTER_BECOME_PASS is longer "
			    "than %d bytes",
			    BECOME_PASS_MAX);
			return MERR_LIMIT;
		}
		strcpy(pw, env);
	} else if ((r = askpass_tty("[muster] sudo password: ", pw,
			BECOME_PASS_MAX + 1)) != 0) {
		snprintf(err, errlen, "--ask-become-pass: %s",
		    r == MERR_NOTFOUND ?
			"no terminal to ask on (set "
			"MUSTER_BECOME_PASS)" :
			merr_str(r));
		return r;
	}
	if (*pw == '\0' || strpbrk(pw, "\r\n") != NULL) {
		snprintf(err, errlen,
		    "--ask-become-pass: the password is "
		    "empty or has a line break");
		return MERR_INVAL;
	}
	return 0;
}

static void
wipe_become_pass(struct run *run)
{
	if (run->become_pass == NULL)
		return;
	explicit_bzero(run->become_pass, BECOME_PASS_MAX + 1);
	free(run->become_pass);
	run->become_pass = NULL;
}

int
run_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct run_options *opts)
{
	struct run run;
	ev_tstamp t0;
	char err[512];
	int r;

	memset(&run, 0, sizeof(run));
	run.opts = opts;
	/* Through a daemon, one client may hold half a channel's streams
	 * (the others are for its other clients). */
	run.slots = cfg->link != NULL ? MUX_MAX_STREAMS / 2 : MUX_MAX_STREAMS;
	/* Every command reads the one stdin, which is held until the
	 * slowest reader took it: a command waiting for a slot would stall
	 * the ones running. */
	if (opts->want_stdin && opts->ncommands > run.slots) {
		fprintf(stderr,
		    "muster: --stdin with more than %zu commands "
		    "(-c): they could not all run at once\n",
		    run.slots);
		return EXIT_USAGE;
	}
	if (opts->ask_become_pass &&
	    get_become_pass(&run, err, sizeof(err)) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		wipe_become_pass(&run);
		return EXIT_USAGE;
	}
	if ((r = hostfiles_open(&run.files, opts->outdir, opts->errdir, err,
		 sizeof(err))) != 0) {
		fprintf(stderr, "muster: %s\n", err);
		wipe_become_pass(&run);
		return r == MERR_INVAL ? EXIT_USAGE : EXIT_INTERNAL;
	}
	ev_timer_init(&run.stop, run_on_stop, 0, 0);
	run.stop.data = &run;
	fflush(stdout);
	if ((r = outq_init(&run.stdout_q, cfg->loop, STDOUT_FILENO, "stdout",
		 run_stdout_error, &run)) != 0) {
		fprintf(stderr, "muster: %s\n", merr_str(r));
		outq_free(&run.stdout_q);
		hostfiles_close(&run.files);
		wipe_become_pass(&run);
		return EXIT_INTERNAL;
	}
	output_init(&run.out, opts->mode, outq_file(&run.stdout_q),
	    stderr_file(&run), opts->raw, opts->max_output);
	output_set_total(&run.out, opts->max_total_output,
	    hosts->n * opts->ncommands);
	if ((opts->want_stdin &&
		(r = stdin_feed_init(&run.feed, cfg->loop, STDIN_FILENO, 0)) !=
		    0) ||
	    (r = fleet_init(&run.fleet, cfg, hosts, opts->fanout, &run_job_ops,
		 &run)) != 0 ||
	    (r = setup_hosts(&run)) != 0) {
		fprintf(stderr, "muster: %s\n", merr_str(r));
		teardown_hosts(&run);
		fleet_free(&run.fleet);
		output_free(&run.out);
		outq_free(&run.stdout_q);
		stdin_feed_free(&run.feed);
		hostfiles_close(&run.files);
		wipe_become_pass(&run);
		return EXIT_INTERNAL;
	}
	run.cmds_total = hosts->n * opts->ncommands;
	ev_timer_init(&run.progress, run_on_progress, 0, PROGRESS_INTERVAL);
	run.progress.data = &run;
	if (opts->progress &&
	    (opts->mode == OUTPUT_GATHER || opts->mode == OUTPUT_DIFF)) {
		ev_timer_start(cfg->loop, &run.progress);
		/* The progress line must not keep the loop alive. */
		ev_unref(cfg->loop);
	}
	t0 = ev_time();
	fleet_run(&run.fleet);
	if (ev_is_active(&run.progress)) {
		ev_ref(cfg->loop);
		ev_timer_stop(cfg->loop, &run.progress);
	}
	progress_clear(&run);
	ev_timer_stop(cfg->loop, &run.stop);
	/* The loop is done: what is left (and -b's groups) is written
	 * blocking, and a failure there is still said. */
	outq_sync(&run.stdout_q);
	output_finish(&run.out, ev_time() - t0);
	if (run.stdout_q.err != 0 && !run.write_failed) {
		run.write_failed = true;
		fprintf(stderr, "muster: stdout: %s\n",
		    strerror(run.stdout_q.err));
		note_exit(&run, EXIT_INTERNAL);
	}
	if (run.feed.read_errno != 0) {
		fprintf(stderr,
		    "muster: reading stdin: %s (the commands got "
		    "what was read before)\n",
		    strerror(run.feed.read_errno));
		note_exit(&run, EXIT_INTERNAL);
	}
	/* An interrupted run that happened to finish is still not a clean
	 * one. */
	if (run.fleet.interrupted && run.exit_status == EXIT_ALL_OK)
		run.exit_status = EXIT_CMD_FAILED;
	if (cfg->roll != NULL && cfg->roll->cut_short &&
	    !run.fleet.interrupted && run.exit_status != EXIT_INTERNAL)
		run.exit_status = EXIT_CUT_SHORT;
	/* Only the commands' own codes: muster's statuses for a host it
	 * could not reach, or its own failures, still come through. */
	if (opts->exit_largest && run.largest_code > 0 &&
	    run.exit_status != EXIT_INTERNAL)
		run.exit_status = run.largest_code;
	teardown_hosts(&run);
	fleet_free(&run.fleet);
	output_free(&run.out);
	outq_free(&run.stdout_q);
	stdin_feed_free(&run.feed);
	hostfiles_close(&run.files);
	wipe_become_pass(&run);
	return run.exit_status;
}
