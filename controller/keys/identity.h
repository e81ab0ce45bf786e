/* The controller's SSH identity: `muster keys init` and loading a private
 * key safely (mode check, passphrase asked once). */
#ifndef MUSTER_IDENTITY_H
#define MUSTER_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

/* $MUSTER_KEYS_DIR, else $XDG_CONFIG_HOME/muster, else ~/.config/muster
 * (keys/ in the current directory only when HOME is not set either). */
const char *identity_default_dir(void);

/* Create an ed25519 pair at path and path.pub; refuses to overwrite. */
int identity_generate(const char *path, char *err, size_t errlen);

/*
 * Load a private key. Refuses a key that group or others can read. An
 * encrypted key takes its passphrase from MUSTER_KEY_PASSPHRASE or asks on
 * the terminal once. MERR_NOTFOUND when the file does not exist.
 */
int identity_load(const char *path, ssh_key *key, char *err, size_t errlen);

/*
 * A private key held in memory (PEM or OpenSSH form), for keys that come
 * from a secret store through MUSTER_IDENTITY_DATA or stdin and never touch
 * the disk. label names the source in messages and passphrase prompts.
 */
int identity_load_data(const char *data, const char *label, ssh_key *key,
    char *err, size_t errlen);
/* The same, reading fd to its end (at most 64 KiB); the copy read is wiped. */
int identity_load_fd(int fd, const char *label, ssh_key *key, char *err,
    size_t errlen);

/*
 * The authorized_keys line for key: "type base64 comment". The comment
 * comes from pub_path (the .pub next to the key) when that file exists and
 * holds the same key (MERR_INVAL when it holds another), else "muster".
 */
int identity_public_line(ssh_key key, const char *pub_path, char **line,
    char *err, size_t errlen);

#endif
