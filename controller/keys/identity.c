#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "askpass.h"
#include "err.h"

/* A private key in PEM or OpenSSH form is a few KiB at most (RSA 16384
 * is about 12 KiB); anything far larger is not a key. */
#define KEY_DATA_MAX (64 * 1024)

const char *
identity_default_dir(void)
{
	static char dir[4096];
	const char *d = getenv("MUSTER_KEYS_DIR");
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (d != NULL && *d != '\0')
		return d;
	/* The user's, not the current directory's: a key must not change
	 * with where the command is typed. */
	if (xdg != NULL && xdg[0] == '/')
		snprintf(dir, sizeof(dir), "%s/muster", xdg);
	else if (home != NULL && *home != '\0')
		snprintf(dir, sizeof(dir), "%s/.config/muster", home);
	else
		return "keys";
	return dir;
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
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) <
	    0) {
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
identity_ask_passphrase(const char *prompt, char *buf, size_t len, int echo,
    int verify, void *userdata)
{
	const char *env = getenv("MUSTER_KEY_PASSPHRASE");
	const char *label = userdata;
	char p[512];

	if (env != NULL) {
		if (strlen(env) >= len)
			return -1;
		strcpy(buf, env);
		return 0;
	}
	/* Only an interactive session is asked: a script without the
	 * variable fails at once instead of waiting for a typist. The
	 * answer still comes from /dev/tty, since stdin may carry the key
	 * itself (-k -). */
	if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO))
		return -1;
	snprintf(p, sizeof(p), "Passphrase for %s: ", label);
	return askpass_tty(p, buf, len) == 0 ? 0 : -1;
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
		snprintf(err, errlen,
		    "private key %s is accessible by others "
		    "(mode %04o); refusing it. Fix with: chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		return MERR_INVAL;
	}
	if (ssh_pki_import_privkey_file(path, NULL, identity_ask_passphrase,
		(void *)path, key) != SSH_OK) {
		snprintf(err, errlen,
		    "cannot load private key %s (wrong "
		    "passphrase, or not a key)",
		    path);
		return MERR_SSH;
	}
	return 0;
}

int
identity_load_data(const char *data, const char *label, ssh_key *key,
    char *err, size_t errlen)
{
	*key = NULL;
	if (ssh_pki_import_privkey_base64(data, NULL, identity_ask_passphrase,
		(void *)label, key) != SSH_OK) {
		snprintf(err, errlen,
		    "cannot load the private key from %s "
		    "(wrong passphrase, or not a key in PEM or OpenSSH form)",
		    label);
		return MERR_SSH;
	}
	return 0;
}

int
identity_load_fd(int fd, const char *label, ssh_key *key, char *err,
    size_t errlen)
{
	char *data;
	size_t n = 0;
	ssize_t got;
	int r;

	*key = NULL;
	if ((data = malloc(KEY_DATA_MAX + 1)) == NULL)
		return MERR_NOMEM;
	while (n <= KEY_DATA_MAX) {
		got = read(fd, data + n, KEY_DATA_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen,
			    "cannot read the private key "
			    "from %s: %s",
			    label, strerror(errno));
			r = MERR_SYS;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > KEY_DATA_MAX) {
		snprintf(err, errlen,
		    "%s: more than %d bytes; not a private "
		    "key",
		    label, KEY_DATA_MAX);
		r = MERR_LIMIT;
		goto out;
	}
	data[n] = '\0';
	r = identity_load_data(data, label, key, err, errlen);
out:
	/* The key never reaches the disk; do not leave it in freed memory
	 * either. */
	explicit_bzero(data, KEY_DATA_MAX + 1);
	free(data);
	return r;
}

int
identity_public_line(ssh_key key, const char *pub_path, char **line, char *err,
    size_t errlen)
{
	ssh_key pub = NULL, file_key = NULL;
	char *b64 = NULL, text[8192], *comment = NULL, *p;
	const char *type;
	FILE *f;
	int r = MERR_SSH;

	*line = NULL;
	if (ssh_pki_export_privkey_to_pubkey(key, &pub) != SSH_OK ||
	    ssh_pki_export_pubkey_base64(pub, &b64) != SSH_OK ||
	    (type = ssh_key_type_to_char(ssh_key_type(pub))) == NULL) {
		snprintf(err, errlen, "cannot derive the public key");
		goto out;
	}
	/* The .pub file, when there is one, only lends its comment, and
	 * only when it holds the same key: a stale .pub must not be
	 * installed in place of the key we log in with. */
	if (pub_path != NULL && (f = fopen(pub_path, "re")) != NULL) {
		if (fgets(text, sizeof(text), f) != NULL) {
			text[strcspn(text, "\r\n")] = '\0';
			if (ssh_pki_import_pubkey_file(pub_path, &file_key) ==
				SSH_OK &&
			    ssh_key_cmp(file_key, pub, SSH_KEY_CMP_PUBLIC) !=
				0) {
				fclose(f);
				snprintf(err, errlen,
				    "%s does not match its "
				    "private key",
				    pub_path);
				r = MERR_INVAL;
				goto out;
			}
			/* "type base64 comment...": the comment is the
			 * rest after the second field. */
			if ((p = strchr(text, ' ')) != NULL &&
			    (p = strchr(p + 1, ' ')) != NULL) {
				p += strspn(p, " ");
				if (*p != '\0')
					comment = p;
			}
		}
		fclose(f);
	}
	if (asprintf(line, "%s %s %s", type, b64,
		comment ? comment : "muster") < 0) {
		*line = NULL;
		r = MERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	ssh_key_free(file_key);
	ssh_key_free(pub);
	ssh_string_free_char(b64);
	return r;
}
