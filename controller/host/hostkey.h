/* Host key verification against OpenSSH known_hosts files, with
 * accept-new semantics: unknown keys are recorded only when asked, changed
 * keys are always refused. */
#ifndef MUSTER_HOSTKEY_H
#define MUSTER_HOSTKEY_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

/* 0 when the key is known (or was recorded because accept_new is set);
 * MERR_HOSTKEY_UNKNOWN / MERR_HOSTKEY_CHANGED / MERR_SSH with a message.
 * A known_hosts libssh would not read whole (sshfile_check) gives that
 * check's error, an entry for the host it cannot parse MERR_PARSE: never
 * "unknown". Messages name the file libssh resolved, else kh. hash
 * (ssh_config HashKnownHosts yes) records the name hashed, as ssh does. */
int hostkey_verify(ssh_session s, const char *known_hosts_file,
    bool accept_new, bool hash, char *err, size_t errlen);

/*
 * libssh asks a host for the key types its known_hosts file holds for it,
 * reading the file; for khindex_memory's lines (the relay: kh names no
 * file) this offers the types those lines hold instead. Anything else:
 * nothing changes.
 */
void hostkey_prefer_known(ssh_session s, const char *kh);

#endif
