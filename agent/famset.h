/*
 * A set of metric families under construction for one Sample
 * (proto/muster.proto, Family): collectors open a family with its name,
 * type and label names, then add series. Everything lives in fixed static
 * storage, reset before each sample, so taking a sample allocates
 * nothing and the agent's memory does not depend on what a host has. A
 * series or family that does not fit is left out and counted in
 * famset_dropped; a family left with no series is not sent.
 *
 * Also the small file reader the collectors share: a /proc or /sys file
 * read whole, relative to a root directory (tests point it at a fake
 * tree).
 */
#ifndef MUSTER_AGENT_FAMSET_H
#define MUSTER_AGENT_FAMSET_H

#include <stddef.h>
#include <stdint.h>

#include "muster.pb-c.h"

#define FAMSET_FAMILIES_MAX 1024
#define FAMSET_SERIES_MAX 16384
#define FAMSET_LABEL_VALUES_MAX 32768
#define FAMSET_TEXT_MAX (512 * 1024)
#define FAMSET_LABELS_MAX 16 /* label names of one family */

enum famset_type { FAM_GAUGE = 0, FAM_COUNTER = 1, FAM_UNTYPED = 2 };

/* Forget every family: the next sample starts empty. */
void famset_reset(void);

/*
 * Open family name (copied) with nlabels label names (each copied); the
 * series added next belong to it. Opening a name already open in this
 * sample continues that family, so collectors may add to one family from
 * several places. -1 when it does not fit (its series are then dropped).
 */
int famset_begin(const char *name, enum famset_type type, size_t nlabels,
    const char *const *labels);

/* A series of the open family with the family's nlabels label values. */
void famset_add(double value, const char *const *values);

/* famset_begin + famset_add for a family of one series without labels. */
void famset_single(const char *name, enum famset_type type, double value);

/* Point m's families at the set (valid until the next famset_reset). */
void famset_export(Muster__Sample *m);

/* Series and families left out since the start of the agent. */
uint64_t famset_dropped(void);

/*
 * Read rootfd-relative path whole into buf (NUL-terminated, at most size-1
 * bytes). Returns the length, or -1 with errno set. A file longer than
 * the buffer is cut at its last whole line.
 */
long famset_slurp(int rootfd, const char *path, char *buf, size_t size);

/* The next line of *pp (NUL-terminated, newline dropped), NULL at the end. */
char *famset_line(char **pp);

/* The next blank-separated word of *pp, NULL when none is left. */
char *famset_word(char **pp);

/* A decimal number (integer or float), 0 on success; -1 if s is none. */
int famset_number(const char *s, double *v);

#endif
