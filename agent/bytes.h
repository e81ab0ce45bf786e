/* Protobuf bytes fields as C strings, for argv and paths. */
#ifndef MUSTER_AGENT_BYTES_H
#define MUSTER_AGENT_BYTES_H

#include <protobuf-c/protobuf-c.h>

/*
 * A malloc'd NUL-terminated copy. A field with a NUL inside is refused
 * (*r = MERR_INVAL): cutting it off would run or open something other
 * than what was asked. *r = MERR_NOMEM when out of memory.
 */
char *bytes_cstr(const ProtobufCBinaryData *b, int *r);

/* Frees a NULL-terminated argv of such copies, and the array; NULL is
 * fine. */
void bytes_free_argv(char **argv);

#endif
