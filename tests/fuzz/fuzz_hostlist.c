/*
 * hostlist_expand on any -w text, then the round trip the README promises:
 * folding the expanded names and expanding the fold gives the same names.
 * Inventories and ssh_config host names reach the same parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "hostlist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Ranges can expand to HOSTLIST_MAX hosts; keep inputs that small so a
 * run spends its time on parsing, not on 100 000 strdups per input. */
#define INPUT_MAX 4096

static int
same_names(const struct host_set *a, const struct host_set *b)
{
	size_t i, j;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		for (j = 0; j < b->n; j++)
			if (strcmp(a->v[i].name, b->v[j].name) == 0)
				break;
		if (j == b->n)
			return 0;
	}
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_set set, names, again;
	const char **v;
	char *text, *fold, err[512];
	uint64_t count;
	size_t i;
	int r, rc;

	if (size > INPUT_MAX)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	host_set_init(&set);
	err[0] = '\0';
	r = hostlist_expand(text, &set, err, sizeof(err));
	if (r != 0 && (set.n != 0 || err[0] == '\0'))
		abort(); /* on error: nothing added, and a message */
	/* Counting agrees with making: the same verdict on the syntax, and
	 * at least as many names as were made (duplicates drop out). */
	rc = hostlist_count(text, &count, err, sizeof(err));
	if (r == 0 && (rc != 0 || count < set.n || count > HOSTLIST_MAX))
		abort();
	/* "@group" without an inventory: counting cannot know (the
	 * inventory counts its own hosts), making refuses it. */
	if (r == MERR_PARSE && rc != MERR_PARSE && strchr(text, '@') == NULL)
		abort();
	if (r == MERR_LIMIT && rc == 0 && count <= HOSTLIST_MAX)
		abort();
	if (r == 0 && set.n > 0 && set.n <= 2000) {
		/* fold works on names alone: user and port are not part of
		 * it, and duplicates fold once. */
		host_set_init(&names);
		for (i = 0; i < set.n; i++)
			if (host_set_add(&names, set.v[i].name, NULL, 0) != 0)
				abort();
		if ((v = calloc(names.n, sizeof(*v))) == NULL)
			abort();
		for (i = 0; i < names.n; i++)
			v[i] = names.v[i].name;
		if ((fold = hostlist_fold(v, names.n)) == NULL)
			abort();
		host_set_init(&again);
		/* Names with ',', '[' or blanks do not survive a fold; only
		 * check names that the expression syntax can carry. */
		if (strpbrk(fold, " \t@") == NULL &&
		    hostlist_expand(fold, &again, err, sizeof(err)) == 0 &&
		    !same_names(&names, &again))
			abort();
		host_set_free(&again);
		free(fold);
		free(v);
		host_set_free(&names);
	}
	host_set_free(&set);
	free(text);
	return 0;
}
