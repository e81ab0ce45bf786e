/*
 * Getting the agent onto a host and started.
 *
 * The start command is one exec request that both probes and starts: it
 * checks ~/.cache/muster/muster-agent-<sha256> against its hash and execs it,
 * or prints a request for the agent with the host's architecture. Upload
 * writes the binary to a unique temporary name, syncs it and renames it
 * into place, over SFTP or, where the host has no SFTP subsystem, through
 * an exec channel. Upload blocks (libssh 0.10's SFTP cannot run
 * non-blocking), so it runs on a worker thread that owns the session for
 * the duration.
 */
#ifndef MUSTER_BOOTSTRAP_H
#define MUSTER_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "buf.h"

#define BOOTSTRAP_JUNK_MAX (64u * 1024)

/* The shell command for the exec request. Caller frees. */
char *bootstrap_start_command(const char *agent_sha256,
    const char *become_user);
/* A user name fit for --become-user (portable characters only). */
bool bootstrap_user_ok(const char *user);

enum marker {
	MARKER_NONE,		/* nothing decisive yet */
	MARKER_AGENT,		/* agent runs: frames follow in `in` */
	MARKER_NEED,		/* no (valid) agent: arch filled in */
	MARKER_JUNK,		/* too much output without a marker */
};

/* Look for the marker line at a line start in `in`, consuming everything
 * up to and including it (or the complete lines of junk before it). */
enum marker bootstrap_scan(struct buf *in, char *arch, size_t archlen);

struct upload_job {
	ssh_session session;
	const uint8_t *data;
	size_t len;
	const char *sha256;
	long timeout_s;
	/* results */
	int result;
	bool via_exec;
	char err[256];
};

/* Worker-thread body: the session is switched to blocking mode for the
 * upload and back to non-blocking afterwards. */
void bootstrap_upload(void *arg);

#endif
