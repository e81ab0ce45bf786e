#include "bootstrap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <libssh/sftp.h>

#include "err.h"
#include "frame.h"

#define AGENT_DIR ".cache/muster"
#define UPLOAD_CHUNK (128u * 1024)

/*
 * Run by the user's login shell, whatever it is, so everything goes through
 * /bin/sh inside single quotes. Only our own hex hash is interpolated. The
 * hash is checked before the agent runs: a file with the right name but the
 * wrong content (a torn copy, tampering) or mode is removed and uploaded
 * again. Each marker follows a newline of its own, in case the shell's
 * start-up files printed a line without one. The umask is left alone: the
 * agent's commands must create files as a login shell would.
 */
bool
bootstrap_user_ok(const char *user)
{
	size_t i, n = strlen(user);

	/* POSIX portable user names: the only user data in the command. */
	if (n == 0 || n > 32 || user[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (!((user[i] >= 'a' && user[i] <= 'z') ||
		    (user[i] >= 'A' && user[i] <= 'Z') ||
		    (user[i] >= '0' && user[i] <= '9') ||
		    user[i] == '.' || user[i] == '_' || user[i] == '-'))
			return false;
	return true;
}

char *
bootstrap_start_command(const char *sha, const char *become_user)
{
	char *cmd = NULL, sudo[96] = "";

	/* --become for push and pull: the whole agent runs as the user, so
	 * files land owned by it. Never a password prompt (sudo -n). */
	if (become_user != NULL) {
		if (!bootstrap_user_ok(become_user))
			return NULL;
		snprintf(sudo, sizeof(sudo), "sudo -n -u %s -- ", become_user);
	}
	if (asprintf(&cmd,
	    "exec /bin/sh -c '"
	    "a=\"$HOME/" AGENT_DIR "/muster-agent-%s\"; "
	    "if [ -e \"$a\" ]; then "
	    "s=$(sha256sum < \"$a\" 2>/dev/null); "
	    "if [ \"${s%%%% *}\" = %s ] && [ -x \"$a\" ]; then "
	    "echo; exec %s\"$a\" --stdio; fi; "
	    "rm -f \"$a\"; fi; "
	    "echo; echo " AGENT_NEED_MARKER "$(uname -m)'",
	    sha, sha, sudo) < 0)
		return NULL;
	return cmd;
}

/* A line that starts at `line` and ends before `nl`. */
static bool
line_is(const uint8_t *line, const uint8_t *nl, const char *marker)
{
	size_t mlen = strlen(marker);

	return (size_t)(nl - line) >= mlen && memcmp(line, marker, mlen) == 0;
}

enum marker
bootstrap_scan(struct buf *in, char *arch, size_t archlen)
{
	const uint8_t *p, *nl, *start;
	size_t len, agent_len = strlen(AGENT_MARKER) - 1, alen;

	for (;;) {
		start = p = buf_ptr(in);
		if ((len = buf_len(in)) == 0)
			return MARKER_NONE;
		if ((nl = memchr(p, '\n', len)) == NULL)
			return len > BOOTSTRAP_JUNK_MAX ? MARKER_JUNK :
			    MARKER_NONE;
		if ((size_t)(nl - p) == agent_len &&
		    memcmp(p, AGENT_MARKER, agent_len) == 0) {
			buf_consume(in, nl - start + 1);
			return MARKER_AGENT;
		}
		if (line_is(p, nl, AGENT_NEED_MARKER)) {
			p += strlen(AGENT_NEED_MARKER);
			alen = nl - p;
			if (alen >= archlen)
				alen = archlen - 1;
			memcpy(arch, p, alen);
			arch[alen] = '\0';
			buf_consume(in, nl - start + 1);
			return MARKER_NEED;
		}
		/* Output of the user's shell start-up files: skip it. */
		buf_consume(in, nl - start + 1);
	}
}

static void
random_suffix(char *out, size_t outlen)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r ^= (uint64_t)(uintptr_t)out ^ (uint64_t)getpid();
	snprintf(out, outlen, "%016llx", (unsigned long long)r);
}

static int
sftp_fail(struct upload_job *job, sftp_session sftp, const char *what)
{
	snprintf(job->err, sizeof(job->err), "sftp %s: %s (status %d)", what,
	    ssh_get_error(job->session), sftp_get_error(sftp));
	return MERR_BOOTSTRAP;
}

static int
upload_sftp(struct upload_job *job, sftp_session sftp)
{
	char tmp[256], final[256], suffix[17];
	sftp_file f = NULL;
	sftp_attributes st;
	size_t off;
	ssize_t w;
	int r = 0;

	/* Already there is fine: another session may have just made them.
	 * SFTP v3 has no distinct "exists" status, so check the result. */
	sftp_mkdir(sftp, ".cache", 0700);
	if (sftp_mkdir(sftp, AGENT_DIR, 0700) != 0) {
		if ((st = sftp_stat(sftp, AGENT_DIR)) == NULL ||
		    st->type != SSH_FILEXFER_TYPE_DIRECTORY) {
			sftp_attributes_free(st);
			return sftp_fail(job, sftp, "cannot create ~/" AGENT_DIR);
		}
		sftp_attributes_free(st);
	}
	random_suffix(suffix, sizeof(suffix));
	snprintf(final, sizeof(final), AGENT_DIR "/muster-agent-%s",
	    job->sha256);
	/* A unique name per upload: sessions that share a home (NFS, the
	 * same user twice) must not write into each other's file. */
	snprintf(tmp, sizeof(tmp), AGENT_DIR "/.muster-agent-%s.%s",
	    job->sha256, suffix);
	f = sftp_open(sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0700);
	if (f == NULL)
		return sftp_fail(job, sftp, "open");
	for (off = 0; off < job->len; off += (size_t)w) {
		size_t n = job->len - off;

		if (n > UPLOAD_CHUNK)
			n = UPLOAD_CHUNK;
		if ((w = sftp_write(f, job->data + off, n)) <= 0) {
			r = sftp_fail(job, sftp, "write");
			goto out;
		}
	}
	if (sftp_extension_supported(sftp, "fsync@openssh.com", "1") &&
	    sftp_fsync(f) != 0) {
		r = sftp_fail(job, sftp, "fsync");
		goto out;
	}
	r = sftp_close(f);
	f = NULL;
	if (r != 0) {
		r = sftp_fail(job, sftp, "close");
		goto out;
	}
	if (sftp_chmod(sftp, tmp, 0700) != 0) {
		r = sftp_fail(job, sftp, "chmod");
		goto out;
	}
	if (sftp_rename(sftp, tmp, final) != 0) {
		/* Plain SFTP rename refuses to replace; if the target exists,
		 * a concurrent upload of the same content won the race. */
		if ((st = sftp_stat(sftp, final)) == NULL) {
			r = sftp_fail(job, sftp, "rename");
			goto out;
		}
		sftp_attributes_free(st);
		sftp_unlink(sftp, tmp);
	}
	return 0;
 out:
	if (f != NULL)
		sftp_close(f);
	sftp_unlink(sftp, tmp);
	return r;
}

/* For hosts without an SFTP subsystem: the same steps in one shell. */
static int
upload_exec(struct upload_job *job)
{
	ssh_channel ch;
	char *cmd = NULL, suffix[17];
	size_t off;
	int w, r = MERR_BOOTSTRAP, status;

	random_suffix(suffix, sizeof(suffix));
	if (asprintf(&cmd, "exec /bin/sh -c 'umask 077; "
	    "d=\"$HOME/" AGENT_DIR "\"; t=\"$d/.muster-agent-%s.%s\"; "
	    "mkdir -p \"$d\" && dd of=\"$t\" bs=65536 conv=fsync 2>/dev/null "
	    "&& chmod 700 \"$t\" && mv -f \"$t\" \"$d/muster-agent-%s\" "
	    "|| { rm -f \"$t\"; exit 1; }'", job->sha256, suffix,
	    job->sha256) < 0)
		return MERR_NOMEM;
	if ((ch = ssh_channel_new(job->session)) == NULL)
		goto out;
	if (ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK)
		goto fail;
	for (off = 0; off < job->len; off += (size_t)w) {
		size_t n = job->len - off;

		if (n > UPLOAD_CHUNK)
			n = UPLOAD_CHUNK;
		if ((w = ssh_channel_write(ch, job->data + off, n)) <= 0)
			goto fail;
	}
	if (ssh_channel_send_eof(ch) != SSH_OK)
		goto fail;
	/* Drain until the remote side closes so the exit status arrives. */
	while (!ssh_channel_is_eof(ch)) {
		char sink[256];

		if (ssh_channel_read(ch, sink, sizeof(sink), 0) < 0)
			goto fail;
	}
	status = ssh_channel_get_exit_status(ch);
	if (status != 0) {
		snprintf(job->err, sizeof(job->err), "agent upload through "
		    "exec failed (exit status %d)", status);
		goto close;
	}
	r = 0;
	goto close;
 fail:
	snprintf(job->err, sizeof(job->err), "agent upload through exec: %s",
	    ssh_get_error(job->session));
 close:
	ssh_channel_close(ch);
	ssh_channel_free(ch);
 out:
	free(cmd);
	return r;
}

void
bootstrap_upload(void *arg)
{
	struct upload_job *job = arg;
	sftp_session sftp;

	ssh_set_blocking(job->session, 1);
	ssh_options_set(job->session, SSH_OPTIONS_TIMEOUT, &job->timeout_s);
	job->via_exec = false;
	sftp = sftp_new(job->session);
	if (sftp != NULL && sftp_init(sftp) == SSH_OK) {
		job->result = upload_sftp(job, sftp);
		sftp_free(sftp);
	} else {
		if (sftp != NULL)
			sftp_free(sftp);
		job->via_exec = true;
		job->result = upload_exec(job);
	}
	ssh_set_blocking(job->session, 0);
}
