/* known_hosts files indexed once per version; see khindex.h. */
#include "khindex.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "array.h"
#include "err.h"
#include "sshfile.h"

/* Files indexed at once: the user's, the global one, and a few more
 * (keys install, tests); the least recently used makes room. */
#define KH_SLOTS 4
#define KH_NIL UINT32_MAX
#define KH_NAME_MAX 1100

struct khline {
	unsigned lineno;
	char *text;	  /* the line, cut into its fields */
	const char *host; /* first field */
	const char *type, *b64;
	ssh_key key; /* parsed on first use */
	bool hashed; /* host is "|1|salt|hmac", salt and mac decoded */
	unsigned char salt[20], mac[20];
};

/* A plain name of a line, in a chained hash table. */
struct khname {
	char *name;
	uint32_t line;
	uint32_t next;
};

struct khfile {
	char *path;
	char *shown; /* the name in verdicts, when not path (khindex_memory) */
	/* While khindex_memory indexes: line i's number is linemap[i]. */
	const uint32_t *linemap;
	size_t nlinemap;
	bool valid; /* st and the index describe the file now */
	struct stat st;
	int err; /* sshfile_check's verdict on this version */
	char errmsg[512];
	bool ends_nl; /* an append starts a line of its own */
	unsigned nlines_read;
	struct khline *lines;
	size_t nlines, caplines;
	struct khname *names;
	size_t nnames, capnames;
	uint32_t *bucket;
	size_t nbucket; /* a power of two, or 0 */
	uint32_t *scan; /* lines with patterns or a hashed name */
	size_t nscan, capscan;
	unsigned long used;
};

static struct khfile files[KH_SLOTS];
/* khindex_memory's index: never read from, stat'd or written to a file. */
static struct khfile mem;
static unsigned long use_clock;
static pthread_mutex_t kh_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t
name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
kh_clear(struct khfile *f)
{
	size_t i;

	for (i = 0; i < f->nlines; i++) {
		free(f->lines[i].text);
		ssh_key_free(f->lines[i].key);
	}
	for (i = 0; i < f->nnames; i++)
		free(f->names[i].name);
	free(f->lines);
	free(f->names);
	free(f->bucket);
	free(f->scan);
	free(f->path);
	free(f->shown);
	memset(f, 0, sizeof(*f));
}

static int
kh_rehash(struct khfile *f, size_t nb)
{
	uint32_t *b;
	size_t i, slot;

	if ((b = malloc(nb * sizeof(*b))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < nb; i++)
		b[i] = KH_NIL;
	for (i = 0; i < f->nnames; i++) {
		slot = name_hash(f->names[i].name) & (nb - 1);
		f->names[i].next = b[slot];
		b[slot] = (uint32_t)i;
	}
	free(f->bucket);
	f->bucket = b;
	f->nbucket = nb;
	return 0;
}

static int
kh_add_name(struct khfile *f, const char *name, size_t len, uint32_t line)
{
	struct khname *n;
	size_t i, slot;
	int r;

	if (len >= KH_NAME_MAX)
		return 0; /* longer than any name looked up */
	if ((r = ARRAY_RESERVE(f->names, f->capnames, f->nnames + 1, 64)) != 0)
		return r;
	if (f->nnames + 1 > f->nbucket &&
	    (r = kh_rehash(f, f->nbucket ? f->nbucket * 2 : 64)) != 0)
		return r;
	n = &f->names[f->nnames];
	if ((n->name = malloc(len + 1)) == NULL)
		return MERR_NOMEM;
	/* libssh lowercases the patterns it compares with. */
	for (i = 0; i < len; i++)
		n->name[i] = (char)tolower((unsigned char)name[i]);
	n->name[len] = '\0';
	n->line = line;
	slot = name_hash(n->name) & (f->nbucket - 1);
	n->next = f->bucket[slot];
	f->bucket[slot] = (uint32_t)f->nnames++;
	return 0;
}

/* "|1|salt|hmac", both 20 bytes in base64 (28 characters, which decode
 * to 21 with the padding). Anything else never matches, as in libssh. */
static bool
kh_decode_hashed(struct khline *l)
{
	unsigned char buf[2][24];
	const char *s = l->host + 3, *bar = strchr(s, '|');

	if (bar == NULL || bar - s != 28 || strlen(bar + 1) != 28 ||
	    EVP_DecodeBlock(buf[0], (const unsigned char *)s, 28) != 21 ||
	    EVP_DecodeBlock(buf[1], (const unsigned char *)bar + 1, 28) != 21)
		return false;
	memcpy(l->salt, buf[0], 20);
	memcpy(l->mac, buf[1], 20);
	return true;
}

/* One line of the file (without its newline): indexed when it can name a
 * host. */
static int
kh_add_line(struct khfile *f, const char *line, unsigned lineno)
{
	struct khline *l;
	const char *p, *q, *end;
	char *save = NULL;
	bool scan = false;
	uint32_t idx;
	int r;

	for (p = line; isspace((unsigned char)*p); p++)
		;
	if (*p == '\0' || *p == '#' || *p == '@')
		return 0;
	if ((r = ARRAY_RESERVE(f->lines, f->caplines, f->nlines + 1, 64)) != 0)
		return r;
	l = &f->lines[f->nlines];
	memset(l, 0, sizeof(*l));
	l->lineno = lineno;
	if ((l->text = strdup(line)) == NULL)
		return MERR_NOMEM;
	/* libssh splits at spaces only. */
	l->host = strtok_r(l->text, " ", &save);
	l->type = strtok_r(NULL, " ", &save);
	l->b64 = strtok_r(NULL, " ", &save);
	if (l->host == NULL) {
		free(l->text);
		return 0;
	}
	idx = (uint32_t)f->nlines++;
	if (strncmp(l->host, "|1|", 3) == 0) {
		l->hashed = kh_decode_hashed(l);
		scan = true;
	}
	for (p = l->host; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ",");
		if (*p == '!' || *p == '|' || end == p)
			continue; /* negated: never a match in libssh */
		for (q = p; q < end && *q != '*' && *q != '?'; q++)
			;
		if (q < end)
			scan = true;
		else if ((r = kh_add_name(f, p, (size_t)(end - p), idx)) != 0)
			return r;
	}
	if (scan) {
		if ((r = ARRAY_RESERVE(f->scan, f->capscan, f->nscan + 1,
			 16)) != 0)
			return r;
		f->scan[f->nscan++] = idx;
	}
	return 0;
}

