#include "keyinstall_exec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/server.h> /* ssh_send_keepalive, for clients too */

#include "keyinstall_text.h"
#include "log.h"

/* Re-reads when authorized_keys changes under us between read and rename. */
#define KIX_ATTEMPTS 3
/* The read script's header line, before the file's bytes. */
#define KIX_HEADER_MAX 256
/* What a script may say on stderr that we quote in an error. */
#define KIX_STDERR_MAX 512
/* The write script's exit status when the file changed since we read it. */
#define KIX_CHANGED 5

/*
 * Both scripts run as `sh -c '...'` through the user's login shell: one
 * line, single-quoted, with no quote, backslash or `!` inside, which every
 * common login shell (sh, bash, zsh, fish, tcsh, mksh, busybox ash) passes
 * to sh untouched. sh then does the work with POSIX tools only.
 *
 * The read script makes ~/.ssh (0700) when it is missing and answers one
 * line: D (~/.ssh is not a directory), L (authorized_keys is a symbolic
 * link), O (not a regular file), B (too large), N (no file yet) or
 * "F CRC SIZE PERM" followed by the file's bytes.
 */
#define KIX_READ_SCRIPT                                                      \
	"umask 077; d=.ssh; f=.ssh/authorized_keys; "                        \
	"if [ -h $d ]; then echo D; exit 0; fi; "                            \
	"if [ -e $d ]; then if [ -d $d ]; then :; else echo D; exit 0; fi; " \
	"else mkdir -m 700 $d || exit 2; fi; "                               \
	"if [ -h $f ]; then echo L; exit 0; fi; "                            \
	"if [ -e $f ]; then :; else echo N; exit 0; fi; "                    \
	"if [ -f $f ]; then :; else echo O; exit 0; fi; "                    \
	"c=$(cksum < $f) || exit 2; m=$(ls -ldn $f) || exit 2; "             \
	"set -- $c $m; if [ \"$2\" -gt %d ]; then echo B; exit 0; fi; "      \
	"echo F $1 $2 $3; exec cat $f"

uint32_t
keyinstall_cksum(const char *data, size_t len)
{
	static uint32_t tab[256];
	static int ready;
	uint32_t crc = 0, c;
	size_t i, n;
	int k;

	/* Benign race: every thread computes the same table. */
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i << 24;
			for (k = 0; k < 8; k++)
				c = c & 0x80000000u ?
				    (c << 1) ^ 0x04c11db7u :
				    c << 1;
			tab[i] = c;
		}
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
	for (i = 0; i < len; i++)
		crc = (crc << 8) ^ tab[(crc >> 24) ^ (uint8_t)data[i]];
	/* POSIX appends the length, least significant byte first. */
	for (n = len; n != 0; n >>= 8)
		crc = (crc << 8) ^ tab[(crc >> 24) ^ (n & 0xff)];
	return ~crc;
}

int
keyinstall_parse_mode(const char *perm)
{
	static const char want[] = "rwxrwxrwx";
	int mode = 0, i;

	if (strlen(perm) < 10 || perm[0] != '-')
		return -1;
	for (i = 0; i < 9; i++) {
		char ch = perm[1 + i];

		if (ch == want[i] || (i % 3 == 2 && (ch == 's' || ch == 't')))
			mode |= 1 << (8 - i);
		else if (ch != '-' &&
		    !(i % 3 == 2 && (ch == 'S' || ch == 'T')))
			return -1;
	}
	return mode;
}

/* One script's run: what it printed and how it ended. */
struct kix_run {
	char *out; /* stdout, NUL-terminated */
	size_t outlen;
	char errtext[KIX_STDERR_MAX];
	int status; /* exit status, -1 if none came */
	bool overflow;
};

/*
 * Runs cmd on a channel of its own, feeding it in, and waits until the
 * server has closed that channel (MaxSessions counts it until then).
 */
