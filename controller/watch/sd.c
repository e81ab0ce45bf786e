#include "sd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "inventory.h"

/* groups[i] gets ",g" appended for every group host i is in. */
static int
add_groups(const struct inventory *inv, const struct host_set *hosts,
    char **groups)
{
	struct host_set sel;
	char err[256], *g;
	size_t i, j, k;
	int r;

	for (i = 0; i < inv->ngroups; i++) {
		memset(&sel, 0, sizeof(sel));
		if ((r = inventory_select(inv, inv->groups[i].name, &sel, err,
			 sizeof(err))) != 0) {
			host_set_free(&sel);
			return r;
		}
		for (j = 0; j < sel.n; j++)
			for (k = 0; k < hosts->n; k++) {
				if (strcmp(sel.v[j].name, hosts->v[k].name) !=
				    0)
					continue;
				g = groups[k];
				if (asprintf(&groups[k], "%s%s,",
					g != NULL ? g : ",",
					inv->groups[i].name) == -1) {
					groups[k] = g;
					host_set_free(&sel);
					return MERR_NOMEM;
				}
				free(g);
			}
		host_set_free(&sel);
	}
	return 0;
}

int
sd_render(const char *inventory, const struct host_set *hosts,
    const char *const *names, struct buf *out, char *err, size_t errlen)
{
	struct inventory inv;
	json_t *arr = NULL, *o;
	char **groups, *text = NULL;
	size_t i;
	int r;

	memset(&inv, 0, sizeof(inv));
	if ((groups = calloc(hosts->n + 1, sizeof(*groups))) == NULL)
		return MERR_NOMEM;
	if (inventory != NULL) {
		if ((r = inventory_load(inventory, 0, &inv, err, errlen)) != 0)
			goto out;
		if ((r = add_groups(&inv, hosts, groups)) != 0)
			goto out;
	}
	r = MERR_NOMEM;
	if ((arr = json_array()) == NULL)
		goto out;
	for (i = 0; i < hosts->n; i++) {
		if ((o = json_pack("{s:[s],s:{s:s}}", "targets", names[i],
			 "labels", "muster_groups",
			 groups[i] != NULL ? groups[i] : "")) == NULL ||
		    json_array_append_new(arr, o) != 0)
			goto out;
	}
	if ((text = json_dumps(arr, JSON_COMPACT)) == NULL)
		goto out;
	buf_reset(out);
	r = buf_append(out, text, strlen(text));
out:
	free(text);
	json_decref(arr);
	for (i = 0; i < hosts->n; i++)
		free(groups[i]);
	free(groups);
	inventory_free(&inv);
	return r;
}
