#include "hostkey.h"

#include <stdio.h>
#include <stdlib.h>

#include "err.h"

static void
fingerprint(ssh_session s, char *out, size_t outlen)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp = NULL;

	snprintf(out, outlen, "(no key)");
	if (ssh_get_server_publickey(s, &key) != SSH_OK)
		return;
	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash,
	    &hlen) == 0) {
		fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash,
		    hlen);
		snprintf(out, outlen, "%s %s", ssh_key_type_to_char(
		    ssh_key_type(key)), fp ? fp : "?");
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
}

int
hostkey_verify(ssh_session s, const char *kh, bool accept_new, char *err,
    size_t errlen)
{
	enum ssh_known_hosts_e state = ssh_session_is_known_server(s);
	char fp[160];
	const char *file = kh ? kh : "~/.ssh/known_hosts";

	switch (state) {
	case SSH_KNOWN_HOSTS_OK:
		return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		fingerprint(s, fp, sizeof(fp));
		snprintf(err, errlen, "HOST KEY CHANGED: the host now "
		    "presents %s, which does not match %s. Someone may be "
		    "intercepting the connection; nothing was run. If the "
		    "change is expected, remove the old entry (ssh-keygen -R "
		    "HOST -f %s)", fp, file, file);
		return MERR_HOSTKEY_CHANGED;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		fingerprint(s, fp, sizeof(fp));
		if (accept_new) {
			if (ssh_session_update_known_hosts(s) != SSH_OK) {
				snprintf(err, errlen, "cannot record host key "
				    "in %s: %s", file, ssh_get_error(s));
				return MERR_SSH;
			}
			return 0;
		}
		snprintf(err, errlen, "unknown host key %s (not in %s); "
		    "verify it, then rerun with --accept-new to record it",
		    fp, file);
		return MERR_HOSTKEY_UNKNOWN;
	case SSH_KNOWN_HOSTS_ERROR:
	default:
		snprintf(err, errlen, "cannot check host key: %s",
		    ssh_get_error(s));
		return MERR_SSH;
	}
}
