/* The keys and certificates a session offers; see authkeys.h. */
#include "authkeys.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

struct authkeys_src {
	ssh_key key;
	const char *path; /* NULL: not from a file */
	bool offer;	  /* offered plain, not only under a certificate */
};

struct authkeys_cert {
	ssh_key cert;
	char *path;
	bool paired;
};

static void
tried_add(struct authkeys *ak, const char *what)
{
	size_t n = strlen(ak->tried);

	snprintf(ak->tried + n, sizeof(ak->tried) - n, "%s%s",
	    n > 0 ? ", " : "", what);
}

static int
push(struct authkeys *ak, ssh_key key, const char *label)
{
	if (ak->n >= AUTHKEYS_MAX) {
		ssh_key_free(key);
		return MERR_LIMIT;
	}
	if ((ak->label[ak->n] = strdup(label)) == NULL) {
		ssh_key_free(key);
		return MERR_NOMEM;
	}
	ak->key[ak->n++] = key;
	return 0;
}

/* A second copy of a private key: libssh ties a certificate to the key
 * object, and the plain key is offered too. */
static ssh_key
dup_private(ssh_key key)
{
	char *b64 = NULL;
	ssh_key out = NULL;

	if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &b64) !=
	    SSH_OK)
		return NULL;
	if (ssh_pki_import_privkey_base64(b64, NULL, NULL, NULL, &out) !=
	    SSH_OK)
		out = NULL;
	explicit_bzero(b64, strlen(b64));
	ssh_string_free_char(b64);
	return out;
}

/* A configured key file; NULL (noted in tried) when it cannot be used. */
static ssh_key
load_file(struct authkeys *ak, const char *path, const char *passphrase)
{
	ssh_key key = NULL;
	char note[600];

	if (access(path, F_OK) != 0)
		return NULL;
	if (ssh_pki_import_privkey_file(path, passphrase, NULL, NULL, &key) ==
	    SSH_OK)
		return key;
	snprintf(note, sizeof(note),
	    "%s (cannot load it: encrypted without "
	    "MUSTER_KEY_PASSPHRASE, or unreadable)",
	    path);
	tried_add(ak, note);
	return NULL;
}

static bool
is_cert(ssh_key key)
{
	switch (ssh_key_type(key)) {
	case SSH_KEYTYPE_DSS_CERT01:
	case SSH_KEYTYPE_RSA_CERT01:
	case SSH_KEYTYPE_ECDSA_P256_CERT01:
	case SSH_KEYTYPE_ECDSA_P384_CERT01:
	case SSH_KEYTYPE_ECDSA_P521_CERT01:
	case SSH_KEYTYPE_ED25519_CERT01:
	case SSH_KEYTYPE_SK_ECDSA_CERT01:
	case SSH_KEYTYPE_SK_ED25519_CERT01: return true;
	default: return false;
	}
}

static int
load_cert(struct authkeys_cert *c, const char *path, bool must, char *err,
    size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (!must && access(path, F_OK) != 0)
		return MERR_NOTFOUND;
	/* libssh takes a plain public key here too. The analyzer loses
	 * the -k key authkeys_load keeps in its src[] array (freed there on
	 * every path) when it enters libssh here.
	 * NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	if (ssh_pki_import_cert_file(path, &c->cert) != SSH_OK ||
	    !is_cert(c->cert)) {
		ssh_key_free(c->cert);
		c->cert = NULL;
		snprintf(err, errlen,
		    "certificate %s: cannot read it as an "
		    "OpenSSH certificate",
		    path);
		return MERR_INVAL;
	}
	if ((c->path = strdup(path)) == NULL) {
		ssh_key_free(c->cert);
		c->cert = NULL;
		return MERR_NOMEM;
	}
	return 0;
}

static int
add_certs_for(struct authkeys *ak, struct authkeys_src *s,
    struct authkeys_cert *certs, size_t ncert)
{
	ssh_key k;
	size_t i;
	int r;

	for (i = 0; i < ncert; i++) {
		if (certs[i].paired || (k = dup_private(s->key)) == NULL)
			continue;
		/* libssh refuses a certificate for another key here. */
		if (ssh_pki_copy_cert_to_privkey(certs[i].cert, k) != SSH_OK) {
			ssh_key_free(k);
			continue;
		}
		certs[i].paired = true;
		if ((r = push(ak, k, certs[i].path)) != 0)
			return r;
	}
	return 0;
}

