#include "bootstrap.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/sftp.h>

#include "agentdir.h"
#include "err.h"
#include "frame.h"

#define AGENT_DIR ".cache/muster"
#define UPLOAD_CHUNK (128u * 1024)
/* The exec upload waits at most this long at a time, to look at its
 * deadline and cancel flag in between. */
#define UPLOAD_SLICE_MS 100
#define UPLOAD_SLICE_S 1L
/* How long an upload waits for the server to close its channel. */
#define CLOSE_WAIT_S 5.0
/* How often the upload asks for a session channel the server refused. */
#define OPEN_TRIES 5
/* The line after the lead-in that the agent's bytes follow in an exec
 * upload: fixed text, no character a shell gives a meaning. */
#define UPLOAD_MARK "MUSTER-AGENT-FOLLOWS"

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
			(user[i] >= '0' && user[i] <= '9') || user[i] == '.' ||
			user[i] == '_' || user[i] == '-'))
			return false;
	return true;
}

/* "sudo -n -u USER -- " for --become (never a password prompt), "" else;
 * false for a user name that does not fit. */
static bool
sudo_prefix(const char *become_user, char *out, size_t outlen)
{
	out[0] = '\0';
	if (become_user == NULL)
		return true;
	if (!bootstrap_user_ok(become_user))
		return false;
	snprintf(out, outlen, "sudo -n -u %s -- ", become_user);
	return true;
}

/*
 * The fast start: no /bin/sh, no hash, just the login shell's own exec of
 * the start link. The words are the same in sh, bash, zsh, fish, tcsh and
 * busybox ash (~ expands at a word start in all of them), and only our own
 * hex id and an agent directory agentdir_ok passed (no character a shell
 * gives a meaning there) are interpolated.
 */
char *
bootstrap_start_command(const char *set_id, const char *become_user,
    const char *agent_dir)
{
	char *cmd = NULL, sudo[96];

	if (!sudo_prefix(become_user, sudo, sizeof(sudo)) ||
	    (agent_dir != NULL && !agentdir_ok(agent_dir, NULL, 0)))
		return NULL;
	if (asprintf(&cmd, "exec %s%s/" BOOTSTRAP_LINK "%s --stdio", sudo,
		agent_dir != NULL ? agent_dir : "~/" AGENT_DIR, set_id) < 0)
		return NULL;
	return cmd;
}

/*
 * Where an agent may live, in order, as words for /bin/sh: the home's
 * cache, then places that are often on another file system when the home
 * is noexec, read-only, full or missing. Only fixed text: the host's own
 * variables expand on the host. An unset $XDG_RUNTIME_DIR leaves an empty
 * word, so the numbering stays the same for the upload.
 */
#define BOOTSTRAP_PLACES                                   \
	"\"$HOME/" AGENT_DIR "\" "                         \
	"\"${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/muster}\" " \
	"\"/dev/shm/muster-$(id -u)\" \"/tmp/muster-$(id -u)\""

/*
 * The places as words for /bin/sh inside single quotes: the operator's
 * agent directory alone (in double quotes: agentdir_ok allows no quote, $,
 * backquote or backslash; ~/ becomes $HOME/), else BOOTSTRAP_PLACES.
 */
static char *
places_words(const char *agent_dir)
{
	char *w = NULL;

	if (agent_dir == NULL)
		return strdup(BOOTSTRAP_PLACES);
	if (!agentdir_ok(agent_dir, NULL, 0))
		return NULL;
	if (asprintf(&w, "\"%s%s\"", agent_dir[0] == '~' ? "$HOME" : "",
		agent_dir[0] == '~' ? agent_dir + 1 : agent_dir) < 0)
		return NULL;
	return w;
}

