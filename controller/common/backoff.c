/* Reconnect back-off (backoff.h). */
#include "backoff.h"

#include <stdlib.h>

void
backoff_init(struct backoff *b, double min, double max)
{
	b->min = min;
	b->max = max < min ? min : max;
	b->cur = 0;
}

void
backoff_reset(struct backoff *b)
{
	b->cur = 0;
}

double
backoff_next(struct backoff *b)
{
	double u;

	b->cur = b->cur == 0 ? b->min : b->cur * 2;
	if (b->cur > b->max)
		b->cur = b->max;
	/* Not for secrets: only spreads reconnects apart. */
	u = (double)random() / RAND_MAX; // NOLINT(cert-msc30-c,cert-msc50-cpp)
	return b->cur * (0.5 + 0.5 * u);
}