/* Index the lines of buf[0..len). */
static int
kh_add_text(struct khfile *f, char *buf, size_t len)
{
	char *p = buf, *nl, *end = buf + len;
	unsigned lineno;
	int r;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		*nl = '\0';
		lineno = ++f->nlines_read;
		if (lineno <= f->nlinemap)
			lineno = f->linemap[lineno - 1];
		if ((r = kh_add_line(f, p, lineno)) != 0)
			return r;
		p = nl + 1;
	}
	f->ends_nl = len == 0 || buf[len - 1] == '\n';
	return 0;
}

static bool
kh_same(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Read the file into f (path set, the rest empty). */
static int
kh_build(struct khfile *f, const struct stat *st)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	f->st = *st;
	f->ends_nl = true;
	f->err = sshfile_check("known_hosts", f->path, SSHFILE_KNOWN_HOSTS,
	    f->errmsg, sizeof(f->errmsg));
	if (f->err != 0 || !S_ISREG(st->st_mode))
		return 0;
	if ((fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
		goto io;
	if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
		close(fd);
		return MERR_NOMEM;
	}
	while (len < (size_t)st->st_size &&
	    ((n = read(fd, buf + len, (size_t)st->st_size - len)) > 0 ||
		(n < 0 && errno == EINTR)))
		len += n > 0 ? (size_t)n : 0;
	close(fd);
	r = kh_add_text(f, buf, len);
	free(buf);
	return r;
io:
	snprintf(f->errmsg, sizeof(f->errmsg),
	    "known_hosts %s: cannot read: %s", f->path, strerror(errno));
	f->err = MERR_IO;
	return 0;
}

/* The index of path as the file is now (under kh_lock). NULL with *r 0:
 * no such file, which holds nothing. */
static struct khfile *
kh_get(const char *path, int *r)
{
	struct khfile *f = NULL;
	struct stat st;
	size_t i;

	*r = 0;
	if (mem.path != NULL && strcmp(mem.path, path) == 0)
		return &mem;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return NULL;
		/* sshfile_check words it. */
		memset(&st, 0, sizeof(st));
	}
	for (i = 0; i < KH_SLOTS; i++)
		if (files[i].path != NULL && strcmp(files[i].path, path) == 0)
			f = &files[i];
	if (f != NULL && f->valid && kh_same(&f->st, &st)) {
		f->used = ++use_clock;
		return f;
	}
	if (f == NULL) {
		f = &files[0];
		for (i = 1; i < KH_SLOTS; i++)
			if (files[i].used < f->used)
				f = &files[i];
	}
	kh_clear(f);
	f->used = ++use_clock;
	if ((f->path = strdup(path)) == NULL || (*r = kh_build(f, &st)) != 0) {
		kh_clear(f);
		*r = MERR_NOMEM;
		return NULL;
	}
	f->valid = st.st_ino != 0;
	return f;
}

