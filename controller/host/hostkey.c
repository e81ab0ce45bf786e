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
#include "sshfile.h"

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

/*
 * libssh answers "unknown" for a host in a known_hosts it could not read
 * whole (see sshfile.h): with --accept-new that would run on, and record,
 * a host whose recorded key differs. So the files it reads are checked
 * first, by the paths it resolved (from --known-hosts, ssh_config or the
 * default), and one it would read short is an error for every host.
 */
static int
check_files(ssh_session s, char *err, size_t errlen)
{
	enum ssh_options_e which[] = { SSH_OPTIONS_KNOWNHOSTS,
		SSH_OPTIONS_GLOBAL_KNOWNHOSTS };
	char *path;
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(which) / sizeof(which[0]); i++) {
		path = NULL;
		if (ssh_options_get(s, which[i], &path) != SSH_OK ||
		    path == NULL)
			continue;
		r = sshfile_check("known_hosts", path, SSHFILE_KNOWN_HOSTS,
		    err, errlen);
		ssh_string_free_char(path);
	}
	return r;
}

/*
 * libssh 0.10 also answers "unknown" when a line for this host does not
 * parse (a key type it does not know, a damaged key): its reader fails and
 * the lookup takes that as no entry. Its has-entry call reports that
 * failure, and any entry at all means the host is not new.
 */
static int
check_really_unknown(ssh_session s, const char *file, const char *fp,
    char *err, size_t errlen)
{
	switch (ssh_session_has_known_hosts_entry(s)) {
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND: return 0;
	case SSH_KNOWN_HOSTS_OK:
		snprintf(err, errlen,
		    "HOST KEY CHANGED: the host presents "
		    "%s, and %s holds an entry for it that libssh could not "
		    "match; nothing was run. Check the entry (ssh-keygen -F "
		    "HOST -f %s)",
		    fp, file, file);
		return MERR_HOSTKEY_CHANGED;
	default:
		snprintf(err, errlen,
		    "known_hosts %s: cannot parse the entry "
		    "for this host; nothing was run. Fix or remove it "
		    "(ssh-keygen -R HOST -f %s)",
		    file, file);
		return MERR_PARSE;
	}
}

/*
 * HashKnownHosts yes: "|1|salt|HMAC-SHA1(salt, name) type key", the form
 * ssh writes; libssh 0.10 writes names in the clear only. Appended and
 * synced, as ssh appends.
 */
static int
record_hashed(ssh_session s, const char *file, char *err, size_t errlen)
{
	unsigned char salt[20], mac[EVP_MAX_MD_SIZE];
	char name[1100], salt64[64], mac64[64], line[4096], *host = NULL;
	char *b64 = NULL;
	unsigned int maclen = 0, port = 22;
	ssh_key key = NULL;
	int fd, n, r = MERR_SSH;

	if (ssh_options_get(s, SSH_OPTIONS_HOST, &host) != SSH_OK ||
	    ssh_get_server_publickey(s, &key) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
		snprintf(err, errlen, "cannot record host key in %s: %s", file,
		    ssh_get_error(s));
		goto out;
	}
	ssh_options_get_port(s, &port);
	if (port == 22)
		snprintf(name, sizeof(name), "%s", host);
	else
		snprintf(name, sizeof(name), "[%s]:%u", host, port);
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    HMAC(EVP_sha1(), salt, sizeof(salt), (unsigned char *)name,
		strlen(name), mac, &maclen) == NULL) {
		snprintf(err, errlen, "cannot hash the host name for %s",
		    file);
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)mac64, mac, (int)maclen);
	n = snprintf(line, sizeof(line), "|1|%s|%s %s %s\n", salt64, mac64,
	    ssh_key_type_to_char(ssh_key_type(key)), b64);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		snprintf(err, errlen, "host key too long for %s", file);
		goto out;
	}
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		 0600)) < 0 ||
	    write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot record host key in %s: %m",
		    file);
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	r = 0;
out:
	ssh_string_free_char(host);
	ssh_string_free_char(b64);
	ssh_key_free(key);
	return r;
}

static int
verdict(ssh_session s, const char *file, bool accept_new, bool hash, bool ca,
    char *err, size_t errlen)
{
	enum ssh_known_hosts_e state;
	char fp[160];
	int r;

	state = ssh_session_is_known_server(s);
	switch (state) {
	case SSH_KNOWN_HOSTS_OK: return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		fingerprint(s, fp, sizeof(fp));
		snprintf(err, errlen,
		    "HOST KEY CHANGED: the host now "
		    "presents %s, which does not match %s. Someone may be "
		    "intercepting the connection; nothing was run. If the "
		    "change is expected, remove the old entry (ssh-keygen -R "
		    "HOST -f %s)",
		    fp, file, file);
		return MERR_HOSTKEY_CHANGED;
	case SSH_KNOWN_HOSTS_NOT_FOUND:
	case SSH_KNOWN_HOSTS_UNKNOWN:
		fingerprint(s, fp, sizeof(fp));
		if ((r = check_really_unknown(s, file, fp, err, errlen)) != 0)
			return r;
		/* Pinning a plain key would undo the CA's say over the host,
		 * --accept-new or not. */
		if (ca) {
			snprintf(err, errlen,
			    "%s trusts a @cert-authority for "
			    "this host, and libssh 0.10 cannot negotiate "
			    "certificate host keys, so muster cannot check the "
			    "host's certificate; nothing was run. The host "
			    "presents the plain key %s: after checking it "
			    "against the host's certificate (ssh-keygen -L -f "
			    "CERT on the host), add a line for it to %s; "
			    "--accept-new will not pin it",
			    file, fp, file);
			return MERR_HOSTKEY_UNKNOWN;
		}
		if (accept_new && hash)
			return record_hashed(s, file, err, errlen);
		if (accept_new) {
			if (ssh_session_update_known_hosts(s) != SSH_OK) {
				snprintf(err, errlen,
				    "cannot record host key "
				    "in %s: %s",
				    file, ssh_get_error(s));
				return MERR_SSH;
			}
			return 0;
		}
		snprintf(err, errlen,
		    "unknown host key %s (not in %s); "
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

int
hostkey_verify(ssh_session s, const char *kh, bool accept_new, bool hash,
    char *err, size_t errlen)
{
	char *resolved = NULL;
	const char *file = kh ? kh : "~/.ssh/known_hosts";
	int r;

	if ((r = check_files(s, err, errlen)) != 0)
		return r;
	/* Name the file libssh used: -F may have chosen it. */
	if (ssh_options_get(s, SSH_OPTIONS_KNOWNHOSTS, &resolved) == SSH_OK &&
	    resolved != NULL)
		file = resolved;
	r = verdict(s, file, accept_new, hash, hostcert_covers(s) == 1, err,
	    errlen);
	ssh_string_free_char(resolved);
	return r;
}
