/*
 * muster-agent: runs commands for the controller over its stdin/stdout.
 * This file handles arguments, signals and the event loop; the protocol is
 * in chan.c and stream.c, processes in proc.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "build_id.h"
#include "chan.h"
#include "err.h"
#include "frame.h"
#include "guard.h"

#define EXIT_USAGE 2

static const int shutdown_signals[] = { SIGTERM, SIGHUP, SIGINT };

static void
usage(void)
{
	fprintf(stderr,
	    "usage: muster-agent --stdio\n"
	    "       muster-agent --version\n");
}

/*
 * Descriptors 0-2 must be taken: a pipe landing on one of them would be
 * clobbered by the dup2 calls in a child.
 */
static void
ensure_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		if (open("/dev/null", O_RDWR) != fd)
			_exit(1);
	}
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	chan_shutdown(w->data, CHAN_EXIT_OK);
}

int
main(int argc, char *argv[])
{
	ev_signal sigw[sizeof(shutdown_signals) / sizeof(shutdown_signals[0])];
	struct ev_loop *loop;
	struct chan *c;
	size_t i;
	int r, status;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("muster-agent %d %s\n", MUSTER_PROTO_VERSION,
		    MUSTER_BUILD_ID);
		return 0;
	}
	if (argc != 2 || strcmp(argv[1], "--stdio") != 0) {
		usage();
		return EXIT_USAGE;
	}
	ensure_std_fds();
	/* A vanished controller must show up as EPIPE, not kill us before
	 * the process groups are cleaned up. */
	signal(SIGPIPE, SIG_IGN);
	/* Without a guard, commands still run; they only outlive an agent
	 * that is killed outright, as they did before. */
	(void)guard_start(argc, argv);
	frame_keep_blocks();
	if ((loop = ev_default_loop(EVFLAG_AUTO)) == NULL) {
		fprintf(stderr, "muster-agent: cannot start the event loop\n");
		return CHAN_EXIT_IO;
	}
	if ((r = chan_new(loop, &c)) != 0) {
		fprintf(stderr, "muster-agent: %s\n", merr_str(r));
		return CHAN_EXIT_IO;
	}
	for (i = 0; i < sizeof(sigw) / sizeof(sigw[0]); i++) {
		ev_signal_init(&sigw[i], signal_cb, shutdown_signals[i]);
		sigw[i].data = c;
		ev_signal_start(loop, &sigw[i]);
	}
	if (!chan_finished(c))
		ev_run(loop, 0);
	status = chan_status(c);
	for (i = 0; i < sizeof(sigw) / sizeof(sigw[0]); i++)
		ev_signal_stop(loop, &sigw[i]);
	chan_free(c);
	ev_loop_destroy(loop);
	return status;
}
