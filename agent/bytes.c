#include "bytes.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

char *
bytes_cstr(const ProtobufCBinaryData *b, int *r)
{
	char *s;

	if (b->len > 0 && memchr(b->data, '\0', b->len) != NULL) {
		*r = MERR_INVAL;
		return NULL;
	}
	if ((s = malloc(b->len + 1)) == NULL) {
		*r = MERR_NOMEM;
		return NULL;
	}
	if (b->len > 0)
		memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	return s;
}

void
bytes_free_argv(char **argv)
{
	char **a;

	if (argv == NULL)
		return;
	for (a = argv; *a != NULL; a++)
		free(*a);
	free(argv);
}
