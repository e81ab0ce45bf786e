#include "keyinstall.h"
#include "keyinstall_exec.h"
#include "keyroute.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>
#include <libssh/server.h> /* ssh_send_keepalive, for clients too */
#include <libssh/sftp.h>

#include "askpass.h"
#include "err.h"
#include "log.h"
#include "hostkey.h"
#include "output.h"
#include "sshcfg.h"
#include "status.h"
#include "workpool.h"

/* Blocking sessions each hold a thread; past this, hosts queue. */
#define MAX_WORKERS 64
/* Keyboard-interactive rounds before we give up on a chatty server. */
#define KBDINT_ROUNDS 8
/* Re-reads when authorized_keys changes under us between read and rename. */
#define WRITE_ATTEMPTS 3
#define SSH_DIR ".ssh"
#define AUTH_KEYS ".ssh/authorized_keys"

enum ki_status {
	KI_INSTALLED,
	KI_PRESENT,
	KI_NEED_PASSWORD, /* between the two jobs only */
	KI_FAILED,	  /* logged in, but could not write the file */
	KI_UNREACHABLE,
	KI_HOSTKEY,
	KI_AUTH,
};

struct ki_host {
	struct keyinstall *ki;
	const struct host_spec *spec;
	char *display;
	ssh_session session;
	struct keyroute route;
	ev_timer kick;	       /* the bastion's news, handled off its call */
	bool connecting;       /* the connect job was submitted */
	bool hash_known_hosts; /* ssh_config HashKnownHosts yes */
	int methods;	       /* SSH_AUTH_METHOD_* the server offered */
	enum ki_status status;
	char error[768];
	ev_tstamp t0;
};

struct keyinstall {
	const struct keyinstall_options *opts;
	struct ev_loop *loop;
	struct workpool *workers;
	/* The bastions' own: a worker blocked in a session through a
	 * bastion must never be what that bastion waits for. */
	struct workpool *hop_workers;
	struct conn_config hop; /* the bastions' settings */
	struct ki_host *hv;
	size_t nhosts, next, fanout;
	bool starting; /* in start_more */
	/* libssh appends to known_hosts without locking; one writer (and
	 * no reader mid-write) at a time. */
	pthread_mutex_t hostkey_lock;
	char *password;	     /* once known */
	bool password_asked; /* asked (or found there is nobody to ask) */
	size_t n_installed, n_present, n_failed, n_unreachable;
	/* Hosts submitted and not yet reported: the loop runs until 0. */
	size_t pending;
	int exit_status;
};

static const char *
ki_status_str(enum ki_status st)
{
	switch (st) {
	case KI_INSTALLED: return "installed";
	case KI_PRESENT: return "present";
	case KI_NEED_PASSWORD: return "auth";
	case KI_FAILED: return "failed";
	case KI_UNREACHABLE: return "unreachable";
	case KI_HOSTKEY: return "hostkey";
	case KI_AUTH: return "auth";
	}
	return "unknown";
}