static int
kix_exec(ssh_session s, const char *cmd, const char *in, size_t inlen,
    size_t outmax, struct kix_run *run, char *err, size_t errlen)
{
	ssh_channel ch;
	char sink[256];
	size_t off, got = 0;
	int n;

	memset(run, 0, sizeof(*run));
	run->status = -1;
	if ((run->out = malloc(outmax + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((ch = ssh_channel_new(s)) == NULL ||
	    ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		snprintf(err, errlen, "cannot run sh over exec: %s",
		    ssh_get_error(s));
		if (ch != NULL)
			ssh_channel_free(ch);
		return -1;
	}
	for (off = 0; off < inlen; off += (size_t)n)
		if ((n = ssh_channel_write(ch, in + off,
			 (uint32_t)(inlen - off))) <= 0) {
			snprintf(err, errlen, "cannot send the new file: %s",
			    ssh_get_error(s));
			ssh_channel_free(ch);
			return -1;
		}
	(void)ssh_channel_send_eof(ch);
	/* A blocking read returns 0 at the remote EOF, or on timeout. */
	while ((n = ssh_channel_read(ch, run->out + run->outlen,
		    (uint32_t)(outmax - run->outlen), 0)) > 0) {
		run->outlen += (size_t)n;
		if (run->outlen == outmax) {
			/* Anything more is a reason to stop; drain it. */
			run->overflow = ssh_channel_read(ch, sink, 1, 0) > 0;
			break;
		}
	}
	run->out[run->outlen] = '\0';
	while (!run->overflow && got < sizeof(run->errtext) - 1 &&
	    (n = ssh_channel_read(ch, run->errtext + got,
		 (uint32_t)(sizeof(run->errtext) - 1 - got), 1)) > 0)
		got += (size_t)n;
	run->errtext[got] = '\0';
	run->errtext[strcspn(run->errtext, "\r\n")] = '\0';
	if (!run->overflow)
		run->status = ssh_channel_get_exit_status(ch);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	/* sshd frees the session after the loop pass that read our close;
	 * a request answered first puts the next open in a later pass. */
	(void)ssh_send_keepalive(s);
	if (run->overflow) {
		snprintf(err, errlen,
		    "authorized_keys read over exec: more "
		    "output than the file can be");
		return -1;
	}
	return 0;
}

static void
kix_run_free(struct kix_run *run)
{
	free(run->out);
	run->out = NULL;
}

/* The old file, as the read script saw it. */
struct kix_old {
	bool exists;
	uint32_t crc;
	uint64_t size;
	int mode;
	const char *data; /* into the run's output */
};

/* "F CRC SIZE PERM": the numbers in decimal, PERM one word. */
static int
kix_header(const char *line, unsigned long *crc, unsigned long long *size,
    char *perm, size_t permlen)
{
	const char *p = line + 1;
	char *end;
	size_t n;

	if (*p != ' ')
		return -1;
	*crc = strtoul(p + 1, &end, 10);
	if (end == p + 1 || *end != ' ')
		return -1;
	p = end + 1;
	*size = strtoull(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	if ((n = strcspn(p, " ")) == 0 || n >= permlen || p[n] != '\0')
		return -1;
	memcpy(perm, p, n + 1);
	return 0;
}

static enum kix_result
kix_read(ssh_session s, struct kix_run *run, struct kix_old *old, bool *retry,
    char *err, size_t errlen)
{
	char cmd[1024], perm[32], *nl;
	unsigned long crc;
	unsigned long long size;

	*retry = false;
	memset(old, 0, sizeof(*old));
	snprintf(cmd, sizeof(cmd), "sh -c '" KIX_READ_SCRIPT "'",
	    KEYINSTALL_FILE_MAX);
	if (kix_exec(s, cmd, NULL, 0, KEYINSTALL_FILE_MAX + KIX_HEADER_MAX,
		run, err, errlen) != 0)
		return KIX_FAILED;
	if (run->status != 0 || (nl = strchr(run->out, '\n')) == NULL) {
		snprintf(err, errlen,
		    "reading ~/.ssh/authorized_keys over exec failed "
		    "(exit %d)%s%s",
		    run->status, run->errtext[0] ? ": " : "", run->errtext);
		return KIX_FAILED;
	}
	*nl = '\0';
	switch (run->out[0]) {
	case 'D':
		snprintf(err, errlen,
		    "~/.ssh is not a directory; not touching it");
		return KIX_FAILED;
	case 'L':
		snprintf(err, errlen,
		    "~/.ssh/authorized_keys is a symbolic link; not replacing "
		    "it (add the key to its target by hand)");
		return KIX_FAILED;
	case 'O':
		snprintf(err, errlen,
		    "~/.ssh/authorized_keys is not a regular file");
		return KIX_FAILED;
	case 'B':
		snprintf(err, errlen,
		    "~/.ssh/authorized_keys is larger than %d bytes; not "
		    "rewriting it",
		    KEYINSTALL_FILE_MAX);
		return KIX_FAILED;
	case 'N':
		if (run->out[1] != '\0')
			break;
		old->mode = 0600;
		return KIX_INSTALLED;
	case 'F':
		if (kix_header(run->out, &crc, &size, perm, sizeof(perm)) !=
			0 ||
		    crc > UINT32_MAX ||
		    (old->mode = keyinstall_parse_mode(perm)) < 0)
			break;
		old->exists = true;
		old->crc = (uint32_t)crc;
		old->size = size;
		old->data = nl + 1;
		/* Keep the owner's mode, never writable by others: sshd's
		 * StrictModes would then ignore the file. */
		old->mode = (old->mode & 0755) & ~022;
		/* Changed between cksum and cat: read it again. */
		*retry = (size_t)(run->out + run->outlen - old->data) !=
			size ||
		    keyinstall_cksum(old->data, size) != old->crc;
		return KIX_INSTALLED;
	default: break;
	}
	snprintf(err, errlen,
	    "reading ~/.ssh/authorized_keys over exec: unexpected answer "
	    "from sh");
	return KIX_FAILED;
}

/*
 * The write script: the new bytes from stdin into a temporary file made
 * with noclobber (O_EXCL), their cksum checked, mode set, fsync'd (sync
 * FILE is an fsync in GNU and busybox; plain sync where it is not), the
 * old file compared with what we read, and only then mv.
 */
static enum kix_result
kix_write(ssh_session s, const char *tmp, const char *data, size_t len,
    const struct kix_old *old, bool *retry, char *err, size_t errlen)
{
	char cmd[2048], check[256];
	struct kix_run run;

	*retry = false;
	if (old->exists)
		snprintf(check, sizeof(check),
		    "if [ -h $f ]; then rm -f $t; exit %d; fi; "
		    "c=$(cksum < $f) || { rm -f $t; exit %d; }; set -- $c; "
		    "if [ \"$1 $2\" = \"%" PRIu32 " %" PRIu64 "\" ]; then :; "
		    "else rm -f $t; exit %d; fi; ",
		    KIX_CHANGED, KIX_CHANGED, old->crc, old->size,
		    KIX_CHANGED);
	else
		snprintf(check, sizeof(check),
		    "if [ -e $f ] || [ -h $f ]; then rm -f $t; exit %d; fi; ",
		    KIX_CHANGED);
	snprintf(cmd, sizeof(cmd),
	    "sh -c 'umask 077; set -C; f=.ssh/authorized_keys; t=%s; "
	    "cat > $t || { rm -f $t; exit 3; }; "
	    "c=$(cksum < $t) || { rm -f $t; exit 3; }; set -- $c; "
	    "if [ \"$1 $2\" = \"%" PRIu32 " %zu\" ]; then :; "
	    "else rm -f $t; echo the new file arrived incomplete >&2; "
	    "exit 4; fi; "
	    "chmod %o $t || { rm -f $t; exit 3; }; "
	    "sync $t 2>/dev/null || sync; "
	    "%s"
	    "mv -f $t $f || { rm -f $t; exit 6; }; "
	    "sync .ssh 2>/dev/null; exit 0'",
	    tmp, keyinstall_cksum(data, len), len, (unsigned)old->mode, check);
	if (kix_exec(s, cmd, data, len, 64, &run, err, errlen) != 0) {
		kix_run_free(&run);
		return KIX_FAILED;
	}
	kix_run_free(&run);
	if (run.status == KIX_CHANGED) {
		*retry = true;
		return KIX_INSTALLED;
	}
	if (run.status != 0) {
		snprintf(err, errlen,
		    "writing ~/.ssh/authorized_keys over exec failed "
		    "(exit %d)%s%s",
		    run.status, run.errtext[0] ? ": " : "", run.errtext);
		return KIX_FAILED;
	}
	return KIX_INSTALLED;
}

enum kix_result
keyinstall_exec(ssh_session session, const char *line, const char *type,
    const char *b64, const char *tmpname, char *err, size_t errlen)
{
	struct kix_run run = { 0 };
	struct kix_old old;
	enum kix_result r = KIX_FAILED;
	char *data = NULL;
	size_t len;
	bool retry;
	int attempt;

	for (attempt = 0; attempt < KIX_ATTEMPTS; attempt++) {
		kix_run_free(&run);
		free(data);
		data = NULL;
		if ((r = kix_read(session, &run, &old, &retry, err, errlen)) !=
		    KIX_INSTALLED)
			goto out;
		if (retry)
			continue;
		if (old.exists &&
		    keyinstall_has_key(old.data, old.size, type, b64)) {
			r = KIX_PRESENT;
			goto out;
		}
		if (keyinstall_append(old.exists ? old.data : NULL,
			old.exists ? old.size : 0, line, &data, &len) != 0) {
			snprintf(err, errlen, "out of memory");
			r = KIX_FAILED;
			goto out;
		}
		r = kix_write(session, tmpname, data, len, &old, &retry, err,
		    errlen);
		if (r != KIX_INSTALLED || !retry)
			goto out;
		log_debug(
		    "authorized_keys changed while we updated it; again");
	}
	snprintf(err, errlen,
	    "~/.ssh/authorized_keys kept changing while we tried to update "
	    "it");
	r = KIX_FAILED;
out:
	kix_run_free(&run);
	free(data);
	return r;
}
