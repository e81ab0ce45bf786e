/* Host certificates under @cert-authority; see hostcert.h. */
#include "hostcert.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sshfile.h"

#define HOSTCERT_MAX_CAS 16

struct hostcert_cas {
	ssh_key key[HOSTCERT_MAX_CAS];
	size_t n;
};

/* A "|1|salt|hash" pattern: HMAC-SHA1(salt, name) == hash. */
static bool
hashed_match(const char *pat, const char *name)
{
	unsigned char salt[64], want[64], mac[EVP_MAX_MD_SIZE];
	char s64[128], h64[128];
	const char *bar;
	unsigned int maclen = 0;

	if ((bar = strchr(pat + 3, '|')) == NULL ||
	    (size_t)(bar - (pat + 3)) >= sizeof(s64) ||
	    strlen(bar + 1) >= sizeof(h64))
		return false;
	memcpy(s64, pat + 3, (size_t)(bar - (pat + 3)));
	s64[bar - (pat + 3)] = '\0';
	snprintf(h64, sizeof(h64), "%s", bar + 1);
	/* 20 bytes: 28 base64 characters, which decode to 21 (checked
	 * first: the buffers hold no more). */
	if (strlen(s64) != 28 || strlen(h64) != 28 ||
	    EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64)) !=
		21 ||
	    EVP_DecodeBlock(want, (unsigned char *)h64, (int)strlen(h64)) !=
		21)
		return false;
	if (HMAC(EVP_sha1(), salt, 20, (const unsigned char *)name,
		strlen(name), mac, &maclen) == NULL ||
	    maclen != 20)
		return false;
	return memcmp(mac, want, 20) == 0;
}

/* OpenSSH's match_pattern: '*' and '?' only, case-insensitive. Not
 * fnmatch: "[host]:port" is a name there, not a bracket expression. */
static bool
glob_match(const char *p, const char *s)
{
	for (; *p != '\0'; p++, s++) {
		if (*p == '*') {
			while (p[1] == '*')
				p++;
			if (p[1] == '\0')
				return true;
			for (; *s != '\0'; s++)
				if (glob_match(p + 1, s))
					return true;
			return false;
		}
		if (*s == '\0' ||
		    (*p != '?' &&
			tolower((unsigned char)*p) !=
			    tolower((unsigned char)*s)))
			return false;
	}
	return *s == '\0';
}

