/*
 * bench_inventory FILE [RUNS]: inventory_load(FILE) RUNS times (default
 * 11) in one process; prints the median and the spread of the CPU time
 * (CLOCK_PROCESS_CPUTIME_ID) and of the wall time of one load, and the
 * number of hosts. Built by the top CMakeLists.txt as bench_inventory;
 * bench/inventory/measure drives it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "inventory.h"

static double
now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct inventory inv;
	char err[1024];
	double cpu[101], wall[101], c0, w0;
	int runs = argc > 2 ? atoi(argv[2]) : 11, i;
	size_t n = 0;

	if (argc < 2 || runs < 1 || runs > 101) {
		fprintf(stderr, "usage: bench_inventory FILE [RUNS<=101]\n");
		return 2;
	}
	for (i = 0; i < runs; i++) {
		c0 = now(CLOCK_PROCESS_CPUTIME_ID);
		w0 = now(CLOCK_MONOTONIC);
		if (inventory_load(argv[1], 0, &inv, err, sizeof(err)) != 0) {
			fprintf(stderr, "bench_inventory: %s\n", err);
			return 1;
		}
		cpu[i] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
		wall[i] = now(CLOCK_MONOTONIC) - w0;
		n = inv.all.n;
		inventory_free(&inv);
	}
	qsort(cpu, (size_t)runs, sizeof(double), cmp);
	qsort(wall, (size_t)runs, sizeof(double), cmp);
	printf("%s\t%zu hosts\t%d runs\tcpu median %.3f s (min %.3f max "
	       "%.3f)\twall median %.3f s\n",
	    argv[1], n, runs, cpu[runs / 2], cpu[0], cpu[runs - 1],
	    wall[runs / 2]);
	return 0;
}
