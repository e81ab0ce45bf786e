/*
 * Host certificates: known_hosts "@cert-authority PATTERNS KEY" lines.
 * libssh 0.10 cannot use them: its client drops the certificate host key
 * algorithms from what it offers ("unsupported for now" in
 * ssh_client_select_hostkeys), so a host never presents its certificate,
 * and its known_hosts reader skips the line. What muster can do is know
 * that such a line covers a host, so that the host's plain key is never
 * pinned behind the CA's back and the message says why the host cannot be
 * verified. @revoked lines are refused file-wide by sshfile_check.
 */
#ifndef MUSTER_HOSTCERT_H
#define MUSTER_HOSTCERT_H

#include <stdbool.h>

#include <libssh/libssh.h>

/*
 * 1 when a @cert-authority line of the session's known_hosts files (the
 * user's, then the global one) covers its host ("[host]:port" off port
 * 22; plain, wildcard, negated and hashed patterns), else 0.
 */
int hostcert_covers(ssh_session s);

/* OpenSSH's host pattern list (a known_hosts line's first field,
 * cut up in place): a match for name, and no negated match. */
bool hostcert_patterns_match(char *list, const char *name);

#endif