static void host_fail(struct ki_host *h, enum ki_status st, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static void
host_fail(struct ki_host *h, enum ki_status st, const char *fmt, ...)
{
	va_list ap;

	h->status = st;
	va_start(ap, fmt);
	vsnprintf(h->error, sizeof(h->error), fmt, ap);
	va_end(ap);
}

/* --- the session and its route -------------------------------------------- */

/*
 * The session's settings and its route, on the loop thread (a bastion
 * channel is the loop's to open). 0, or the host failed.
 */
static int
prepare_session(struct ki_host *h)
{
	const struct keyinstall_options *o = h->ki->opts;
	long secs = (long)o->connect_timeout;
	long usecs = (long)((o->connect_timeout - (double)secs) * 1e6);
	int zero = 0, one = 1, r;
	char err[768], lhost[256], luser[128];
	unsigned lport;

	if ((h->session = ssh_new()) == NULL) {
		host_fail(h, KI_FAILED, "out of memory");
		return MERR_NOMEM;
	}
	ssh_options_set(h->session, SSH_OPTIONS_HOST, host_spec_addr(h->spec));
	if (ssh_options_parse_config(h->session, o->ssh_config) < 0) {
		host_fail(h, KI_UNREACHABLE,
		    "ssh configuration: cannot read %s",
		    o->ssh_config ? o->ssh_config : "~/.ssh/config");
		return MERR_PARSE;
	}
	ssh_options_set(h->session, SSH_OPTIONS_PROCESS_CONFIG, &zero);
	if ((r = keyroute_check(&h->route, h->session, &h->ki->hop, h->spec,
		 err, sizeof(err))) != 0) {
		host_fail(h, KI_UNREACHABLE, "%s", err);
		return r;
	}
	lport = sshcfg_libssh_dest(h->session, lhost, sizeof(lhost), luser,
	    sizeof(luser));
	if (h->spec->user != NULL)
		ssh_options_set(h->session, SSH_OPTIONS_USER, h->spec->user);
	if (h->spec->port != 0)
		ssh_options_set(h->session, SSH_OPTIONS_PORT, &h->spec->port);
	if ((r = keyroute_sshcfg(h->session, o->ssh_config, h->spec->name,
		 lhost, lport, luser, &h->hash_known_hosts, err,
		 sizeof(err))) != 0) {
		host_fail(h, KI_UNREACHABLE, "ssh configuration: %s", err);
		return r;
	}
	if (o->known_hosts != NULL)
		ssh_options_set(h->session, SSH_OPTIONS_KNOWNHOSTS,
		    o->known_hosts);
	/* libssh applies this to connect() and to every blocking wait on
	 * the server, so a host that stops answering ends in time. */
	ssh_options_set(h->session, SSH_OPTIONS_TIMEOUT, &secs);
	ssh_options_set(h->session, SSH_OPTIONS_TIMEOUT_USEC, &usecs);
	ssh_options_set(h->session, SSH_OPTIONS_NODELAY, &one);
	return 0;
}

/* On the loop thread, once a job is back: a host whose route failed
 * under its session says what the route said (the bastion's reason, how
 * the ProxyCommand ended), not only "Socket error: disconnected". */
static void
explain_route(struct ki_host *h)
{
	char why[768];

	if (h->status == KI_UNREACHABLE &&
	    keyroute_explain(&h->route, h->error, why, sizeof(why)))
		host_fail(h, KI_UNREACHABLE, "%s", why);
}

/* Connect (over the route's socket when there is one) and verify the
 * host's key, end to end: a bastion only carries ciphertext. */
static int
open_session(struct ki_host *h)
{
	const struct keyinstall_options *o = h->ki->opts;
	char err[768];
	int r;

	ssh_set_blocking(h->session, 1);
	h->route.fd_adopted = h->route.fd >= 0;
	if (ssh_connect(h->session) != SSH_OK) {
		host_fail(h, KI_UNREACHABLE, "ssh: %s",
		    ssh_get_error(h->session));
		return MERR_CONNECT;
	}
	pthread_mutex_lock(&h->ki->hostkey_lock);
	r = hostkey_verify(h->session, o->known_hosts, o->accept_new,
	    h->hash_known_hosts, err, sizeof(err));
	pthread_mutex_unlock(&h->ki->hostkey_lock);
	if (r != 0) {
		host_fail(h, r == MERR_SSH ? KI_UNREACHABLE : KI_HOSTKEY, "%s",
		    err);
		return r;
	}
	return 0;
}

static void
close_session(struct ki_host *h)
{
	keyroute_close(&h->route, h->session);
	h->session = NULL;
}

static const char *
user_of(struct ki_host *h, char *buf, size_t len)
{
	char *u = NULL;

	if (ssh_options_get(h->session, SSH_OPTIONS_USER, &u) == SSH_OK) {
		snprintf(buf, len, "%s", u);
		ssh_string_free_char(u);
	} else
		snprintf(buf, len, "(default user)");
	return buf;
}

static int
auth_kbdint(struct ki_host *h, const char *password)
{
	int r, i, n, round;
	char echo;

	r = ssh_userauth_kbdint(h->session, NULL, NULL);
	for (round = 0; r == SSH_AUTH_INFO && round < KBDINT_ROUNDS; round++) {
		n = ssh_userauth_kbdint_getnprompts(h->session);
		for (i = 0; i < n; i++) {
			ssh_userauth_kbdint_getprompt(h->session, i, &echo);
			/* Only hidden prompts get the password; a visible
			 * one is not asking for a secret we know. */
			if (echo ||
			    ssh_userauth_kbdint_setanswer(h->session, i,
				password) < 0)
				return SSH_AUTH_DENIED;
		}
		r = ssh_userauth_kbdint(h->session, NULL, NULL);
	}
	return r == SSH_AUTH_INFO ? SSH_AUTH_DENIED : r;
}

/* --- SFTP steps ------------------------------------------------------------------ */

static void
sftp_failed(struct ki_host *h, sftp_session sftp, const char *what)
{
	host_fail(h, KI_FAILED, "%s: %s (sftp status %d)", what,
	    ssh_get_error(h->session), sftp_get_error(sftp));
}

/* ~/.ssh exists as a directory, made 0700 when we create it. */
static int
ensure_ssh_dir(struct ki_host *h, sftp_session sftp)
{
	sftp_attributes st;
	bool is_dir;

	if ((st = sftp_lstat(sftp, SSH_DIR)) != NULL) {
		is_dir = st->type == SSH_FILEXFER_TYPE_DIRECTORY;
		sftp_attributes_free(st);
		if (!is_dir) {
			host_fail(h, KI_FAILED,
			    "~/" SSH_DIR " is not a "
			    "directory; not touching it");
			return MERR_INVAL;
		}
		return 0;
	}
	if (sftp_get_error(sftp) != SSH_FX_NO_SUCH_FILE) {
		sftp_failed(h, sftp, "cannot stat ~/" SSH_DIR);
		return MERR_SSH;
	}
	/* chmod again: the server's umask applies to mkdir. */
	if (sftp_mkdir(sftp, SSH_DIR, 0700) != 0 ||
	    sftp_chmod(sftp, SSH_DIR, 0700) != 0) {
		sftp_failed(h, sftp, "cannot create ~/" SSH_DIR);
		return MERR_SSH;
	}
	return 0;
}

/* The current authorized_keys: its bytes, mode and a version stamp. */
struct keyfile {
	char *data;
	size_t len;
	bool exists;
	unsigned mode;
	uint64_t mtime, size;
};

static int
read_keyfile(struct ki_host *h, sftp_session sftp, struct keyfile *kf)
{
	sftp_attributes st;
	sftp_file f;
	ssize_t got;
	int type;

	memset(kf, 0, sizeof(*kf));
	kf->mode = 0600;
	if ((st = sftp_lstat(sftp, AUTH_KEYS)) == NULL) {
		if (sftp_get_error(sftp) == SSH_FX_NO_SUCH_FILE)
			return 0;
		sftp_failed(h, sftp, "cannot stat ~/" AUTH_KEYS);
		return MERR_SSH;
	}
	type = st->type;
	kf->exists = true;
	/* Keep the owner's choice of mode, but never with write access for
	 * others: sshd's StrictModes would then ignore the file. */
	kf->mode = (st->permissions & 0755) & ~022u;
	kf->mtime = st->mtime64 ? st->mtime64 : st->mtime;
	kf->size = st->size;
	sftp_attributes_free(st);
	if (type == SSH_FILEXFER_TYPE_SYMLINK) {
		/* Renaming over it would replace the link, not the file it
		 * names, which someone set up on purpose. */
		host_fail(h, KI_FAILED,
		    "~/" AUTH_KEYS " is a symbolic link; "
		    "not replacing it (add the key to its target by hand)");
		return MERR_INVAL;
	}
	if (type != SSH_FILEXFER_TYPE_REGULAR) {
		host_fail(h, KI_FAILED,
		    "~/" AUTH_KEYS " is not a regular "
		    "file");
		return MERR_INVAL;
	}
	if (kf->size > KEYINSTALL_FILE_MAX) {
		host_fail(h, KI_FAILED,
		    "~/" AUTH_KEYS " is larger than %d "
		    "bytes; not rewriting it",
		    KEYINSTALL_FILE_MAX);
		return MERR_LIMIT;
	}
	if ((kf->data = malloc(KEYINSTALL_FILE_MAX + 1)) == NULL) {
		host_fail(h, KI_FAILED, "out of memory");
		return MERR_NOMEM;
	}
	if ((f = sftp_open(sftp, AUTH_KEYS, O_RDONLY, 0)) == NULL) {
		sftp_failed(h, sftp, "cannot open ~/" AUTH_KEYS);
		return MERR_SSH;
	}
	while (kf->len <= KEYINSTALL_FILE_MAX &&
	    (got = sftp_read(f, kf->data + kf->len,
		 KEYINSTALL_FILE_MAX + 1 - kf->len)) > 0)
		kf->len += (size_t)got;
	sftp_close(f);
	if (got < 0) {
		sftp_failed(h, sftp, "cannot read ~/" AUTH_KEYS);
		return MERR_SSH;
	}
	if (kf->len > KEYINSTALL_FILE_MAX) {
		host_fail(h, KI_FAILED,
		    "~/" AUTH_KEYS " grew past %d bytes "
		    "while being read",
		    KEYINSTALL_FILE_MAX);
		return MERR_LIMIT;
	}
	return 0;
}

/* Whether the file is still the one we read (size and mtime). */
static bool
keyfile_unchanged(sftp_session sftp, const struct keyfile *kf)
{
	sftp_attributes st;
	bool same;

	if ((st = sftp_lstat(sftp, AUTH_KEYS)) == NULL)
		return !kf->exists &&
		    sftp_get_error(sftp) == SSH_FX_NO_SUCH_FILE;
	same = kf->exists && st->size == kf->size &&
	    (st->mtime64 ? st->mtime64 : st->mtime) == kf->mtime;
	sftp_attributes_free(st);
	return same;
}

static int
write_temp(struct ki_host *h, sftp_session sftp, const char *tmp,
    const char *data, size_t len, unsigned mode)
{
	sftp_file f;
	size_t off;
	ssize_t w;

	if ((f = sftp_open(sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600)) ==
	    NULL) {
		sftp_failed(h, sftp,
		    "cannot create a temporary file in ~/" SSH_DIR);
		return MERR_SSH;
	}
	for (off = 0; off < len; off += (size_t)w) {
		if ((w = sftp_write(f, data + off, len - off)) <= 0) {
			sftp_close(f);
			sftp_failed(h, sftp,
			    "cannot write the temporary file");
			return MERR_SSH;
		}
	}
	/* Without fsync@openssh.com the rename may reach the disk before
	 * the data; there is no other way to ask over SFTP. */
	if (sftp_extension_supported(sftp, "fsync@openssh.com", "1") &&
	    sftp_fsync(f) != 0) {
		sftp_close(f);
		sftp_failed(h, sftp, "cannot fsync the temporary file");
		return MERR_SSH;
	}
	if (sftp_close(f) != 0 || sftp_chmod(sftp, tmp, mode) != 0) {
		sftp_failed(h, sftp, "cannot finish the temporary file");
		return MERR_SSH;
	}
	return 0;
}

/*
 * End the SFTP session and wait until the server has closed its channel:
 * sshd counts a session against MaxSessions until its subsystem exited,
 * so with MaxSessions 1 the next channel opens only after that.
 */
static void
sftp_release(ssh_session session, sftp_session sftp)
{
	ssh_channel ch = sftp->channel;
	char sink[256];

	if (ssh_channel_send_eof(ch) == SSH_OK)
		while (ssh_channel_read(ch, sink, sizeof(sink), 0) > 0)
			;
	/* Returns once the exit status or the close came, or on timeout. */
	(void)ssh_channel_get_exit_status(ch);
	sftp_free(sftp);
	/* sshd frees the session after the loop pass that read our close:
	 * an open in the same read would still find it taken. A request
	 * answered first puts the open in a later pass. */
	(void)ssh_send_keepalive(session);
}

/*
 * SFTP v3 rename refuses an existing target, and libssh 0.10 offers no
 * posix-rename@openssh.com, so replacing the file takes one mv(1) through
 * the user's shell. The command holds only our own fixed names (the suffix
 * is hex), single-quoted: nothing from the host or the user reaches it.
 */
static int
rename_over(struct ki_host *h, const char *tmp)
{
	char cmd[256], errtext[256];
	ssh_channel ch;
	int n, got = 0, status;

	snprintf(cmd, sizeof(cmd), "mv -f '%s' '" AUTH_KEYS "'", tmp);
	if ((ch = ssh_channel_new(h->session)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		host_fail(h, KI_FAILED,
		    "cannot run mv to replace ~/" AUTH_KEYS ": %s",
		    ssh_get_error(h->session));
		if (ch != NULL)
			ssh_channel_free(ch);
		return MERR_SSH;
	}
	/* mv says nothing unless it fails; a blocking read of stderr
	 * returns at the remote EOF. */
	while (got < (int)sizeof(errtext) - 1 &&
	    (n = ssh_channel_read(ch, errtext + got,
		 sizeof(errtext) - 1 - (size_t)got, 1)) > 0)
		got += n;
	errtext[got] = '\0';
	status = ssh_channel_get_exit_status(ch);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	if (status != 0) {
		errtext[strcspn(errtext, "\r\n")] = '\0';
		host_fail(h, KI_FAILED,
		    "mv into ~/" AUTH_KEYS " failed "
		    "(exit %d)%s%s",
		    status, errtext[0] ? ": " : "", errtext);
		return MERR_SSH;
	}
	return 0;
}

static void
temp_name(char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t rnd[8] = { 0 };
	char suffix[17];
	size_t i;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		/* Unique enough with O_EXCL: a clash only fails the host. */
		uint64_t t = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)out;

		memcpy(rnd, &t, sizeof(rnd));
	}
	for (i = 0; i < sizeof(rnd); i++) {
		suffix[2 * i] = hex[rnd[i] >> 4];
		suffix[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	suffix[16] = '\0';
	snprintf(out, len, SSH_DIR "/.authorized_keys.muster-%s", suffix);
}

/*
 * No SFTP subsystem (sshd without Subsystem sftp, a stripped-down
 * server): the same steps over exec (keyinstall_exec.h), once the
 * refused channel is gone (MaxSessions counts it until then).
 */
static void
install_over_exec(struct ki_host *h, const char *line, const char *type,
    const char *b64)
{
	char tmp[128];

	log_debug("%s: no SFTP subsystem (%s); installing over exec",
	    h->display, ssh_get_error(h->session));
	(void)ssh_send_keepalive(h->session);
	temp_name(tmp, sizeof(tmp));
	switch (keyinstall_exec(h->session, line, type, b64, tmp, h->error,
	    sizeof(h->error))) {
	case KIX_INSTALLED: h->status = KI_INSTALLED; break;
	case KIX_PRESENT: h->status = KI_PRESENT; break;
	case KIX_FAILED: h->status = KI_FAILED; break;
	}
}

static void
install_key(struct ki_host *h)
{
	const char *line = h->ki->opts->pubkey_line;
	struct keyfile kf = { 0 };
	sftp_session sftp;
	char tmp[128], type[64], *b64 = NULL, *data = NULL;
	size_t len;
	int attempt;

	if ((b64 = malloc(8192)) == NULL ||
	    keyinstall_key_fields(line, type, sizeof(type), b64, 8192) != 0) {
		host_fail(h, KI_FAILED, "bad public key line");
		free(b64);
		return;
	}
	if ((sftp = sftp_new(h->session)) == NULL ||
	    sftp_init(sftp) != SSH_OK) {
		if (sftp != NULL)
			sftp_free(sftp);
		sftp = NULL;
		install_over_exec(h, line, type, b64);
		goto out;
	}
	if (ensure_ssh_dir(h, sftp) != 0)
		goto out;
	for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		free(kf.data);
		free(data);
		data = NULL;
		if (read_keyfile(h, sftp, &kf) != 0)
			goto out;
		if (keyinstall_has_key(kf.data ? kf.data : "", kf.len, type,
			b64)) {
			h->status = KI_PRESENT;
			goto out;
		}
		if (keyinstall_append(kf.data, kf.len, line, &data, &len) !=
		    0) {
			host_fail(h, KI_FAILED, "out of memory");
			goto out;
		}
		temp_name(tmp, sizeof(tmp));
		if (write_temp(h, sftp, tmp, data, len, kf.mode) != 0) {
			sftp_unlink(sftp, tmp);
			goto out;
		}
		/* Someone else may have edited the file meanwhile: then
		 * start over rather than drop their change. */
		if (!keyfile_unchanged(sftp, &kf)) {
			sftp_unlink(sftp, tmp);
			continue;
		}
		/* A missing file takes a plain SFTP rename; an existing one
		 * (or one that appeared meanwhile) needs mv, on a channel
		 * of its own: SFTP's goes first, since a server with
		 * MaxSessions 1 allows one at a time. */
		if (!kf.exists && sftp_rename(sftp, tmp, AUTH_KEYS) == 0) {
			h->status = KI_INSTALLED;
			goto out;
		}
		sftp_release(h->session, sftp);
		sftp = NULL;
		if (rename_over(h, tmp) != 0) {
			if ((sftp = sftp_new(h->session)) != NULL &&
			    sftp_init(sftp) == SSH_OK)
				sftp_unlink(sftp, tmp);
			goto out;
		}
		h->status = KI_INSTALLED;
		goto out;
	}
	host_fail(h, KI_FAILED,
	    "~/" AUTH_KEYS " kept changing while we "
	    "tried to update it");
out:
	if (sftp != NULL)
		sftp_free(sftp);
	free(kf.data);
	free(data);
	free(b64);
}

/* --- the two jobs of a host ----------------------------------------------------- */

/* Connect, verify the host key and try the key itself. */
static void
keyinstall_work_connect(void *arg)
{
	struct ki_host *h = arg;
	char user[128];
	int r;

	if (open_session(h) != 0)
		return;
	r = ssh_userauth_publickey(h->session, NULL, h->ki->opts->identity);
	if (r == SSH_AUTH_SUCCESS) {
		h->status = KI_PRESENT;
		return;
	}
	if (r == SSH_AUTH_ERROR) {
		host_fail(h, KI_UNREACHABLE, "authentication: %s",
		    ssh_get_error(h->session));
		return;
	}
	h->methods = ssh_userauth_list(h->session, NULL);
	if ((h->methods &
		(SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE)) ==
	    0) {
		host_fail(h, KI_AUTH,
		    "%s@%s takes neither a password nor "
		    "keyboard-interactive login, and not our key",
		    user_of(h, user, sizeof(user)), h->spec->name);
		return;
	}
	h->status = KI_NEED_PASSWORD;
}

/* Log in with the password, then install. */
static void
keyinstall_work_install(void *arg)
{
	struct ki_host *h = arg;
	const char *pw = h->ki->password;
	char user[128];
	int r = SSH_AUTH_DENIED;

	if (h->methods & SSH_AUTH_METHOD_PASSWORD)
		r = ssh_userauth_password(h->session, NULL, pw);
	if (r == SSH_AUTH_DENIED && (h->methods & SSH_AUTH_METHOD_INTERACTIVE))
		r = auth_kbdint(h, pw);
	if (r == SSH_AUTH_ERROR) {
		host_fail(h, KI_UNREACHABLE, "authentication: %s",
		    ssh_get_error(h->session));
		return;
	}
	if (r != SSH_AUTH_SUCCESS) {
		host_fail(h, KI_AUTH, "password refused for %s@%s",
		    user_of(h, user, sizeof(user)), h->spec->name);
		return;
	}
	install_key(h);
}

/* --- reporting (loop thread) ------------------------------------------------------ */

static void
report(struct ki_host *h)
{
	struct keyinstall *ki = h->ki;
	const char *word = ki_status_str(h->status);
	int64_t ms = (int64_t)((ev_time() - h->t0) * 1000);
	char *name, *error;
	json_t *o;

	switch (h->status) {
	case KI_INSTALLED: ki->n_installed++; break;
	case KI_PRESENT: ki->n_present++; break;
	case KI_FAILED: ki->n_failed++; break;
	default: ki->n_unreachable++; break;
	}
	if (h->status == KI_FAILED && ki->exit_status < EXIT_CMD_FAILED)
		ki->exit_status = EXIT_CMD_FAILED;
	else if (h->status != KI_INSTALLED && h->status != KI_PRESENT &&
	    h->status != KI_FAILED)
		ki->exit_status = EXIT_UNREACHABLE;
	if (ki->opts->json) {
		o = json_object();
		json_object_set_new(o, "host", json_string(h->display));
		json_object_set_new(o, "status", json_string(word));
		json_object_set_new(o, "duration_ms", json_integer(ms));
		json_object_set_new(o, "error",
		    h->error[0] ? output_json_text(h->error) : json_null());
		output_json_line(stdout, o);
		return;
	}
	/* Error texts may quote the server (banners, mv's message). */
	name = output_escape(h->display);
	error = output_escape(h->error);
	if (h->status == KI_INSTALLED || h->status == KI_PRESENT) {
		printf("%s: %s\n", name ? name : "?", word);
		fflush(stdout);
	} else {
		fprintf(stderr, "%s: %s: %s\n", name ? name : "?", word,
		    error ? error : "?");
		fflush(stderr);
	}
	free(name);
	free(error);
}

/* The password, asked once when the first host needs it. */
static const char *
get_password(struct keyinstall *ki)
{
	char buf[1024];

	if (ki->password != NULL || ki->password_asked)
		return ki->password;
	ki->password_asked = true;
	if (!isatty(STDIN_FILENO) && !isatty(STDERR_FILENO))
		return NULL;
	/* Our own lines on stdout must be out before the prompt. */
	fflush(stdout);
	fflush(stderr);
	if (askpass_tty("muster: password (asked once, used for every host "
			"that wants one): ",
		buf, sizeof(buf)) == 0)
		ki->password = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return ki->password;
}

static void host_finished(struct ki_host *h);

static void
keyinstall_install_done(void *arg)
{
	explain_route(arg);
	host_finished(arg);
}

static void
keyinstall_connect_done(void *arg)
{
	struct ki_host *h = arg;
	struct keyinstall *ki = h->ki;

	if (h->status != KI_NEED_PASSWORD) {
		explain_route(h);
		host_finished(h);
		return;
	}
	if (get_password(ki) == NULL) {
		host_fail(h, KI_AUTH,
		    "the host wants a password: give "
		    "--password-file FILE or MUSTER_PASSWORD, or run on a "
		    "terminal");
		host_finished(h);
		return;
	}
	if (workpool_submit(ki->workers, keyinstall_work_install,
		keyinstall_install_done, h) != 0) {
		host_fail(h, KI_FAILED, "out of memory");
		host_finished(h);
	}
}

static void start_more(struct keyinstall *ki);

static void
host_finished(struct ki_host *h)
{
	log_debug("%s: %s after %.0f ms", h->display, ki_status_str(h->status),
	    (ev_time() - h->t0) * 1000);
	ev_timer_stop(h->ki->loop, &h->kick);
	close_session(h);
	report(h);
	h->ki->pending--;
	start_more(h->ki);
}

static void
submit_connect(struct ki_host *h)
{
	h->connecting = true;
	if (workpool_submit(h->ki->workers, keyinstall_work_connect,
		keyinstall_connect_done, h) != 0) {
		host_fail(h, KI_FAILED, "out of memory");
		host_finished(h);
	}
}

/* The bastion's channel opened or failed: connect over it, or fail. */
static void
keyinstall_on_kick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ki_host *h = w->data;
	enum host_status st;
	char err[768];

	(void)loop, (void)revents;
	if (h->connecting)
		return;
	switch (keyroute_status(&h->route, &st, err, sizeof(err))) {
	case 1: return;
	case 0: submit_connect(h); return;
	default:
		host_fail(h, st == HS_HOSTKEY ? KI_HOSTKEY : KI_UNREACHABLE,
		    "%s", err);
		host_finished(h);
	}
}

