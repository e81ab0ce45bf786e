/* UTF-8 validation shared by the output modes and the metrics page. */
#ifndef MUSTER_UTF8_H
#define MUSTER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * Length of the well-formed multi-byte UTF-8 sequence at p (n bytes
 * available), or 0. RFC 3629: no overlong forms, surrogates or code points
 * past U+10FFFF, which terminals and Prometheus would read differently from
 * a validator. The code point goes to *cp. ASCII is the caller's business.
 */
size_t utf8_seq(const uint8_t *p, size_t n, uint32_t *cp);

#endif