/* libssh's match_pattern: * and ? over an already lowercased name. */
static bool
kh_glob(const char *s, const char *p, size_t plen)
{
	while (plen > 0) {
		if (*p == '*') {
			for (; plen > 0 && *p == '*'; p++, plen--)
				;
			if (plen == 0)
				return true;
			for (; *s != '\0'; s++)
				if (kh_glob(s, p, plen))
					return true;
			return false;
		}
		if (*s == '\0' ||
		    (*p != '?' && tolower((unsigned char)*p) != *s))
			return false;
		s++, p++, plen--;
	}
	return *s == '\0';
}

static bool
kh_hashed_match(const struct khline *l, const char *name)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;

	return l->hashed &&
	    HMAC(EVP_sha1(), l->salt, sizeof(l->salt),
		(const unsigned char *)name, strlen(name), mac, &maclen) !=
	    NULL &&
	    maclen == 20 && memcmp(mac, l->mac, 20) == 0;
}

/* A scanned line's first field against name (alt: "[name]:22"). */
static bool
kh_scan_match(const struct khline *l, const char *name, const char *alt)
{
	const char *p, *end;

	if (strncmp(l->host, "|1|", 3) == 0 && kh_hashed_match(l, name))
		return true;
	for (p = l->host; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ",");
		if (*p == '!' || end == p)
			continue;
		if (kh_glob(*p == '[' && alt != NULL ? alt : name, p,
			(size_t)(end - p)))
			return true;
	}
	return false;
}

struct kh_acc {
	ssh_key key;
	struct khline *ok, *same_type, *first, *bad;
};

static void
kh_consider(struct kh_acc *a, struct khline *l)
{
	enum ssh_keytypes_e t;

	if (l->key == NULL) {
		t = l->type != NULL ?
		    ssh_key_type_from_name(l->type) :
		    SSH_KEYTYPE_UNKNOWN;
		if (t == SSH_KEYTYPE_UNKNOWN || l->b64 == NULL ||
		    ssh_pki_import_pubkey_base64(l->b64, t, &l->key) !=
			SSH_OK) {
			l->key = NULL;
			if (a->bad == NULL || l->lineno < a->bad->lineno)
				a->bad = l;
			return;
		}
	}
	if (ssh_key_cmp(a->key, l->key, SSH_KEY_CMP_PUBLIC) == 0) {
		if (a->ok == NULL || l->lineno < a->ok->lineno)
			a->ok = l;
		return;
	}
	if (ssh_key_type(a->key) == ssh_key_type(l->key) &&
	    (a->same_type == NULL || l->lineno < a->same_type->lineno))
		a->same_type = l;
	if (a->first == NULL || l->lineno < a->first->lineno)
		a->first = l;
}

static void
kh_chain(struct khfile *f, struct kh_acc *a, const char *name)
{
	uint32_t i;

	if (f->nbucket == 0)
		return;
	for (i = f->bucket[name_hash(name) & (f->nbucket - 1)]; i != KH_NIL;
	     i = f->names[i].next)
		if (strcmp(f->names[i].name, name) == 0)
			kh_consider(a, &f->lines[f->names[i].line]);
}

/* One file's answer: 0 with v, MERR_PARSE with v naming the bad line. */
static int
kh_file_lookup(struct khfile *f, const char *name, const char *alt,
    ssh_key key, struct kh_verdict *v)
{
	struct kh_acc a = { key, NULL, NULL, NULL, NULL };
	struct khline *at;
	size_t i;

	kh_chain(f, &a, name);
	if (alt != NULL)
		kh_chain(f, &a, alt);
	for (i = 0; i < f->nscan; i++)
		if (kh_scan_match(&f->lines[f->scan[i]], name, alt))
			kh_consider(&a, &f->lines[f->scan[i]]);
	at = a.bad ? a.bad : a.ok ? a.ok : a.same_type ? a.same_type : a.first;
	v->match = a.ok ? KH_OK : a.first ? KH_CHANGED : KH_NONE;
	v->line = at ? at->lineno : 0;
	snprintf(v->file, sizeof(v->file), "%s",
	    f->shown != NULL ? f->shown : f->path);
	return a.bad != NULL ? MERR_PARSE : 0;
}