/* From the bastion, maybe deep in its step: handled on the next pass. */
static void
keyinstall_hop_notify(void *arg)
{
	struct ki_host *h = arg;

	if (!h->connecting)
		ev_timer_start(h->ki->loop, &h->kick);
}

static void
start_host(struct ki_host *h)
{
	enum host_status st = HS_UNREACHABLE;
	char err[768];

	h->ki->pending++;
	ev_timer_init(&h->kick, keyinstall_on_kick, 0, 0);
	h->kick.data = h;
	keyroute_init(&h->route);
	if (prepare_session(h) != 0) {
		host_finished(h);
		return;
	}
	switch (keyroute_start(&h->route, h->session, &h->ki->hop, h->spec,
	    h->display, keyinstall_hop_notify, h, &st, err, sizeof(err))) {
	case 0: submit_connect(h); return;
	case 1: return;
	default:
		host_fail(h, st == HS_HOSTKEY ? KI_HOSTKEY : KI_UNREACHABLE,
		    "%s", err);
		host_finished(h);
	}
}

/* Hosts in progress up to the fanout: sessions, proxies and bastion
 * channels are not all opened at once. */
static void
start_more(struct keyinstall *ki)
{
	/* A host that fails at once would otherwise start the next one
	 * from inside this loop, a level deeper each time. */
	if (ki->starting)
		return;
	ki->starting = true;
	while (ki->pending < ki->fanout && ki->next < ki->nhosts)
		start_host(&ki->hv[ki->next++]);
	ki->starting = false;
}

