/*
 * inventory_parse on any file contents (an inventory may come from anyone
 * who can write the file, and it reaches ranges, groups and :children
 * resolution), then selecting "all" and one named group.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX 16384

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inventory inv = { 0 };
	struct host_set out;
	char err[512];
	int r;

	if (size > INPUT_MAX)
		return 0;
	err[0] = '\0';
	r = inventory_parse((const char *)data, size, "fuzz.ini", 0, &inv,
	    err, sizeof(err));
	if (r != 0) {
		/* Left empty, with a reason. */
		if (inv.ngroups != 0 || inv.all.n != 0 || err[0] == '\0')
			abort();
		return 0;
	}
	host_set_init(&out);
	if (inventory_select(&inv, "all", &out, err, sizeof(err)) != 0)
		abort();
	if (inv.ngroups > 0)
		(void)inventory_select(&inv, inv.groups[inv.ngroups - 1].name,
		    &out, err, sizeof(err));
	host_set_free(&out);
	inventory_free(&inv);
	return 0;
}
