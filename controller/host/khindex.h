/*
 * known_hosts files parsed once per version, looked up per host in
 * constant time.
 *
 * libssh's known_hosts lookup parses the whole file for every host, and
 * every host needs one: O(n) per host, O(n^2) per run (a quarter of the
 * controller's CPU at 5,000 hosts). Here a file is read once (with
 * sshfile_check's refusals: too large, a line too long, a NUL, @revoked)
 * into an index by host name, kept while its identity, size, mtime and
 * ctime stay the same, and read anew when any changes. Lines this module
 * appends itself (--accept-new) go into the index without a re-read.
 *
 * Matching is libssh 0.10's, which muster has always verified with: the
 * name is "host" (port 22) or "[host]:port", lowercased; a line's first
 * field (fields split at spaces) is either one hashed name "|1|salt|hmac"
 * or a comma list of names and * ? patterns, compared case-insensitively,
 * "[host]:22" matching on port 22 too; a negated name never matches; lines
 * with a @marker are skipped (hostcert.c reads @cert-authority, @revoked
 * is refused). Plain names are found by hash, patterns and hashed names by
 * a scan of those lines only (HMAC per hashed line: a file of hashed names
 * stays O(n) per host, as in OpenSSH). Thread-safe.
 */
#ifndef MUSTER_KHINDEX_H
#define MUSTER_KHINDEX_H

#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

enum kh_match {
	KH_NONE,    /* no line for the host */
	KH_OK,	    /* a line with this very key */
	KH_CHANGED, /* lines for the host, none with this key */
};

struct kh_verdict {
	enum kh_match match;
	/* KH_CHANGED: the line with the host's key type if any, else the
	 * first line for the host; KH_OK: the matching line. */
	char file[1024];
	unsigned line;
};

/*
 * Look the host NAME ("host" or "[host]:port", see above; lowercased
 * here) up with the key it presented, in the user's file then the global
 * one (either may be NULL; a missing file is empty). The user's answer
 * stands unless it is not KH_OK and the global file has lines for the
 * host (libssh's rule). 0 with *v; else sshfile_check's error for a file
 * that cannot be read whole, MERR_PARSE "known_hosts FILE:LINE: cannot
 * parse the entry for this host" for a line naming the host whose key
 * type or key does not parse, MERR_NOMEM, with the message in err.
 */
int khindex_lookup(const char *user, const char *global, const char *name,
    ssh_key key, struct kh_verdict *v, char *err, size_t errlen);

/*
 * Append LINE (one line, its newline included) to PATH (created 0600,
 * its directory 0700 if missing), synced, and add it to PATH's index.
 * 0, or MERR_IO with "cannot record host key in PATH: why" in err.
 */
int khindex_append(const char *path, const char *line, char *err,
    size_t errlen);

/*
 * Index TEXT (known_hosts lines) under NAME, held in memory only: a lookup
 * whose user or global file is NAME reads this index, never a file of
 * that name, and khindex_append refuses it (read-only). The relay checks
 * its hosts' keys against the controller's lines this way, so that no
 * copy of them lands on the gateway's disk. A second call replaces the
 * first. 0, MERR_NOMEM, or kh_add_line's error, with the message in err.
 * Verdicts name SHOWN (NULL: NAME) as the file and, when LINES has an
 * entry for it, LINES[i] as the number of TEXT's line i + 1: the lines'
 * place in the file they were taken from (the controller's known_hosts),
 * which is the one the operator fixes.
 */
int khindex_memory(const char *name, const char *text, const char *shown,
    const uint32_t *lines, size_t nlines, char *err, size_t errlen);

/* The name messages give PATH: khindex_memory's SHOWN when PATH is its
 * NAME, else PATH itself. */
void khindex_shown(const char *path, char *out, size_t outlen);

/*
 * When PATH is the khindex_memory index: the host key algorithms its lines
 * for NAME can verify, comma-separated in out, and 1. 0 (out empty) for
 * any other path or a host with no line. The relay offers only these, as
 * libssh does from a known_hosts file it reads, so that a host with keys
 * of several types presents the one the controller pinned.
 */
int khindex_memory_algs(const char *path, const char *name, char *out,
    size_t outlen);

/* Forget every index (tests; the next lookup reads the files again). */
void khindex_flush(void);

#endif