int
keyinstall_hosts(const struct host_set *hosts,
    const struct keyinstall_options *opts)
{
	struct keyinstall ki;
	struct ki_host *hv = NULL;
	sigset_t block, old;
	ev_tstamp t0 = ev_time();
	size_t i, total;
	int nworkers, r;

	memset(&ki, 0, sizeof(ki));
	ki.opts = opts;
	pthread_mutex_init(&ki.hostkey_lock, NULL);
	if (opts->password != NULL &&
	    (ki.password = strdup(opts->password)) == NULL)
		return EXIT_INTERNAL;
	if ((ki.loop = ev_loop_new(EVFLAG_AUTO)) == NULL ||
	    (hv = calloc(hosts->n, sizeof(*hv))) == NULL) {
		fprintf(stderr, "muster: out of memory\n");
		ki.exit_status = EXIT_INTERNAL;
		goto out;
	}
	nworkers = opts->fanout < MAX_WORKERS ? opts->fanout : MAX_WORKERS;
	if ((size_t)nworkers > hosts->n)
		nworkers = (int)hosts->n;
	/* Workers inherit this mask: a ^C then reaches the loop thread,
	 * which is the one that may sit in the password prompt and must
	 * restore the terminal. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	r = workpool_new(ki.loop, nworkers, &ki.workers);
	if (r == 0)
		r = workpool_new(ki.loop, 2, &ki.hop_workers);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		fprintf(stderr, "muster: cannot start workers: %s\n",
		    merr_str(r));
		ki.exit_status = EXIT_INTERNAL;
		goto out;
	}
	for (i = 0; i < hosts->n; i++) {
		struct ki_host *h = &hv[i];

		h->ki = &ki;
		h->spec = &hosts->v[i];
		h->t0 = t0;
		keyroute_init(&h->route);
		if ((h->display = keyinstall_display_name(hosts, i)) == NULL) {
			fprintf(stderr, "muster: out of memory\n");
			ki.exit_status = EXIT_INTERNAL;
			goto out;
		}
	}
	ki.hop = opts->net;
	ki.hop.loop = ki.loop;
	ki.hop.workers = ki.hop_workers;
	ki.hv = hv;
	ki.nhosts = hosts->n;
	ki.fanout = opts->fanout > 0 ? (size_t)opts->fanout : 1;
	start_more(&ki);
	/* The workers' wake-up keeps the loop waiting while a host is out;
	 * should nothing be left to wait for, a host was lost: say so. */
	while (ki.pending > 0)
		if (!ev_run(ki.loop, EVRUN_ONCE) && ki.pending > 0) {
			log_error("internal error: %zu host%s never reported",
			    ki.pending, ki.pending == 1 ? "" : "s");
			ki.exit_status = EXIT_INTERNAL;
			break;
		}
	total = ki.n_installed + ki.n_present + ki.n_failed + ki.n_unreachable;
	fprintf(stderr,
	    "muster: %zu host%s: %zu installed, %zu present, "
	    "%zu failed, %zu unreachable (%.2f s)\n",
	    total, total == 1 ? "" : "s", ki.n_installed, ki.n_present,
	    ki.n_failed, ki.n_unreachable, ev_time() - t0);
out:
	workpool_free(ki.workers);
	for (i = 0; hv != NULL && i < hosts->n; i++) {
		close_session(&hv[i]);
		free(hv[i].display);
	}
	if (ki.hop.loop != NULL)
		bastion_close_idle(&ki.hop);
	workpool_free(ki.hop_workers);
	free(hv);
	if (ki.loop != NULL)
		ev_loop_destroy(ki.loop);
	if (ki.password != NULL) {
		explicit_bzero(ki.password, strlen(ki.password));
		free(ki.password);
	}
	pthread_mutex_destroy(&ki.hostkey_lock);
	return ki.exit_status;
}
