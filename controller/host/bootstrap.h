/*
 * Getting the agent onto a host and started.
 *
 * The start command is the login shell's exec of the start link
 * ~/.cache/muster/muster-agent-set-<set id>, which points at the
 * content-addressed muster-agent-<sha256> for the host's architecture: it
 * costs the host no process of its own. When it ends without the agent's
 * marker (no link yet, another set's link, a damaged agent), the probe
 * command checks that agent against its hash, relinks and execs it, or
 * prints a request for the agent with the host's architecture. Upload
 * writes the binary to a unique temporary name, syncs it and renames it
 * into place, through an exec channel whose stdin carries the same
 * lead-in as the start command's (a login profile that reads stdin gets
 * empty lines, not the agent), or over SFTP where the host's /bin/sh
 * cannot do the exec upload. Upload blocks (libssh 0.10's SFTP cannot run
 * non-blocking), so it runs on a worker thread that owns the session for
 * the duration. The upload waits for the server to close each channel it
 * opened (sshd's MaxSessions 1 refuses the next one until then). The
 * agent's place is the first the probe finds safe and executable: the
 * home's cache, $XDG_RUNTIME_DIR, /dev/shm or /tmp (see bootstrap.c), or
 * the one directory the operator named (--agent-dir, agent_dir=). An
 * agent is checked by size as it is written (temporary name, size, then
 * rename, and its hash where sha256sum is installed) and by its hash, or
 * where sha256sum is missing its size, when the probe finds it.
 * The worker has a deadline of its own and a cancel flag,
 * and the loop can end any blocking libssh call in it by shutting down
 * the session's socket: an upload always ends.
 */
#ifndef MUSTER_BOOTSTRAP_H
#define MUSTER_BOOTSTRAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "agentbin.h"
#include "agentdir.h"
#include "buf.h"

#define BOOTSTRAP_JUNK_MAX (64u * 1024)
/* What the login shell may print around the exec upload before we give up. */
#define BOOTSTRAP_NOISE_MAX (1024u * 1024)

/* Written to the start command's stdin at once: empty lines for a login
 * profile that reads stdin; the agent skips those left before its first
 * frame. */
#define BOOTSTRAP_LEAD_IN "\n\n\n\n"

/* The start link in ~/.cache/muster: this, then the agent set's id. */
#define BOOTSTRAP_LINK "muster-agent-set-"
/* The longest agent directory the probe may name. */
#define BOOTSTRAP_DIR_MAX 400
/* How many places the probe tries (bootstrap.c, BOOTSTRAP_PLACES). */
#define BOOTSTRAP_PLACES_N 4

/* The fast start command: the login shell execs the start link, nothing
 * else runs. agent_dir (agentdir.h) is the operator's place for the agent,
 * NULL for the usual ones. Caller frees; NULL for a become_user or an
 * agent_dir that does not fit. */
char *bootstrap_start_command(const char *set_id, const char *become_user,
    const char *agent_dir);
/* The probe, when the fast start ended without the agent's marker: in
 * /bin/sh, checks the agent for the host's `uname -m` against its hash,
 * points the start link at it when the directories are the user's alone,
 * and execs it; or asks for it: AGENT_NEED_MARKER, `uname -m`, and the
 * number (1..BOOTSTRAP_PLACES_N) and path of the place to put it, or no
 * place and, on stderr, what was tried and why each place failed. With an
 * agent_dir, that is the only place tried (number 1). */
char *bootstrap_probe_command(const struct agentset *set,
    const char *become_user, const char *agent_dir);
/* A user name fit for --become-user (portable characters only). */
bool bootstrap_user_ok(const char *user);

enum marker {
	MARKER_NONE,  /* nothing decisive yet */
	MARKER_AGENT, /* agent runs: frames follow in `in` */
	MARKER_NEED,  /* no (valid) agent: arch filled in */
	MARKER_JUNK,  /* too much output without a marker */
};

/* Look for the marker line at a line start in `in`, consuming everything
 * up to and including it (or the complete lines of junk before it). Adds
 * the bytes of junk skipped to *junk unless it is NULL: the start command
 * prints one newline of its own, so more means the login shell talks on
 * stdout, and SFTP through it would read that talk as packets. */
enum marker bootstrap_scan(struct buf *in, char *arch, size_t archlen,
    size_t *junk);

struct upload_job {
	ssh_session session;
	const uint8_t *data;
	size_t len;
	const char *sha256;
	long timeout_s;
	bool skip_sftp;		     /* the login shell prints on stdout */
	int place;		     /* 1.. in the probe's list of places */
	char dir[BOOTSTRAP_DIR_MAX]; /* that place, as the host named it */
	char agent_dir[AGENTDIR_MAX + 1]; /* the operator's, or "" */
	double deadline;		  /* CLOCK_MONOTONIC seconds */
	/* When a worker took the job (CLOCK_MONOTONIC microseconds), 0
	 * while it waits for one: the loop reads it (bootstrap_upload_ran). */
	atomic_llong started_us;
	int cancel_fd; /* a dup of the session's socket, loop's */
	atomic_bool cancelled;
	/* results */
	int result;
	bool via_exec;
	char err[256];
};

/* On the loop thread, before the job is handed to a worker. */
int bootstrap_upload_prepare(struct upload_job *job, ssh_session session,
    const uint8_t *data, size_t len, const char *sha256, double timeout_s,
    bool skip_sftp, int place, const char *dir, const char *agent_dir);
/* Worker-thread body: the session is switched to blocking mode for the
 * upload and back to non-blocking afterwards. The upload's time runs from
 * here, not from the prepare: a job may wait for a worker. */
void bootstrap_upload(void *arg);
/* On the loop thread: seconds the job has run on a worker (> 0), or 0
 * while it waits for one. */
double bootstrap_upload_ran(struct upload_job *job);
/* On the loop thread while a worker runs the job: make it return soon. */
void bootstrap_upload_cancel(struct upload_job *job);
/* On the loop thread once the worker has returned the job. */
void bootstrap_upload_release(struct upload_job *job);

/* ": <first bytes of the start command's stderr>" for an error message,
 * on one line; "" when it said nothing. Static storage. */
const char *bootstrap_stderr_line(const struct buf *err);

#endif