static int
kh_lookup_locked(const char *path, const char *name, const char *alt,
    ssh_key key, struct kh_verdict *v, char *err, size_t errlen)
{
	struct khfile *f;
	int r;

	memset(v, 0, sizeof(*v));
	v->match = KH_NONE;
	if (path == NULL)
		return 0;
	if ((f = kh_get(path, &r)) == NULL) {
		if (r != 0)
			snprintf(err, errlen, "known_hosts %s: out of memory",
			    path);
		return r;
	}
	if (f->err != 0) {
		snprintf(err, errlen, "%s", f->errmsg);
		return f->err;
	}
	r = kh_file_lookup(f, name, alt, key, v);
	if (r == MERR_PARSE)
		snprintf(err, errlen,
		    "known_hosts %s:%u: cannot parse the entry "
		    "for this host",
		    v->file, v->line);
	return r;
}

int
khindex_lookup(const char *user, const char *global, const char *name,
    ssh_key key, struct kh_verdict *v, char *err, size_t errlen)
{
	char low[KH_NAME_MAX], alt[KH_NAME_MAX + 8];
	struct kh_verdict g;
	size_t i;
	int r;

	if (strlen(name) >= sizeof(low)) {
		snprintf(err, errlen, "host name too long for known_hosts");
		return MERR_LIMIT;
	}
	for (i = 0; name[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	/* A "[host]:22" line names the host on port 22 too. */
	snprintf(alt, sizeof(alt), "[%s]:22", low);
	pthread_mutex_lock(&kh_lock);
	r = kh_lookup_locked(user, low, low[0] == '[' ? NULL : alt, key, v,
	    err, errlen);
	if (r == 0 && v->match != KH_OK &&
	    (r = kh_lookup_locked(global, low, low[0] == '[' ? NULL : alt, key,
		 &g, err, errlen)) == 0 &&
	    g.match != KH_NONE)
		*v = g;
	pthread_mutex_unlock(&kh_lock);
	return r;
}

/* The directory of path, created 0700 when missing (one level, as libssh
 * does before it appends). */
static void
kh_mkdir_parent(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir) ||
	    (slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	(void)mkdir(dir, 0700);
}

int
khindex_append(const char *path, const char *line, char *err, size_t errlen)
{
	struct khfile *f = NULL;
	struct stat before, after;
	size_t i, len = strlen(line);
	bool have_before;
	char *copy;
	int fd, r = 0;

	pthread_mutex_lock(&kh_lock);
	if (mem.path != NULL && strcmp(mem.path, path) == 0) {
		pthread_mutex_unlock(&kh_lock);
		snprintf(err, errlen,
		    "cannot record host key in %s: it is read-only", path);
		return MERR_IO;
	}
	for (i = 0; i < KH_SLOTS; i++)
		if (files[i].path != NULL && strcmp(files[i].path, path) == 0)
			f = &files[i];
	have_before = stat(path, &before) == 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		kh_mkdir_parent(path);
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0600);
	}
	if (fd < 0 || write(fd, line, len) != (ssize_t)len || fsync(fd) != 0 ||
	    fstat(fd, &after) != 0) {
		snprintf(err, errlen, "cannot record host key in %s: %s", path,
		    strerror(errno));
		r = MERR_IO;
	}
	if (fd >= 0)
		close(fd);
	if (f == NULL)
		goto out;
	/* Our line alone went in after the version indexed: index it; any
	 * other change (or a line it joins) reads the file again. */
	if (r != 0 || !have_before || !f->valid || f->err != 0 ||
	    !f->ends_nl || !kh_same(&f->st, &before) ||
	    after.st_size != before.st_size + (off_t)len ||
	    (copy = strdup(line)) == NULL) {
		f->valid = false;
		goto out;
	}
	if (kh_add_text(f, copy, len) != 0)
		f->valid = false;
	else
		f->st = after;
	free(copy);
out:
	pthread_mutex_unlock(&kh_lock);
	return r;
}

void
khindex_flush(void)
{
	size_t i;

	pthread_mutex_lock(&kh_lock);
	for (i = 0; i < KH_SLOTS; i++)
		kh_clear(&files[i]);
	kh_clear(&mem);
	pthread_mutex_unlock(&kh_lock);
}

