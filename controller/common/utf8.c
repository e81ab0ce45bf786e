#include "utf8.h"

#include <stdio.h>
#include <string.h>

size_t
utf8_seq(const uint8_t *p, size_t n, uint32_t *cpp)
{
	uint32_t cp, min;
	size_t len, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
		min = 0x80;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
		min = 0x800;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return len;
}

size_t
utf8_escape(char *out, size_t outlen, const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, o = 0, seq;
	uint32_t cp;

	if (outlen == 0)
		return 0;
	while (i < len) {
		seq = 0;
		if (p[i] >= 0x20 && p[i] < 0x7f)
			seq = 1;
		else if (p[i] >= 0x80 &&
		    (seq = utf8_seq(p + i, len - i, &cp)) > 0 && cp < 0xa0)
			seq = 0;
		if (seq > 0) {
			if (o + seq >= outlen)
				break;
			memcpy(out + o, p + i, seq);
			o += seq;
			i += seq;
			continue;
		}
		if (o + 4 >= outlen)
			break;
		snprintf(out + o, outlen - o, "\\x%02x", p[i]);
		o += 4;
		i++;
	}
	out[o] = '\0';
	return i;
}

size_t
utf8_check(const char *s, size_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t i = 0, seq;
	uint32_t cp;

	while (i < len) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if ((seq = utf8_seq(p + i, len - i, &cp)) == 0 || cp < 0xa0)
			return i;
		i += seq;
	}
	return len;
}
