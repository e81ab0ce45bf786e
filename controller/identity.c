#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

const char *
identity_default_dir(void)
{
	const char *d = getenv("MUSTER_KEYS_DIR");

	return d != NULL && *d != '\0' ? d : "keys";
}

int
identity_generate(const char *path, char *err, size_t errlen)
{
	ssh_key key = NULL;
	char pub[4096];
	mode_t old;
	int r = MERR_SSH, fd;

	snprintf(pub, sizeof(pub), "%s.pub", path);
	if (access(path, F_OK) == 0 || access(pub, F_OK) == 0) {
		snprintf(err, errlen, "%s already exists; not overwriting it",
		    path);
		return MERR_EXISTS;
	}
	if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK) {
		snprintf(err, errlen, "cannot generate an ed25519 key");
		return MERR_SSH;
	}
	/* Create the file 0600 ourselves so the key never exists with a
	 * wider mode, whatever libssh's defaults are. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
	    0600)) < 0) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		r = MERR_SYS;
		goto out;
	}
	close(fd);
	old = umask(077);
	if (ssh_pki_export_privkey_file(key, NULL, NULL, NULL, path) !=
	    SSH_OK) {
		umask(old);
		unlink(path);
		snprintf(err, errlen, "cannot write %s", path);
		goto out;
	}
	umask(old);
	if (chmod(path, 0600) != 0 ||
	    ssh_pki_export_pubkey_file(key, pub) != SSH_OK) {
		unlink(path);
		unlink(pub);
		snprintf(err, errlen, "cannot write %s", pub);
		goto out;
	}
	r = 0;
 out:
	ssh_key_free(key);
	return r;
}

/* libssh asks through this when the key is encrypted. */
static int
ask_passphrase(const char *prompt, char *buf, size_t len, int echo,
    int verify, void *userdata)
{
	const char *env = getenv("MUSTER_KEY_PASSPHRASE");
	const char *path = userdata;
	char p[512];

	if (env != NULL) {
		if (strlen(env) >= len)
			return -1;
		strcpy(buf, env);
		return 0;
	}
	if (!isatty(STDIN_FILENO))
		return -1;
	snprintf(p, sizeof(p), "Passphrase for %s: ", path);
	return ssh_getpass(p, buf, len, 0, 0);
}

int
identity_load(const char *path, ssh_key *key, char *err, size_t errlen)
{
	struct stat st;

	*key = NULL;
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? MERR_NOTFOUND : MERR_SYS;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "private key %s is accessible by others "
		    "(mode %04o); refusing it. Fix with: chmod 600 %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		return MERR_INVAL;
	}
	if (ssh_pki_import_privkey_file(path, NULL, ask_passphrase,
	    (void *)path, key) != SSH_OK) {
		snprintf(err, errlen, "cannot load private key %s (wrong "
		    "passphrase, or not a key)", path);
		return MERR_SSH;
	}
	return 0;
}
