/* Names of host outcomes (status.h). */
#include "status.h"

#include <string.h>

const char *
host_status_str(enum host_status st)
{
	switch (st) {
	case HS_OK: return "ok";
	case HS_FAILED: return "failed";
	case HS_UNREACHABLE: return "unreachable";
	case HS_TIMEOUT: return "timeout";
	case HS_HOSTKEY: return "hostkey";
	case HS_AUTH: return "auth";
	case HS_BECOME: return "become";
	case HS_SKIPPED: return "skipped";
	case HS_REFUSED: return "refused";
	}
	return "unknown";
}

int
host_status_parse(const char *name, enum host_status *st)
{
	int i;

	for (i = 0; i < HS_COUNT; i++)
		if (strcmp(host_status_str((enum host_status)i), name) == 0) {
			*st = (enum host_status)i;
			return 0;
		}
	return -1;
}