static int
build(struct authkeys *ak, struct authkeys_src *src, size_t nsrc,
    struct authkeys_cert *certs, size_t ncert)
{
	char note[600];
	size_t i;
	int r;

	for (i = 0; i < nsrc; i++) {
		if ((r = add_certs_for(ak, &src[i], certs, ncert)) != 0)
			return r;
		if (!src[i].offer)
			continue;
		if ((r = push(ak, src[i].key,
			 src[i].path ? src[i].path : "the -k key")) != 0) {
			src[i].key = NULL;
			return r;
		}
		src[i].key = NULL; /* ak owns it now */
	}
	for (i = 0; i < ncert; i++)
		if (!certs[i].paired) {
			snprintf(note, sizeof(note),
			    "%s (no private key for "
			    "it among -k and IdentityFile)",
			    certs[i].path);
			tried_add(ak, note);
		}
	return 0;
}

int
authkeys_build(struct authkeys *ak, ssh_key identity,
    const char *identity_path, const struct sshcfg *cfg,
    const char *passphrase, char *err, size_t errlen)
{
	static const char *const defaults[] = { "id_rsa", "id_ecdsa",
		"id_ecdsa_sk", "id_ed25519", "id_ed25519_sk" };
	struct authkeys_src src[SSHCFG_MAX_FILES + 8];
	struct authkeys_cert certs[2 * SSHCFG_MAX_FILES + 1];
	char path[1200], *home_paths[8];
	const char *const *files = (const char *const *)cfg->identity;
	size_t nsrc = 0, ncert = 0, nfiles = cfg->n_identity, i, nhome = 0;
	struct passwd *pw;
	int r = 0;

	memset(ak, 0, sizeof(*ak));
	ak->only = cfg->identities_only == 1;
	if (identity != NULL) {
		src[nsrc].key = dup_private(identity);
		if (src[nsrc].key == NULL) {
			snprintf(err, errlen, "cannot copy the -k key");
			return MERR_NOMEM;
		}
		src[nsrc].path = identity_path && identity_path[0] != '(' ?
		    identity_path :
		    NULL;
		src[nsrc++].offer = true;
	}
	/* IdentitiesOnly without IdentityFile: OpenSSH's default files,
	 * still without the ssh-agent. */
	if (ak->only && identity == NULL && nfiles == 0 &&
	    (pw = getpwuid(getuid())) != NULL) {
		for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
			snprintf(path, sizeof(path), "%s/.ssh/%s", pw->pw_dir,
			    defaults[i]);
			if ((home_paths[nhome] = strdup(path)) != NULL)
				nhome++;
		}
		files = (const char *const *)home_paths;
		nfiles = nhome;
	}
	for (i = 0; i < nfiles; i++) {
		if ((src[nsrc].key = load_file(ak, files[i], passphrase)) ==
		    NULL)
			continue;
		src[nsrc].path = files[i];
		/* Without IdentitiesOnly libssh offers the files itself. */
		src[nsrc++].offer = ak->only;
	}
	for (i = 0; r == 0 && i < nsrc; i++) {
		if (src[i].path == NULL)
			continue;
		snprintf(path, sizeof(path), "%s-cert.pub", src[i].path);
		r = load_cert(&certs[ncert], path, false, err, errlen);
		if (r == 0)
			ncert++;
		else if (r == MERR_NOTFOUND)
			r = 0;
	}
	for (i = 0; r == 0 && i < cfg->n_certificate; i++)
		if ((r = load_cert(&certs[ncert], cfg->certificate[i], true,
			 err, errlen)) == 0)
			ncert++;
	if (r == 0 && (r = build(ak, src, nsrc, certs, ncert)) != 0)
		snprintf(err, errlen, "more than %d keys and certificates",
		    AUTHKEYS_MAX);
	for (i = 0; i < nsrc; i++)
		ssh_key_free(src[i].key);
	for (i = 0; i < ncert; i++) {
		ssh_key_free(certs[i].cert);
		free(certs[i].path);
	}
	for (i = 0; i < nhome; i++)
		free(home_paths[i]);
	if (r != 0)
		authkeys_free(ak);
	return r;
}

void
authkeys_free(struct authkeys *ak)
{
	size_t i;

	for (i = 0; i < ak->n; i++) {
		ssh_key_free(ak->key[i]);
		free(ak->label[i]);
	}
	ak->n = 0;
}
