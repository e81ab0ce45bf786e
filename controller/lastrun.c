#include "lastrun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"

#define LASTRUN_MAGIC "muster-last-run 1"

int
lastrun_statuses(const char *list, unsigned *mask, char *err, size_t errlen)
{
	const char *p = list, *comma;
	enum host_status st;
	char word[32];
	size_t len;

	*mask = 0;
	do {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(word))
			goto bad;
		memcpy(word, p, len);
		word[len] = '\0';
		if (strcmp(word, "notok") == 0)
			*mask |= ((1u << HS_COUNT) - 1) & ~(1u << HS_OK);
		else if (host_status_parse(word, &st) == 0)
			*mask |= 1u << st;
		else
			goto bad;
		p = comma + 1;
	} while (comma != NULL);
	return 0;
bad:
	snprintf(err, errlen,
	    "--rerun: expected statuses separated by "
	    "commas (failed, unreachable, timeout, hostkey, auth, become, "
	    "skipped, ok, notok), got '%s'",
	    list);
	return MERR_PARSE;
}

static int
lastrun_dir(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, outlen, "%s/muster", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, outlen, "%s/.cache/muster", home);
	else
		return MERR_NOTFOUND;
	return n < 0 || (size_t)n >= outlen ? MERR_LIMIT : 0;
}

int
lastrun_path(char *out, size_t outlen)
{
	size_t len;
	int r;

	if ((r = lastrun_dir(out, outlen)) != 0)
		return r;
	len = strlen(out);
	if (len + sizeof("/last-run") > outlen)
		return MERR_LIMIT;
	memcpy(out + len, "/last-run", sizeof("/last-run"));
	return 0;
}

/* mkdir -p, the directories made private: the file says which hosts
 * failed. */
static int
lastrun_mkdirs(char *path)
{
	char *slash;

	for (slash = strchr(path + 1, '/'); slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			*slash = '/';
			return MERR_SYS;
		}
		*slash = '/';
	}
	return mkdir(path, 0700) != 0 && errno != EEXIST ? MERR_SYS : 0;
}

/* Bytes that would split or end a field are written %XX. */
static void
lastrun_put(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (s == NULL || *s == '\0') {
		fputc('-', f);
		return;
	}
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == '%' || *p == 0x7f ||
		    (p == (const unsigned char *)s && *p == '-'))
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
}

int
lastrun_save(const struct host_set *hosts, const enum host_status *final,
    char *err, size_t errlen)
{
	char dir[4096], tmp[4200], path[4200];
	FILE *f = NULL;
	size_t i;
	int fd = -1, dfd;

	if (lastrun_dir(dir, sizeof(dir)) != 0) {
		snprintf(err, errlen,
		    "no place for the last run's statuses "
		    "(set XDG_CACHE_HOME or HOME)");
		return MERR_NOTFOUND;
	}
	snprintf(path, sizeof(path), "%s/last-run", dir);
	snprintf(tmp, sizeof(tmp), "%s/.last-run.XXXXXX", dir);
	if (lastrun_mkdirs(dir) != 0 || (fd = mkstemp(tmp)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL)
		goto fail;
	fd = -1;
	fprintf(f, "%s\n", LASTRUN_MAGIC);
	for (i = 0; i < hosts->n; i++) {
		fprintf(f, "%s ", host_status_str(final[i]));
		lastrun_put(f, hosts->v[i].name);
		fputc(' ', f);
		lastrun_put(f, hosts->v[i].user);
		fprintf(f, " %u\n", hosts->v[i].port);
	}
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	/* The rename itself lasts once the directory is on disk. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	snprintf(err, errlen, "cannot record the last run in %s: %s", path,
	    strerror(errno));
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return MERR_SYS;
}

static int
lastrun_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a field in place; NULL for "-". */
static int
lastrun_get(char *s, char **out)
{
	char *w = s, *p;
	int hi, lo;

	*out = NULL;
	if (strcmp(s, "-") == 0)
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p != '%') {
			*w++ = *p;
			continue;
		}
		if ((hi = lastrun_hex(p[1])) < 0 ||
		    (lo = lastrun_hex(p[2])) < 0)
			return MERR_PARSE;
		*w++ = (char)(hi << 4 | lo);
		p += 2;
	}
	*w = '\0';
	*out = s;
	return 0;
}

int
lastrun_select(unsigned mask, struct host_set *out, char *err, size_t errlen)
{
	char path[4200], *line = NULL, *f[4], *name, *user, *save, *end;
	enum host_status st;
	size_t cap = 0, ln = 0;
	unsigned long port;
	FILE *fp;
	int i, r = 0;

	if (lastrun_path(path, sizeof(path)) != 0) {
		snprintf(err, errlen,
		    "--rerun: no place for the last run's "
		    "statuses (set XDG_CACHE_HOME or HOME)");
		return MERR_INVAL;
	}
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			snprintf(err, errlen,
			    "--rerun: no run recorded yet "
			    "(%s does not exist)",
			    path);
		else
			snprintf(err, errlen, "--rerun: %s: %s", path,
			    strerror(errno));
		return MERR_INVAL;
	}
	while (getline(&line, &cap, fp) > 0) {
		ln++;
		line[strcspn(line, "\n")] = '\0';
		if (ln == 1) {
			if (strcmp(line, LASTRUN_MAGIC) != 0)
				goto bad;
			continue;
		}
		save = NULL;
		for (i = 0; i < 4; i++)
			if ((f[i] = strtok_r(i == 0 ? line : NULL, " ",
				 &save)) == NULL)
				goto bad;
		if (strtok_r(NULL, " ", &save) != NULL ||
		    host_status_parse(f[0], &st) != 0 ||
		    lastrun_get(f[1], &name) != 0 || name == NULL ||
		    lastrun_get(f[2], &user) != 0)
			goto bad;
		port = strtoul(f[3], &end, 10);
		if (*end != '\0' || port > 65535)
			goto bad;
		if ((mask & (1u << st)) == 0)
			continue;
		if ((r = host_set_add(out, name, user, (unsigned)port)) != 0) {
			snprintf(err, errlen, "--rerun: %s:%zu: %s", path, ln,
			    merr_str(r));
			goto out;
		}
	}
	if (ln == 0)
		goto bad;
	goto out;
bad:
	snprintf(err, errlen,
	    "--rerun: %s:%zu: not a file muster wrote "
	    "(remove it)",
	    path, ln);
	r = MERR_INVAL;
out:
	free(line);
	fclose(fp);
	return r;
}
