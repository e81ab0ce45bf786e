/*
 * Line-based unified diff (Myers' O(ND) algorithm in linear space), for
 * --diff: each host's output against the most common one.
 *
 * Memory stays bounded: each input is cut to UDIFF_MAX_LINES lines, and a
 * diff needing more than about 2 * UDIFF_MAX_COST changed lines is not
 * computed at all (the caller shows the output in full instead). Both are
 * reported through the flags so the output can say so.
 */
#ifndef MUSTER_UDIFF_H
#define MUSTER_UDIFF_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define UDIFF_MAX_LINES 50000
#define UDIFF_MAX_COST 2000
#define UDIFF_CONTEXT 3

/* udiff flags */
#define UDIFF_CAPPED 0x1	/* an input was cut to UDIFF_MAX_LINES */
#define UDIFF_TOO_DIFFERENT 0x2 /* over the cost limit; nothing written */

/*
 * Append to out the unified diff turning a into b: "--- label_a",
 * "+++ label_b", then hunks with `context` lines of context, and
 * "\ No newline at end of file" where a text ends without one. Equal texts
 * append nothing. Line contents are copied as they are: the caller makes
 * them safe to print. Returns 0 or MERR_NOMEM / MERR_LIMIT (out full);
 * *flags gets UDIFF_* bits.
 */
int udiff(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
    const char *label_a, const char *label_b, unsigned context,
    struct buf *out, int *flags);

#endif
