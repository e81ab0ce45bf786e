/* Byte counts for people (units.h). */
#include "units.h"

#include <stdio.h>

void
units_bytes(double n, bool compact, char *out, size_t outlen)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	static const char *const letter[] = { "B", "K", "M", "G", "T" };
	int i = 0;

	/* !(n > 0) also catches NaN. */
	if (!(n > 0))
		n = 0;
	while (n >= 1024 && i < 4) {
		n /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(out, outlen, "%.0f%s%s", n, compact ? "" : " ",
		    compact ? letter[0] : unit[0]);
	else
		snprintf(out, outlen, "%.1f%s%s", n, compact ? "" : " ",
		    compact ? letter[i] : unit[i]);
}
