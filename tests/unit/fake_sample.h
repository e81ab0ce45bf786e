/*
 * A Muster__Sample with room for its repeated fields, for the unit tests
 * that feed samples to alert.c and metrics.c. Each test sets the values
 * it needs after fake_sample_init.
 */
#ifndef MUSTER_TEST_FAKE_SAMPLE_H
#define MUSTER_TEST_FAKE_SAMPLE_H

#include <string.h>

#include "muster.pb-c.h"

#define MAX_DEV 4

struct fake {
	Muster__Sample s;
	Muster__DiskUsage d[MAX_DEV];
	Muster__DiskUsage *dp[MAX_DEV];
	Muster__NetRate n[MAX_DEV];
	Muster__NetRate *np[MAX_DEV];
};

/* Empty messages, the disk and net arrays pointing at the fake's own
 * storage (n_disks and n_net are 0: add entries by bumping them). */
static inline void
fake_sample_init(struct fake *f)
{
	Muster__Sample s = MUSTER__SAMPLE__INIT;
	Muster__DiskUsage d = MUSTER__DISK_USAGE__INIT;
	Muster__NetRate n = MUSTER__NET_RATE__INIT;
	size_t i;

	memset(f, 0, sizeof(*f));
	f->s = s;
	for (i = 0; i < MAX_DEV; i++) {
		f->d[i] = d;
		f->dp[i] = &f->d[i];
		f->n[i] = n;
		f->np[i] = &f->n[i];
	}
	f->s.disks = f->dp;
	f->s.net = f->np;
}

#endif
