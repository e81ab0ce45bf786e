/*
 * The agent facing a hostile controller: the real agent/chan.c and
 * stream.c (framing, stream table, dispatch, credit) read the input as the
 * controller's byte stream on their stdin, with the stand-ins of
 * agent_stubs.c behind it.
 *
 * Input: byte 0 sets the size of the pieces the rest is written in,
 * ((b & 0x7f) + 1) * 8 bytes; between pieces the loop runs, so streams
 * produce output, credit and results while frames still arrive. Bit 7 set
 * ends with the agent killed by a signal (chan_shutdown) instead of stdin
 * EOF. The agent's stdout goes to /dev/null.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <ev.h>

#include "chan.h"

/* Bound the loop per input: stand-ins end within a few iterations. */
#define MAX_SPINS 100000

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	signal(SIGPIPE, SIG_IGN);
	if ((fd = open("/dev/null", O_WRONLY)) == -1 ||
	    dup2(fd, STDOUT_FILENO) == -1)
		abort();
	close(fd);
	return 0;
}

/* Run the loop without blocking until nothing is pending. */
static void
spin(struct ev_loop *loop, struct chan *c, int times)
{
	while (times-- > 0 && !chan_finished(c))
		ev_run(loop, EVRUN_NOWAIT);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ev_loop *loop;
	struct chan *c;
	size_t piece, off = 1;
	ssize_t n;
	int p[2], by_signal, spins = 0;

	if (size < 1)
		return 0;
	piece = ((size_t)(data[0] & 0x7f) + 1) * 8;
	by_signal = data[0] & 0x80;
	if (pipe(p) == -1 || dup2(p[0], STDIN_FILENO) == -1)
		abort();
	close(p[0]);
	if (fcntl(p[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	if ((loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		abort();
	if (chan_new(loop, &c) != 0)
		abort();
	while (off < size && !chan_finished(c)) {
		n = write(p[1], data + off,
		    size - off < piece ? size - off : piece);
		if (n == -1 && errno != EAGAIN)
			abort(); /* fd 0 is the only reader, and stays */
		if (n > 0)
			off += n;
		/* One iteration reads, the next ones let streams work. */
		spin(loop, c, 4);
		if (n == -1 && ++spins > 1000)
			break; /* the agent stopped reading (congested) */
	}
	if (by_signal)
		chan_shutdown(c, CHAN_EXIT_OK);
	close(p[1]);
	for (spins = 0; !chan_finished(c) && spins < MAX_SPINS; spins++)
		ev_run(loop, EVRUN_ONCE);
	chan_free(c);
	ev_loop_destroy(loop);
	/* fd 0 stays open (the next dup2 replaces it): closed, the next
	 * pipe would land on it. */
	return 0;
}