/*
 * The probe, after the fast start failed: everything in /bin/sh inside
 * single quotes, whatever the login shell is, and only our own hex hashes,
 * sizes, the fixed architecture names and a checked agent directory
 * interpolated. Each place (places_words) is tried for an agent of this
 * host's architecture: one that does not match its hash (tampering, a
 * damaged disk) is removed, one that matches runs only from a directory
 * that belongs to the user (or root) and no one else may write, is no
 * symlink, and where it actually executes (--version: a noexec mount
 * refuses it). Where sha256sum is missing, the size stands in for the
 * hash: the file was written under a temporary name, its size checked and
 * renamed into its content-addressed name by us, in a directory only the
 * user can write, and the agent's Hello must carry this build's id. In
 * the home's cache, when the home and ~/.cache are as safe, the start
 * link is pointed at it (by rename, so a concurrent start sees the old
 * link or the new one): the next start is the fast one. Never from the
 * other places: /dev/shm and /tmp are emptied on reboot and anyone may
 * create names there, so the fast start must not exec through them
 * unchecked. An operator's agent directory gets the link when every
 * directory from it up to / is as safe.
 *
 * With no agent that runs, the probe picks the first place it can create
 * owner-only, that has room for the agent and where a file can be executed,
 * and asks for the agent there (AGENT_NEED_MARKER, `uname -m`, the place's
 * number and its path); when none will do, it says on stderr what it tried
 * and why each failed, and asks with no place. Each marker follows a
 * newline of its own, in case the shell's start-up files printed a line
 * without one. The umask is left alone: the agent's commands must create
 * files as a login shell would. No `!` before anything but a blank: tcsh
 * expands history even inside single quotes ("0: Event not found").
 */