int
khindex_memory(const char *name, const char *text, const char *shown,
    const uint32_t *lines, size_t nlines, char *err, size_t errlen)
{
	size_t len = strlen(text);
	char *buf;
	int r;

	pthread_mutex_lock(&kh_lock);
	kh_clear(&mem);
	mem.ends_nl = true;
	mem.linemap = lines;
	mem.nlinemap = nlines;
	if ((mem.path = strdup(name)) == NULL ||
	    (shown != NULL && (mem.shown = strdup(shown)) == NULL) ||
	    (buf = malloc(len + 1)) == NULL) {
		kh_clear(&mem);
		pthread_mutex_unlock(&kh_lock);
		snprintf(err, errlen, "known_hosts %s: out of memory", name);
		return MERR_NOMEM;
	}
	memcpy(buf, text, len + 1);
	/* The lines keep copies of their own: buf goes. */
	r = kh_add_text(&mem, buf, len);
	mem.linemap = NULL;
	mem.nlinemap = 0;
	free(buf);
	if (r != 0) {
		kh_clear(&mem);
		snprintf(err, errlen, "known_hosts %s: %s", name, merr_str(r));
	} else
		mem.valid = true;
	pthread_mutex_unlock(&kh_lock);
	return r;
}

void
khindex_shown(const char *path, char *out, size_t outlen)
{
	pthread_mutex_lock(&kh_lock);
	snprintf(out, outlen, "%s",
	    mem.shown != NULL && path != NULL && mem.path != NULL &&
		    strcmp(mem.path, path) == 0 ?
		mem.shown :
		path != NULL ? path :
			       "");
	pthread_mutex_unlock(&kh_lock);
}

/* Append the algorithms that verify a key of this known_hosts type, once
 * each ("ssh-rsa" keys sign with rsa-sha2-* too, as libssh lists them). */
static void
kh_add_algs(const char *type, char *out, size_t outlen)
{
	const char *algs = strcmp(type, "ssh-rsa") == 0 ?
	    "rsa-sha2-512,rsa-sha2-256,ssh-rsa" :
	    type;
	char want[64];
	size_t n = strlen(out), len = strlen(algs);

	snprintf(want, sizeof(want), ",%s,", type);
	if (strstr(out, want) != NULL || n + len + 2 >= outlen)
		return;
	/* out is kept ",a,b," while building; the caller trims it. */
	if (n == 0)
		out[n++] = ',';
	snprintf(out + n, outlen - n, "%s,", algs);
}

int
khindex_memory_algs(const char *path, const char *name, char *out,
    size_t outlen)
{
	char low[KH_NAME_MAX], alt[KH_NAME_MAX + 8];
	const char *a;
	uint32_t b;
	size_t i, n;

	if (outlen < 2)
		return 0;
	out[0] = '\0';
	if (strlen(name) >= sizeof(low))
		return 0;
	for (i = 0; name[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[i] = '\0';
	snprintf(alt, sizeof(alt), "[%s]:22", low);
	a = low[0] == '[' ? NULL : alt;
	pthread_mutex_lock(&kh_lock);
	if (mem.path == NULL || path == NULL || strcmp(mem.path, path) != 0) {
		pthread_mutex_unlock(&kh_lock);
		return 0;
	}
	for (n = 0; mem.nbucket > 0 && n < 2; n++) {
		const char *want = n == 0 ? low : a;

		if (want == NULL)
			continue;
		for (b = mem.bucket[name_hash(want) & (mem.nbucket - 1)];
		     b != KH_NIL; b = mem.names[b].next)
			if (strcmp(mem.names[b].name, want) == 0 &&
			    mem.lines[mem.names[b].line].type != NULL)
				kh_add_algs(mem.lines[mem.names[b].line].type,
				    out, outlen);
	}
	for (i = 0; i < mem.nscan; i++)
		if (mem.lines[mem.scan[i]].type != NULL &&
		    kh_scan_match(&mem.lines[mem.scan[i]], low, a))
			kh_add_algs(mem.lines[mem.scan[i]].type, out, outlen);
	pthread_mutex_unlock(&kh_lock);
	/* ",a,b," -> "a,b" */
	if ((n = strlen(out)) < 2) {
		out[0] = '\0';
		return 0;
	}
	memmove(out, out + 1, n - 2);
	out[n - 2] = '\0';
	return 1;
}
