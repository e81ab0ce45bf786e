/*
 * What the test_agent_{exec,flow,misuse}.c programs share: Exec messages
 * sent to the agent (agent_client.h) and what one stream produced (struct
 * res), gathered by pumping frames with or without granting credit, and
 * checks on the processes the agent started.
 */
#ifndef MUSTER_TEST_AGENT_STREAM_H
#define MUSTER_TEST_AGENT_STREAM_H

#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "build_id.h"
#include "err.h"
#include "frame.h"

#include "agent_client.h"

struct xopt {
	const char *sh;
	const char **argv; /* NULL-terminated */
	uint32_t timeout_ms;
	uint32_t grace_ms;
	uint32_t window;
	int want_stdin;
};

void send_exec(struct agent *a, uint32_t id, const struct xopt *o);

void send_sh(struct agent *a, uint32_t id, const char *sh);

struct res {
	uint32_t id;
	struct buf out[3];
	int eof[3];
	int exited;
	int32_t code;
	int32_t sig;
	int timed_out;
	uint64_t received; /* output bytes */
	uint64_t credited; /* stdin bytes the agent credited back */
	double t_exit;
};

void res_init(struct res *r, uint32_t id);

void res_free(struct res *r);

int res_is(const struct res *r, int fd, const char *s);

/*
 * Take one frame for the streams in rs and check the stream rules on it:
 * no Data after its Eof, Exit only after both Eofs, nothing after Exit.
 * auto_credit returns output credit at once. 0 on timeout.
 */
int pump(struct agent *a, struct res *rs, size_t n, int auto_credit,
    double ms);

void collect(struct agent *a, struct res *rs, size_t n, int auto_credit);

/* The command prints n pids, one a line, on stdout. */
void read_pids(struct agent *a, struct res *r, pid_t *pids, size_t n);

pid_t read_pid(struct agent *a, struct res *r);

/* The process is dead within ms. */
void assert_gone(pid_t pid, double ms);

#endif
