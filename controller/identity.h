/* The controller's SSH identity: `muster keys init` and loading a private
 * key safely (mode check, passphrase asked once). */
#ifndef MUSTER_IDENTITY_H
#define MUSTER_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

/* keys/ in the current directory unless MUSTER_KEYS_DIR says otherwise. */
const char *identity_default_dir(void);

/* Create an ed25519 pair at path and path.pub; refuses to overwrite. */
int identity_generate(const char *path, char *err, size_t errlen);

/*
 * Load a private key. Refuses a key that group or others can read. An
 * encrypted key takes its passphrase from MUSTER_KEY_PASSPHRASE or asks on
 * the terminal once. MERR_NOTFOUND when the file does not exist.
 */
int identity_load(const char *path, ssh_key *key, char *err, size_t errlen);

#endif
