/* The state agent_client.h's functions share across a test program. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "agent_client.h"

double slow = 1;
void (*agent_child_setup)(void);

void
agent_test_init(double factor)
{
	const char *wrap = getenv("MUSTER_AGENT_WRAPPER");
	const char *filter = getenv("MUSTER_TEST_FILTER");

	if (wrap != NULL && *wrap != '\0')
		slow = factor;
	if (filter != NULL && *filter != '\0')
		cmocka_set_test_filter(filter);
	signal(SIGPIPE, SIG_IGN);
}
