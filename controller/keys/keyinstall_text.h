/*
 * authorized_keys as text, for `muster keys install` over SFTP
 * (keyinstall.c) and over exec (keyinstall_exec.c): whether a key is there,
 * and the file with one appended; a key line's fields and a host's
 * label for the report. No I/O.
 */
#ifndef MUSTER_KEYINSTALL_TEXT_H
#define MUSTER_KEYINSTALL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* authorized_keys larger than this is refused rather than rewritten. */
#define KEYINSTALL_FILE_MAX (1024 * 1024)

/*
 * Whether authorized_keys text holds the key "type b64", whatever options
 * precede it and whatever comment follows (the comparison OpenSSH makes).
 * Exposed for unit tests.
 */
bool keyinstall_has_key(const char *text, size_t len, const char *type,
    const char *b64);

/*
 * old with line appended as a line of its own (a newline is added first
 * when old does not end in one); a malloc'd buffer of *outlen bytes.
 */
int keyinstall_append(const char *old, size_t oldlen, const char *line,
    char **out, size_t *outlen);

/* "type b64 comment": its first two fields (type of 64, b64 of 8192
 * bytes at least), or MERR_INVAL. */
int keyinstall_key_fields(const char *line, char *type, size_t tlen, char *b64,
    size_t blen);

struct host_set;
/* A short label, as run shows hosts (malloc'd; NULL: out of memory). */
char *keyinstall_display_name(const struct host_set *hosts, size_t i);

#endif
