/*
 * The JSON writer: one object per host per line (run --json), and the
 * helpers push, pull and watch use for theirs. Split from output.c.
 */
#include "output.h"
#include "utf8.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Bytes per EVP_EncodeBlock call: it takes an int, and whole 3-byte
 * groups keep the pieces of the encoding joinable. */
#define B64_CHUNK (3 * 64 * 1024)

/* A JSON string for our own texts; bytes that are not UTF-8 become
 * U+FFFD rather than losing the whole message. */
static json_t *
json_text(const char *s)
{
	struct buf b;
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s), i, seq;
	uint32_t cp;
	json_t *v;

	if ((v = json_string(s)) != NULL)
		return v;
	buf_init(&b, 3 * n + 1);
	for (i = 0; i < n; i += seq) {
		if (p[i] < 0x80)
			seq = 1;
		else if ((seq = utf8_seq(p + i, n - i, &cp)) == 0) {
			if (buf_append(&b, "\xef\xbf\xbd", 3) != 0)
				break;
			seq = 1;
			continue;
		}
		if (buf_append(&b, p + i, seq) != 0)
			break;
	}
	v = i == n ?
	    json_stringn(buf_len(&b) ? (const char *)buf_ptr(&b) : "",
		buf_len(&b)) :
	    NULL;
	buf_free(&b);
	return v;
}

static json_t *
json_base64(const uint8_t *p, size_t n)
{
	size_t chunk, len = 0;
	json_t *v;
	char *s;

	if (n > SIZE_MAX / 4 - 3)
		return NULL;
	if ((s = malloc((n + 2) / 3 * 4 + 1)) == NULL)
		return NULL;
	for (; n > 0; p += chunk, n -= chunk) {
		chunk = n < B64_CHUNK ? n : B64_CHUNK;
		len += (size_t)EVP_EncodeBlock((unsigned char *)s + len, p,
		    (int)chunk);
	}
	s[len] = '\0';
	v = json_stringn_nocheck(s, len);
	free(s);
	return v;
}

/*
 * json_stringn accepts embedded NUL (and checks UTF-8), but many JSON
 * consumers cut strings at NUL, so such output goes as base64 too.
 */
static int
json_set_capture(json_t *obj, const char *key, const struct buf *b,
    bool truncated)
{
	const uint8_t *p = (const uint8_t *)"";
	size_t n = 0;
	json_t *v = NULL;
	char k[32];

	if (b != NULL && buf_len(b) > 0) {
		p = buf_ptr(b);
		n = buf_len(b);
	}
	if (memchr(p, '\0', n) == NULL)
		v = json_stringn((const char *)p, n);
	if (v != NULL) {
		if (json_object_set_new(obj, key, v) != 0)
			return -1;
	} else {
		snprintf(k, sizeof(k), "%s_b64", key);
		if (json_object_set_new(obj, key, json_null()) != 0 ||
		    json_object_set_new(obj, k, json_base64(p, n)) != 0)
			return -1;
	}
	snprintf(k, sizeof(k), "%s_truncated", key);
	if (truncated && json_object_set_new(obj, k, json_true()) != 0)
		return -1;
	return 0;
}

char *
output_json_object(const struct host_result *res, const struct output_host *h)
{
	const char *signame = NULL;
	char *s = NULL;
	json_t *obj;
	int fail = 0;

	if ((obj = json_object()) == NULL)
		return NULL;
	if (res->signal != 0)
		signame = sigabbrev_np(res->signal);
	fail |= json_object_set_new(obj, "host",
	    json_text(res->host_name != NULL ? res->host_name :
		    res->host != NULL	     ? res->host :
					       ""));
	/* The command by itself, not folded into the host's name. */
	if (res->command != NULL) {
		fail |= json_object_set_new(obj, "command",
		    json_text(res->command));
		fail |= json_object_set_new(obj, "command_index",
		    json_integer(res->command_index));
	}
	fail |= json_object_set_new(obj, "status",
	    json_string(host_status_str(res->status)));
	fail |= json_object_set_new(obj, "exit_code",
	    res->exit_code >= 0 ? json_integer(res->exit_code) : json_null());
	fail |= json_object_set_new(obj, "signal",
	    res->signal != 0 ? json_integer(res->signal) : json_null());
	fail |= json_object_set_new(obj, "signal_name",
	    signame != NULL ? json_string(signame) : json_null());
	fail |= json_set_capture(obj, "stdout", h ? &h->capture[0] : NULL,
	    h ? h->truncated[0] : false);
	fail |= json_set_capture(obj, "stderr", h ? &h->capture[1] : NULL,
	    h ? h->truncated[1] : false);
	fail |= json_object_set_new(obj, "duration_ms",
	    json_integer(res->duration_ms));
	fail |= json_object_set_new(obj, "error",
	    res->error != NULL ? json_text(res->error) : json_null());
	if (fail == 0)
		s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(obj);
	return s;
}

int
output_json_line(FILE *f, json_t *o)
{
	char *s;
	int e = 0;

	if (o == NULL)
		return ENOMEM;
	errno = 0;
	/* 15 significant digits: 1.57, not 1.5700000000000001, and a
	 * timestamp keeps its milliseconds. */
	if ((s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15))) ==
	    NULL)
		e = ENOMEM;
	else if (fprintf(f, "%s\n", s) < 0 || fflush(f) != 0)
		e = errno != 0 ? errno : EIO;
	free(s);
	json_decref(o);
	return e;
}

json_t *
output_json_text(const char *s)
{
	return json_text(s);
}
