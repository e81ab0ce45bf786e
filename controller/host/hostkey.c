#include "hostkey.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "err.h"
#include "hostcert.h"
#include "khindex.h"

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
		snprintf(out, outlen, "%s %s",
		    ssh_key_type_to_char(ssh_key_type(key)), fp ? fp : "?");
	}
	ssh_string_free_char(fp);
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
}

/* The name the session's host goes by in known_hosts: "host" on port 22,
 * else "[host]:port". */
static int
kh_name(ssh_session s, char *name, size_t namelen)
{
	char *host = NULL;
	unsigned int port = 22;
	int n;

	if (ssh_options_get(s, SSH_OPTIONS_HOST, &host) != SSH_OK)
		return -1;
	ssh_options_get_port(s, &port);
	if (port == 22)
		n = snprintf(name, namelen, "%s", host);
	else
		n = snprintf(name, namelen, "[%s]:%u", host, port);
	ssh_string_free_char(host);
	return n < 0 || (size_t)n >= namelen ? -1 : 0;
}

/*
 * Append the host's line as ssh would: "NAME TYPE KEY", or with
 * HashKnownHosts yes "|1|salt|HMAC-SHA1(salt, NAME) TYPE KEY" (libssh
 * 0.10 writes names in the clear only). Appended and synced.
 */
static int
record(ssh_session s, const char *file, bool hash, char *err, size_t errlen)
{
	unsigned char salt[20], mac[EVP_MAX_MD_SIZE];
	char name[1100], salt64[64], mac64[64], line[4096], *b64 = NULL;
	unsigned int maclen = 0;
	ssh_key key = NULL;
	int n, r = MERR_SSH;

	if (kh_name(s, name, sizeof(name)) != 0 ||
	    ssh_get_server_publickey(s, &key) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		snprintf(err, errlen, "cannot record host key in %s: %s", file,
		    ssh_get_error(s));
		goto out;
	}
	if (!hash)
		n = snprintf(line, sizeof(line), "%s %s %s\n", name,
		    ssh_key_type_to_char(ssh_key_type(key)), b64);
	else if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    HMAC(EVP_sha1(), salt, sizeof(salt), (unsigned char *)name,
		strlen(name), mac, &maclen) == NULL) {
		snprintf(err, errlen, "cannot hash the host name for %s",
		    file);
		goto out;
	} else {
		EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
		EVP_EncodeBlock((unsigned char *)mac64, mac, (int)maclen);
		n = snprintf(line, sizeof(line), "|1|%s|%s %s %s\n", salt64,
		    mac64, ssh_key_type_to_char(ssh_key_type(key)), b64);
	}
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errlen, "host key too long for %s", file);
		goto out;
	}
	r = khindex_append(file, line, err, errlen);
out:
	ssh_string_free_char(b64);
	ssh_key_free(key);
	return r;
}

/* The host's answer from the index of its known_hosts files, the
 * session's user file then its global one. */
static int
lookup(ssh_session s, struct kh_verdict *v, char *err, size_t errlen)
{
	char name[1100], *user = NULL, *global = NULL;
	ssh_key key = NULL;
	int r;

	if (kh_name(s, name, sizeof(name)) != 0 ||
	    ssh_get_server_publickey(s, &key) != SSH_OK) {
		snprintf(err, errlen, "cannot check host key: %s",
		    ssh_get_error(s));
		return MERR_SSH;
	}
	if (ssh_options_get(s, SSH_OPTIONS_KNOWNHOSTS, &user) != SSH_OK)
		user = NULL;
	if (ssh_options_get(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, &global) !=
	    SSH_OK)
		global = NULL;
	r = khindex_lookup(user, global, name, key, v, err, errlen);
	ssh_string_free_char(user);
	ssh_string_free_char(global);
	ssh_key_free(key);
	return r;
}

static int
verdict(ssh_session s, const char *file, bool accept_new, bool hash, char *err,
    size_t errlen)
{
	struct kh_verdict v;
	char fp[160], shown[sizeof(v.file)];
	int r;

	if ((r = lookup(s, &v, err, errlen)) != 0) {
		/* A line for this host that does not parse: never "unknown",
		 * which --accept-new would record past it. */
		if (r == MERR_PARSE && v.line > 0)
			snprintf(err, errlen,
			    "known_hosts %s:%u: cannot parse the entry "
			    "for this host; nothing was run. Fix or remove it "
			    "(ssh-keygen -R HOST -f %s)",
			    v.file, v.line, v.file);
		return r;
	}
	switch (v.match) {
	case KH_OK: return 0;
	case KH_CHANGED:
		fingerprint(s, fp, sizeof(fp));
		snprintf(err, errlen,
		    "HOST KEY CHANGED: the host now "
		    "presents %s, which does not match %s:%u. Someone may be "
		    "intercepting the connection; nothing was run. If the "
		    "change is expected, remove the old entry (ssh-keygen -R "
		    "HOST -f %s)",
		    fp, v.file, v.line, v.file);
		return MERR_HOSTKEY_CHANGED;
	case KH_NONE:
	default: break;
	}
	fingerprint(s, fp, sizeof(fp));
	/* A relay's in-memory lines go by the controller's file name. */
	khindex_shown(file, shown, sizeof(shown));
	/* Pinning a plain key would undo the CA's say over the host,
	 * --accept-new or not. */
	if (hostcert_covers(s) == 1) {
		snprintf(err, errlen,
		    "%s trusts a @cert-authority for "
		    "this host, and libssh 0.10 cannot negotiate "
		    "certificate host keys, so muster cannot check the "
		    "host's certificate; nothing was run. The host "
		    "presents the plain key %s: after checking it "
		    "against the host's certificate (ssh-keygen -L -f "
		    "CERT on the host), add a line for it to %s; "
		    "--accept-new will not pin it",
		    shown, fp, shown);
		return MERR_HOSTKEY_UNKNOWN;
	}
	if (accept_new)
		return record(s, file, hash, err, errlen);
	snprintf(err, errlen,
	    "unknown host key %s (not in %s); "
	    "verify it, then rerun with --accept-new to record it",
	    fp, shown);
	return MERR_HOSTKEY_UNKNOWN;
}

int
hostkey_verify(ssh_session s, const char *kh, bool accept_new, bool hash,
    char *err, size_t errlen)
{
	char *resolved = NULL;
	const char *file = kh ? kh : "~/.ssh/known_hosts";
	int r;

	/* Name the file libssh would use: -F may have chosen it. */
	if (ssh_options_get(s, SSH_OPTIONS_KNOWNHOSTS, &resolved) == SSH_OK &&
	    resolved != NULL)
		file = resolved;
	r = verdict(s, file, accept_new, hash, err, errlen);
	ssh_string_free_char(resolved);
	return r;
}

void
hostkey_prefer_known(ssh_session s, const char *kh)
{
	char name[1100], algs[512];

	if (kh != NULL && kh_name(s, name, sizeof(name)) == 0 &&
	    khindex_memory_algs(kh, name, algs, sizeof(algs)) == 1)
		ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, algs);
}