/* OpenSSH's host pattern list: a match, and no negated match. */
bool
hostcert_patterns_match(char *list, const char *name)
{
	char *p, *save = NULL;
	bool hit = false;

	for (p = strtok_r(list, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		bool neg = *p == '!';
		bool m;

		if (neg)
			p++;
		if (strncmp(p, "|1|", 3) == 0)
			m = hashed_match(p, name);
		else
			m = glob_match(p, name);
		if (m && neg)
			return false;
		hit = hit || m;
	}
	return hit;
}

/*
 * Files seen to hold no @cert-authority line at all, as they were then.
 * Every host's check reads the known_hosts files: with one line per host
 * that is O(n) per host, O(n^2) per run (a third of the controller's CPU
 * at 5,000 hosts). A file whose identity, size, mtime and ctime are
 * unchanged is not read again; any change reads it anew.
 */
#define HOSTCERT_NOCA_SLOTS 4
struct hostcert_noca {
	char path[1100];
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
};
static struct hostcert_noca noca[HOSTCERT_NOCA_SLOTS];
static size_t noca_next;
static pthread_mutex_t noca_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
noca_same(const struct hostcert_noca *e, const char *path,
    const struct stat *st)
{
	return strcmp(e->path, path) == 0 && e->dev == st->st_dev &&
	    e->ino == st->st_ino && e->size == st->st_size &&
	    e->mtime.tv_sec == st->st_mtim.tv_sec &&
	    e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
	    e->ctime.tv_sec == st->st_ctim.tv_sec &&
	    e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static bool
noca_known(const char *path, const struct stat *st)
{
	bool hit = false;
	size_t i;

	pthread_mutex_lock(&noca_lock);
	for (i = 0; i < HOSTCERT_NOCA_SLOTS && !hit; i++)
		hit = noca_same(&noca[i], path, st);
	pthread_mutex_unlock(&noca_lock);
	return hit;
}

static void
noca_remember(const char *path, const struct stat *st)
{
	struct hostcert_noca *e;

	if (strlen(path) >= sizeof(e->path))
		return;
	pthread_mutex_lock(&noca_lock);
	e = &noca[noca_next++ % HOSTCERT_NOCA_SLOTS];
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->size = st->st_size;
	e->mtime = st->st_mtim;
	e->ctime = st->st_ctim;
	pthread_mutex_unlock(&noca_lock);
}

/* The @cert-authority keys of one known_hosts file that cover name. */
static int
read_cas(const char *path, const char *name, struct hostcert_cas *cas)
{
	char line[8192], *p, *pats, *type, *b64, *save = NULL;
	ssh_key key;
	struct stat st;
	bool have_st, any_ca = false;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL)
		return 0;
	have_st = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
	if (have_st && noca_known(path, &st)) {
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		p = line;
		while (isblank((unsigned char)*p))
			p++;
		if (strncmp(p, "@cert-authority", 15) != 0 ||
		    !isblank((unsigned char)p[15]))
			continue;
		any_ca = true;
		if ((pats = strtok_r(p + 15, " \t\r\n", &save)) == NULL ||
		    (type = strtok_r(NULL, " \t\r\n", &save)) == NULL ||
		    (b64 = strtok_r(NULL, " \t\r\n", &save)) == NULL)
			continue;
		if (!hostcert_patterns_match(pats, name) ||
		    cas->n >= HOSTCERT_MAX_CAS)
			continue;
		key = NULL;
		if (ssh_pki_import_pubkey_base64(b64,
			ssh_key_type_from_name(type), &key) == SSH_OK)
			cas->key[cas->n++] = key;
	}
	if (have_st && !any_ca && !ferror(f))
		noca_remember(path, &st);
	fclose(f);
	return 0;
}

static void
free_cas(struct hostcert_cas *cas)
{
	size_t i;

	for (i = 0; i < cas->n; i++)
		ssh_key_free(cas->key[i]);
	cas->n = 0;
}

/* The CAs for the session's host, from its known_hosts files. */
static int
find_cas(ssh_session s, struct hostcert_cas *cas, char *host, size_t hostlen)
{
	enum ssh_options_e which[] = { SSH_OPTIONS_KNOWNHOSTS,
		SSH_OPTIONS_GLOBAL_KNOWNHOSTS };
	char name[1100], dflt[1100], *h = NULL, *path;
	unsigned int port = 22;
	size_t i;

	memset(cas, 0, sizeof(*cas));
	if (ssh_options_get(s, SSH_OPTIONS_HOST, &h) != SSH_OK)
		return -1;
	snprintf(host, hostlen, "%s", h);
	ssh_string_free_char(h);
	ssh_options_get_port(s, &port);
	if (port == 22)
		snprintf(name, sizeof(name), "%s", host);
	else
		snprintf(name, sizeof(name), "[%s]:%u", host, port);
	for (i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		path = NULL;
		/* Before ssh_connect libssh has not filled in its defaults. */
		if (ssh_options_get(s, which[i], &path) != SSH_OK ||
		    path == NULL) {
			if (which[i] == SSH_OPTIONS_GLOBAL_KNOWNHOSTS)
				read_cas("/etc/ssh/ssh_known_hosts", name,
				    cas);
			else if (sshfile_user_path("known_hosts", dflt,
				     sizeof(dflt)) == 0)
				read_cas(dflt, name, cas);
			continue;
		}
		read_cas(path, name, cas);
		ssh_string_free_char(path);
	}
	return 0;
}

int
hostcert_covers(ssh_session s)
{
	struct hostcert_cas cas;
	char host[1024];
	int r;

	if (find_cas(s, &cas, host, sizeof(host)) != 0)
		return 0;
	r = cas.n > 0;
	free_cas(&cas);
	return r;
}
