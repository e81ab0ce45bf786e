/*
 * The keys a direct SSH session offers before (or, with IdentitiesOnly,
 * instead of) libssh's automatic ssh-agent and default identities: the
 * -k key, user certificates (KEY-cert.pub beside a key, CertificateFile in
 * ssh_config), and with IdentitiesOnly the configured IdentityFiles. libssh
 * 0.10 reads none of CertificateFile, IdentitiesOnly or the -cert.pub
 * beside a key, so the list is made here, once per host, in OpenSSH's
 * order: each key's certificate first, then the key itself.
 */
#ifndef MUSTER_AUTHKEYS_H
#define MUSTER_AUTHKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

#include "sshcfg.h"

#define AUTHKEYS_MAX 64

struct authkeys {
	ssh_key key[AUTHKEYS_MAX];
	char *label[AUTHKEYS_MAX]; /* "PATH" or "PATH (certificate)" */
	size_t n;
	/* IdentitiesOnly yes: the list is all; no ssh-agent, no defaults. */
	bool only;
	/* What was offered or skipped and why, for the "no key accepted"
	 * message. */
	char tried[1024];
};

/*
 * Fill ak. identity and identity_path are the -k key (may be NULL; a path
 * starting with '(' is not a file); passphrase decrypts configured keys.
 * 0, or MERR_NOMEM / MERR_INVAL with the reason in err (a certificate that
 * does not parse, one that fits none of the keys).
 */
int authkeys_build(struct authkeys *ak, ssh_key identity,
    const char *identity_path, const struct sshcfg *cfg,
    const char *passphrase, char *err, size_t errlen);
void authkeys_free(struct authkeys *ak);

#endif
