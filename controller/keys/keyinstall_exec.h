/*
 * `muster keys install` on a host that offers no SFTP subsystem: the same
 * compare, write a temporary file, fsync, rename, done with two fixed
 * POSIX sh scripts over exec channels, one channel at a time (a server with
 * MaxSessions 1 allows no more).
 *
 * Nothing from the host, the inventory or the key reaches a command line:
 * the scripts hold only our own fixed names, numbers we computed, and a hex
 * suffix. The new file's bytes go over the channel's stdin, and the script
 * checks their POSIX cksum before anything is renamed, so a transfer cut
 * short never replaces the file. The old file is read back with its cksum,
 * and compared again just before the rename: a change in between makes
 * the caller start over instead of dropping someone's edit.
 *
 * Blocking (worker thread), on a session already authenticated.
 */
#ifndef MUSTER_KEYINSTALL_EXEC_H
#define MUSTER_KEYINSTALL_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

enum kix_result {
	KIX_INSTALLED,
	KIX_PRESENT,
	KIX_FAILED, /* err says why */
};

/*
 * Adds line ("type b64 comment") to ~/.ssh/authorized_keys unless the key
 * "type b64" is there already. tmpname is the temporary file's name under
 * the home directory (our own, [A-Za-z0-9._/-] only).
 */
enum kix_result keyinstall_exec(ssh_session session, const char *line,
    const char *type, const char *b64, const char *tmpname, char *err,
    size_t errlen);

/* POSIX cksum(1) of data: the CRC it prints. Exposed for unit tests. */
uint32_t keyinstall_cksum(const char *data, size_t len);

/* "-rw-r--r--" (ls -l) to 0644; -1 when it is not such a string. */
int keyinstall_parse_mode(const char *perm);

#endif
