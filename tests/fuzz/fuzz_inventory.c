/*
 * inventory_parse on any file contents (an inventory may come from anyone
 * who can write the file, and it reaches ranges, groups and :children
 * resolution, variables and their precedence), read both as INI and as
 * YAML (libyaml and our walk of its document), then selecting "all" and
 * one named group.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "inventory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define INPUT_MAX 16384

static void
one(const uint8_t *data, size_t size, const char *name)
{
	struct inventory inv = { 0 };
	struct host_set out;
	char err[512];
	int r;

	err[0] = '\0';
	r = inventory_parse((const char *)data, size, name, 0, &inv, err,
	    sizeof(err));
	if (r != 0) {
		/* Left empty, with a reason. */
		if (inv.ngroups != 0 || inv.all.n != 0 || err[0] == '\0')
			abort();
		return;
	}
	host_set_init(&out);
	if (inventory_select(&inv, "all", &out, err, sizeof(err)) != 0)
		abort();
	if (inv.ngroups > 0)
		(void)inventory_select(&inv, inv.groups[inv.ngroups - 1].name,
		    &out, err, sizeof(err));
	host_set_free(&out);
	inventory_free(&inv);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > INPUT_MAX)
		return 0;
	one(data, size, "fuzz.ini");
	one(data, size, "fuzz.yml");
	return 0;
}