char *
bootstrap_probe_command(const struct agentset *set, const char *become_user,
    const char *agent_dir)
{
	char *cmd = NULL, *arms = NULL, *places = NULL, sudo[96];
	const char *machines;
	size_t armlen = 0, i;
	FILE *f;

	if (!sudo_prefix(become_user, sudo, sizeof(sudo)) ||
	    (places = places_words(agent_dir)) == NULL)
		return NULL;
	if ((f = open_memstream(&arms, &armlen)) == NULL) {
		free(places);
		return NULL;
	}
	for (i = 0; i < set->n; i++)
		if ((machines = agentbin_machines(set->v[i].arch)) != NULL)
			fprintf(f, "%s) s=%s; k=%zu; z=%zu;; ", machines,
			    set->v[i].sha256, set->v[i].len / 1024 + 1,
			    set->v[i].len);
	if (fclose(f) != 0) {
		free(arms);
		free(places);
		return NULL;
	}
	if (asprintf(&cmd,
		"exec /bin/sh -c '"
		"m=$(uname -m); u=$(id -u); h=%s; "
		"case $m in %s*) s=;; esac; "
		"[ -n \"$s\" ] || { echo; echo " AGENT_NEED_MARKER "$m; "
		"exit 0; }; "
		"safe() { [ -z \"$(find \"$@\" -prune \\( ! \\( -user \"$u\" "
		"-o -user 0 \\) -o -perm -020 -o -perm -002 \\) -print "
		"2>&1)\" ]; }; "
		"chain() { p=$1; while [ -n \"$p\" ]; do safe \"$p\" || "
		"return 1; p=${p%%/*}; done; safe /; }; "
		"own() { [ -d \"$1\" ] && [ ! -L \"$1\" ] && safe \"$1\"; }; "
		"why() { case $1 in *Read-only*) echo read-only;; "
		"*\"No space\"*|*\"Disk quota\"*) echo \"no space\";; "
		"*\"No such\"*) echo missing;; *) echo \"$1\";; esac; }; "
		"runs() { a=\"$1/muster-agent-$s\"; [ -f \"$a\" ] && own \"$1\" "
		"|| return 1; "
		"if command -v sha256sum >/dev/null 2>&1; then "
		"v=$(sha256sum < \"$a\" 2>/dev/null); v=${v%%%% *}; want=$s; "
		"else set -- $(wc -c < \"$a\" 2>/dev/null); v=$1; want=$z; fi; "
		"if [ \"$v\" = \"$want\" ]; then [ -x \"$a\" ] && "
		"\"$a\" --version >/dev/null 2>&1; return; fi; "
		"rm -f \"$a\"; return 1; }; "
		"place() { d=$1; [ -n \"$d\" ] || { echo unset; return 1; }; "
		"case $d in \"$HOME\"/*) [ -d \"$HOME\" ] || { "
		"echo \"missing (no $HOME)\"; return 1; };; /*) ;; *) "
		"echo \"not an absolute path\"; return 1;; esac; "
		"if [ ! -d \"$d\" ]; then e=$(mkdir -p -m 700 \"$d\" 2>&1) || "
		"{ why \"$e\"; return 1; }; fi; "
		"own \"$d\" || { echo \"not owner-only (another owner, "
		"group or world writable, or a symlink)\"; return 1; }; "
		"set -- $(df -Pk \"$d\" 2>/dev/null | tail -n 1); "
		"if [ \"${4:-x}\" -ge 0 ] 2>/dev/null && [ \"$4\" -lt \"$k\" ]; "
		"then echo \"no space ($4 KB free, the agent needs $k KB)\"; "
		"return 1; fi; "
		"t=\"$d/.muster-probe.$$\"; "
		"e=$( { echo \"exit 0\" > \"$t\" && chmod 700 \"$t\"; } 2>&1) "
		"|| { rm -f \"$t\"; why \"$e\"; return 1; }; "
		"\"$t\" 2>/dev/null || { rm -f \"$t\"; echo noexec; return 1; }; "
		"rm -f \"$t\"; }; "
		"set -- %s; "
		"for d; do if [ -n \"$d\" ] && runs \"$d\"; then "
		"if [ \"$d\" = \"$h\" ] && %s; "
		"then "
		"l=\"$h/.%s.$$\"; "
		"ln -s \"muster-agent-$s\" \"$l\" 2>/dev/null && "
		"mv -f \"$l\" \"$h/" BOOTSTRAP_LINK "%s\" 2>/dev/null || "
		"rm -f \"$l\"; fi; "
		"echo; exec %s\"$a\" --stdio; fi; done; "
		"i=0; w=; for d; do i=$((i+1)); "
		"if r=$(place \"$d\"); then echo; "
		"echo " AGENT_NEED_MARKER "$m $i $d; exit 0; fi; "
		"w=\"$w${w:+;} ${d:-\\$XDG_RUNTIME_DIR/muster}: $r\"; done; "
		"echo \"%s\" >&2; "
		"echo; echo " AGENT_NEED_MARKER "$m'",
		agent_dir != NULL ? places : "\"$HOME/" AGENT_DIR "\"", arms,
		places,
		agent_dir != NULL ? "chain \"$h\" && safe \"$a\"" :
				    "safe \"$HOME\" \"$HOME/.cache\" \"$a\"",
		set->id, set->id, sudo,
		agent_dir != NULL ?
		    "${w# }" :
		    "no place on this host can run the agent:$w") < 0)
		cmd = NULL;
	free(arms);
	free(places);
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
bootstrap_scan(struct buf *in, char *arch, size_t archlen, size_t *junk)
{
	const uint8_t *p, *nl, *start;
	size_t len, agent_len = strlen(AGENT_MARKER) - 2, alen;

	for (;;) {
		start = p = buf_ptr(in);
		if ((len = buf_len(in)) == 0)
			return MARKER_NONE;
		if ((nl = memchr(p, '\n', len)) == NULL)
			return len > BOOTSTRAP_JUNK_MAX ?
			    MARKER_JUNK :
			    MARKER_NONE;
		if ((size_t)(nl - p) == agent_len &&
		    memcmp(p, AGENT_MARKER + 1, agent_len) == 0) {
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
		if (junk != NULL)
			*junk += (size_t)(nl - start + 1);
		buf_consume(in, nl - start + 1);
	}
}

const char *
bootstrap_stderr_line(const struct buf *err)
{
	static char line[512];
	size_t n = buf_len(err), i;

	if (n == 0)
		return "";
	if (n >= sizeof(line) - 3)
		n = sizeof(line) - 3;
	line[0] = ':';
	line[1] = ' ';
	for (i = 0; i < n; i++) {
		char ch = (char)buf_ptr(err)[i];

		line[i + 2] = (ch == '\n' || ch == '\r') ? ' ' : ch;
	}
	/* The trailing newline would end the message with a blank. */
	while (n > 0 && line[n + 1] == ' ')
		n--;
	line[n + 2] = '\0';
	return n > 0 ? line : "";
}

static double
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Between any two blocking steps: has the loop given up on us? */
static int
job_check(struct upload_job *job)
{
	if (atomic_load(&job->cancelled)) {
		snprintf(job->err, sizeof(job->err), "cancelled");
		return MERR_TIMEOUT;
	}
	if (mono_now() >= job->deadline) {
		snprintf(job->err, sizeof(job->err), "timed out after %ld s",
		    job->timeout_s);
		return MERR_TIMEOUT;
	}
	return 0;
}

static void
bootstrap_on_close(ssh_session s, ssh_channel ch, void *userdata)
{
	*(bool *)userdata = true;
}

/*
 * Send EOF and read until the server closes the channel: with sshd's
 * MaxSessions 1 the agent's start channel that follows is refused while
 * this one is still open on the server. Ends at the job's deadline too.
 */
static void
wait_closed(struct upload_job *job, ssh_channel ch)
{
	struct ssh_channel_callbacks_struct cb;
	bool closed = false;
	/* A server that never closes costs a few seconds, not the upload. */
	double until = mono_now() + CLOSE_WAIT_S;

	memset(&cb, 0, sizeof(cb));
	cb.userdata = &closed;
	cb.channel_close_function = bootstrap_on_close;
	ssh_callbacks_init(&cb);
	if (ssh_set_channel_callbacks(ch, &cb) != SSH_OK)
		return;
	if (ssh_channel_is_open(ch) && !ssh_channel_is_eof(ch))
		(void)ssh_channel_send_eof(ch);
	/* Both streams drained: libssh delays a close while either still
	 * holds data, and may have taken it before the callback was set. */
	while (!closed && ssh_channel_is_open(ch) && mono_now() < until &&
	    ssh_is_connected(job->session) && job_check(job) == 0) {
		char sink[1024];

		if (ssh_channel_poll_timeout(ch, UPLOAD_SLICE_MS, 0) ==
			SSH_ERROR ||
		    ssh_channel_read_nonblocking(ch, sink, sizeof(sink), 0) ==
			SSH_ERROR ||
		    ssh_channel_read_nonblocking(ch, sink, sizeof(sink), 1) ==
			SSH_ERROR)
			break;
	}
	ssh_remove_channel_callbacks(ch, &cb);
}

int
bootstrap_upload_prepare(struct upload_job *job, ssh_session session,
    const uint8_t *data, size_t len, const char *sha256, double timeout_s,
    bool skip_sftp, int place, const char *dir, const char *agent_dir)
{
	socket_t fd = ssh_get_fd(session);

	memset(job, 0, sizeof(*job));
	atomic_init(&job->cancelled, false);
	job->session = session;
	job->skip_sftp = skip_sftp;
	job->place = place;
	snprintf(job->dir, sizeof(job->dir), "%s", dir);
	snprintf(job->agent_dir, sizeof(job->agent_dir), "%s",
	    agent_dir != NULL ? agent_dir : "");
	job->data = data;
	job->len = len;
	job->sha256 = sha256;
	/* A second behind the loop's own deadline, which cancels us. */
	job->timeout_s = (long)timeout_s + 1;
	job->deadline = mono_now() + (double)job->timeout_s;
	atomic_init(&job->started_us, 0);
	/* A descriptor of our own for the socket: libssh closes its one on
	 * an error in the worker, and that number may belong to another
	 * host's socket by the time the loop wants to cancel. */
	job->cancel_fd = -1;
	if (fd == SSH_INVALID_SOCKET ||
	    (job->cancel_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return MERR_SYS;
	return 0;
}

double
bootstrap_upload_ran(struct upload_job *job)
{
	long long us = atomic_load(&job->started_us);
	double ran;

	if (us == 0)
		return 0;
	ran = mono_now() - (double)(us - 1) / 1e6;
	return ran > 1e-6 ? ran : 1e-6;
}

void
bootstrap_upload_cancel(struct upload_job *job)
{
	atomic_store(&job->cancelled, true);
	/* Wakes the worker from any poll() or recv() inside libssh (SFTP
	 * retries its reads on timeouts forever): the session is dead from
	 * here on, and every libssh call in the worker fails at once. */
	if (job->cancel_fd >= 0)
		shutdown(job->cancel_fd, SHUT_RDWR);
}

void
bootstrap_upload_release(struct upload_job *job)
{
	if (job->cancel_fd >= 0)
		close(job->cancel_fd);
	job->cancel_fd = -1;
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
	char tmp[BOOTSTRAP_DIR_MAX + 100], final[BOOTSTRAP_DIR_MAX + 100];
	char suffix[17];
	sftp_file f = NULL;
	sftp_attributes st;
	size_t off;
	ssize_t w;
	int r = 0;

	/* The probe made the place, owner-only, and found it executable. */
	if ((st = sftp_stat(sftp, job->dir)) == NULL ||
	    st->type != SSH_FILEXFER_TYPE_DIRECTORY) {
		sftp_attributes_free(st);
		return sftp_fail(job, sftp, "the agent's place is gone");
	}
	sftp_attributes_free(st);
	random_suffix(suffix, sizeof(suffix));
	snprintf(final, sizeof(final), "%s/muster-agent-%s", job->dir,
	    job->sha256);
	/* A unique name per upload: sessions that share a home (NFS, the
	 * same user twice) must not write into each other's file. */
	snprintf(tmp, sizeof(tmp), "%s/.muster-agent-%s.%s", job->dir,
	    job->sha256, suffix);
	f = sftp_open(sftp, tmp, O_WRONLY | O_CREAT | O_EXCL, 0700);
	if (f == NULL)
		return sftp_fail(job, sftp, "open");
	for (off = 0; off < job->len; off += (size_t)w) {
		size_t n = job->len - off;

		if (n > UPLOAD_CHUNK)
			n = UPLOAD_CHUNK;
		if ((r = job_check(job)) != 0)
			goto out;
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
	/* Verified as written: a short file never gets the agent's name. */
	if ((st = sftp_stat(sftp, tmp)) == NULL || st->size != job->len) {
		sftp_attributes_free(st);
		r = sftp_fail(job, sftp,
		    "the written agent has the wrong size");
		goto out;
	}
	sftp_attributes_free(st);
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

/*
 * Read and drop whatever waits on either stream: the login shell's start-up
 * files may talk on both, and libssh only reports EOF once both buffers are
 * empty, and only opens the window again for what we read.
 */
static int
drain(struct upload_job *job, ssh_channel ch, size_t *dropped)
{
	char sink[4096];
	int stream, n;

	for (stream = 0; stream <= 1; stream++) {
		while ((n = ssh_channel_read_nonblocking(ch, sink,
			    sizeof(sink), stream)) > 0) {
			*dropped += (size_t)n;
			if (*dropped > BOOTSTRAP_NOISE_MAX) {
				snprintf(job->err, sizeof(job->err),
				    "agent "
				    "upload through exec: over %u bytes of "
				    "output from the login shell",
				    BOOTSTRAP_NOISE_MAX);
				return MERR_LIMIT;
			}
		}
		if (n == SSH_ERROR)
			return MERR_IO;
	}
	return 0;
}

/* Send the agent as the window allows, reading both streams meanwhile,
 * until the remote side is done with its stdout. */
static int
exec_feed(struct upload_job *job, ssh_channel ch, size_t *sent)
{
	size_t dropped = 0, n;
	bool eof_sent = false;
	int r, w;

	for (;;) {
		if ((r = job_check(job)) != 0 ||
		    (r = drain(job, ch, &dropped)) != 0)
			return r;
		/* Also when it ends before taking everything: the exit
		 * status says why. */
		if (ssh_channel_is_eof(ch) || ssh_channel_is_closed(ch))
			return 0;
		if (*sent < job->len) {
			n = job->len - *sent;
			if (n > UPLOAD_CHUNK)
				n = UPLOAD_CHUNK;
			if (n > ssh_channel_window_size(ch))
				n = ssh_channel_window_size(ch);
			if (n > 0) {
				if ((w = ssh_channel_write(ch,
					 job->data + *sent, (uint32_t)n)) < 0)
					return MERR_IO;
				*sent += (size_t)w;
				continue;
			}
		} else if (!eof_sent) {
			if (ssh_channel_send_eof(ch) != SSH_OK)
				return MERR_IO;
			eof_sent = true;
		}
		/* Wait for data, a window adjustment or EOF, briefly. */
		if (ssh_channel_poll_timeout(ch, UPLOAD_SLICE_MS, 0) ==
		    SSH_ERROR)
			return MERR_IO;
	}
}

/*
 * A session channel, asked for again when refused: sshd frees the probe's
 * closed session a moment after both sides closed it (MaxSessions 1), and
 * each refusal is the round trip that lets it.
 */
static ssh_channel
open_session(struct upload_job *job)
{
	ssh_channel ch;
	int i;

	for (i = 0; i < OPEN_TRIES; i++) {
		if ((ch = ssh_channel_new(job->session)) == NULL)
			return NULL;
		if (ssh_channel_open_session(ch) == SSH_OK)
			return ch;
		ssh_channel_free(ch);
		if (!ssh_is_connected(job->session) || job_check(job) != 0)
			break;
	}
	if (job->err[0] == '\0')
		snprintf(job->err, sizeof(job->err),
		    "agent upload through exec: %s%s",
		    ssh_get_error(job->session),
		    ssh_is_connected(job->session) ?
			" (the server refused it: sshd's MaxSessions "
			"reached, or sessions not allowed for this user)" :
			"");
	return NULL;
}

/*
 * The agent through an exec channel: written to a temporary name, synced,
 * its size (and its hash where sha256sum is installed) checked, then
 * renamed, all in one /bin/sh. The login shell runs first, and its
 * start-up files may read stdin (a `read` prompt), so the agent's bytes
 * follow BOOTSTRAP_LEAD_IN and a line of its own (UPLOAD_MARK): the
 * command reads lines up to that one, so whatever of the lead-in the
 * profile left is not written into the agent. read takes stdin one byte at
 * a time (a pipe cannot be given back), so dd gets the rest exactly.
 */
static int
upload_exec(struct upload_job *job)
{
	ssh_channel ch;
	char *cmd = NULL, *places, suffix[17];
	size_t sent = 0;
	long slice = UPLOAD_SLICE_S;
	int r = MERR_BOOTSTRAP, status;

	random_suffix(suffix, sizeof(suffix));
	if ((places = places_words(
		 job->agent_dir[0] != '\0' ? job->agent_dir : NULL)) == NULL)
		return MERR_NOMEM;
	/* The place by its number in the probe's list, not by the path the
	 * host told us: nothing from the host goes into a command. */
	if (asprintf(&cmd,
		"exec /bin/sh -c 'umask 077; "
		"set -- %s; shift %d; "
		"d=$1; t=\"$d/.muster-agent-%s.%s\"; "
		"while IFS= read -r l; do [ \"$l\" = " UPLOAD_MARK " ] && "
		"break; done; "
		"sum() { command -v sha256sum >/dev/null 2>&1 || return 0; "
		"set -- $(sha256sum < \"$t\"); [ \"$1\" = %s ]; }; "
		"[ -d \"$d\" ] && dd of=\"$t\" bs=65536 conv=fsync 2>/dev/null "
		"&& set -- $(wc -c < \"$t\") && [ \"$1\" = %zu ] && sum "
		"&& chmod 700 \"$t\" && mv -f \"$t\" \"$d/muster-agent-%s\" "
		"|| { rm -f \"$t\"; exit 1; }'",
		places, job->place - 1, job->sha256, suffix, job->sha256,
		job->len, job->sha256) < 0)
		cmd = NULL;
	free(places);
	if (cmd == NULL)
		return MERR_NOMEM;
	if ((ch = open_session(job)) == NULL)
		goto out;
	if (ssh_channel_request_exec(ch, cmd) != SSH_OK ||
	    ssh_channel_write(ch, BOOTSTRAP_LEAD_IN UPLOAD_MARK "\n",
		(uint32_t)strlen(BOOTSTRAP_LEAD_IN UPLOAD_MARK "\n")) < 0)
		goto fail;
	/* From here on every blocking call returns within a slice, and the
	 * loops below look at the deadline and the cancel flag. */
	ssh_options_set(job->session, SSH_OPTIONS_TIMEOUT, &slice);
	if ((r = exec_feed(job, ch, &sent)) != 0)
		goto fail;
	/* The exit status comes with EOF or just after it. */
	while ((status = ssh_channel_get_exit_status(ch)) == -1 &&
	    !ssh_channel_is_closed(ch) && ssh_is_connected(job->session)) {
		if ((r = job_check(job)) != 0)
			goto close;
	}
	if (status != 0 || sent < job->len) {
		snprintf(job->err, sizeof(job->err),
		    "agent upload through "
		    "exec failed (exit status %d after %zu of %zu bytes)",
		    status, sent, job->len);
		r = MERR_BOOTSTRAP;
		goto close;
	}
	r = 0;
	goto close;
fail:
	/* A cancel or deadline has its own message; so has the noise cap. */
	if (job->err[0] == '\0')
		snprintf(job->err, sizeof(job->err),
		    "agent upload through "
		    "exec: %s",
		    ssh_get_error(job->session));
	if (r == 0 || r == MERR_IO)
		r = MERR_BOOTSTRAP;
close:
	wait_closed(job, ch);
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
	char exec_err[sizeof(job->err)];
	double now = mono_now();

	/* The time in the queue for a worker was not the host's. */
	job->deadline = now + (double)job->timeout_s;
	atomic_store(&job->started_us, (long long)(now * 1e6) + 1);
	ssh_set_blocking(job->session, 1);
	ssh_options_set(job->session, SSH_OPTIONS_TIMEOUT, &job->timeout_s);
	job->via_exec = true;
	/* Exec first: SFTP's packets go through the login shell too (sshd
	 * starts sftp-server with `shell -c`), and a start-up file that
	 * reads stdin eats them, where the exec upload's lead-in feeds it. */
	if ((job->result = job_check(job)) != 0 ||
	    (job->result = upload_exec(job)) == 0 ||
	    job->result == MERR_TIMEOUT || job->skip_sftp)
		goto out;
	/* SFTP for a host whose /bin/sh lacks what the exec upload uses.
	 * Never after talk on stdout: it would be read as SFTP packets (a
	 * length of some hundred MB from a blank line), and sftp_init would
	 * wait for them. */
	snprintf(exec_err, sizeof(exec_err), "%s", job->err);
	ssh_options_set(job->session, SSH_OPTIONS_TIMEOUT, &job->timeout_s);
	sftp = sftp_new(job->session);
	if (sftp != NULL && sftp_init(sftp) == SSH_OK) {
		job->via_exec = false;
		job->err[0] = '\0';
		job->result = upload_sftp(job, sftp);
		wait_closed(job, sftp->channel);
	}
	if (sftp != NULL)
		sftp_free(sftp);
	/* Without a subsystem, the exec upload's reason is the one. */
	if (job->via_exec)
		snprintf(job->err, sizeof(job->err), "%s", exec_err);
out:
	/* Whatever libssh said after a shutdown, the reason is ours. */
	if (job->result != 0)
		job_check(job);
	ssh_options_set(job->session, SSH_OPTIONS_TIMEOUT, &job->timeout_s);
	ssh_set_blocking(job->session, 0);
}
