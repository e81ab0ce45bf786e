/* Names of host outcomes (status.h). */
#include "status.h"

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
	case HS_REFUSED: return "refused";
	}
	return "unknown";
}
