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

/*
 * Copy len bytes of s into out (outlen bytes, always NUL-terminated) for a
 * message: printable ASCII and well-formed UTF-8 from U+00A0 on stay,
 * anything else -- controls, C1 controls, bytes of malformed sequences --
 * becomes "\xNN", so text a user or a file gave cannot drive the terminal
 * the message is shown on. Stops at a whole character when out is full and
 * returns how many bytes of s were copied.
 */
/* Offset of the first byte of s that is not ASCII or part of well-formed
 * UTF-8 from U+00A0 on (a C1 control is a bad byte), len when there is
 * none. ASCII controls are the caller's business. */
size_t utf8_check(const char *s, size_t len);
size_t utf8_escape(char *out, size_t outlen, const char *s, size_t len);

#endif
