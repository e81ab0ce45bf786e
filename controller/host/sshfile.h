/* Files we hand to libssh (known_hosts, ssh_config), checked first.
 *
 * libssh 0.10 (as Debian patches it, CVE-2026-0965) skips, without a
 * word, a file that is not regular or is over 16 MiB, and stops at the
 * first line it cannot hold: to it such a known_hosts holds nothing, or
 * only its first part, and every host in the rest is "unknown". It also
 * opens them blocking, so a FIFO stops the loop in open(). */
#ifndef MUSTER_SSHFILE_H
#define MUSTER_SSHFILE_H

#include <stddef.h>

/* libssh's SSH_MAX_CONFIG_FILE_SIZE: larger files are skipped. */
#define SSHFILE_MAX_SIZE (16 * 1024 * 1024)
/* Longest known_hosts line libssh reads whole: fgets() into 8192 bytes,
 * the newline and the NUL included. */
#define SSHFILE_MAX_LINE 8190

enum sshfile_kind {
	SSHFILE_CONFIG,	     /* opened, regular, within size */
	SSHFILE_KNOWN_HOSTS, /* ... and read whole: every line fits */
};

/*
 * 0 when libssh will read all of PATH: a regular file within the limits,
 * /dev/null, or no file at all (empty, as OpenSSH takes it). Never blocks
 * in open(). Otherwise MERR_IO (cannot open or read), MERR_INVAL (not a
 * regular file), MERR_LIMIT (too large, a line too long) or MERR_PARSE (a
 * NUL byte, a @revoked line), with "LABEL PATH: why" in err.
 */
int sshfile_check(const char *label, const char *path, enum sshfile_kind kind,
    char *err, size_t errlen);

/* The user's own ~/.ssh/NAME as libssh finds it (the passwd entry's home,
 * not $HOME), in out; -1 when there is no home. */
int sshfile_user_path(const char *name, char *out, size_t outlen);

#endif
