/*
 * Byte counts for people: the one formatter behind push's progress, watch's
 * table and the daemon's status, so that a size reads the same everywhere.
 */
#ifndef MUSTER_UNITS_H
#define MUSTER_UNITS_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Write n bytes in binary units to out: "512 B", "1.5 KiB" ... "3.0 TiB";
 * compact (table columns) gives "512B", "1.5K" ... "3.0T". Whole bytes are
 * shown without a fraction. Negative or NaN counts show as 0.
 */
void units_bytes(double n, bool compact, char *out, size_t outlen);

#endif
