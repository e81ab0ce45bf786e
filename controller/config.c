#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "array.h"
#include "err.h"

/* A config file is a few dozen lines; anything this big is a mistake. */
#define CONFIG_MAX_BYTES (1024 * 1024)

int
config_user_dir(char *out, size_t outlen)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	int n;

	/* XDG: a relative value is to be ignored. */
	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, outlen, "%s/muster", xdg);
	else if (home != NULL && home[0] != '\0')
		n = snprintf(out, outlen, "%s/.config/muster", home);
	else
		return MERR_NOTFOUND;
	return n < 0 || (size_t)n >= outlen ? MERR_LIMIT : 0;
}

static int
config_add_file(struct config *cf, const char *path, const char **kept)
{
	char *copy;
	int r;

	if ((r = ARRAY_RESERVE(cf->files, cf->files_cap, cf->nfiles + 1, 4)) !=
	    0)
		return r;
	if ((copy = strdup(path)) == NULL)
		return MERR_NOMEM;
	cf->files[cf->nfiles++] = copy;
	*kept = copy;
	return 0;
}

static int
config_add_arg(struct config *cf, const char *file, unsigned line,
    const char *name, const char *value)
{
	char *arg;
	int r;

	if ((r = ARRAY_RESERVE(cf->v, cf->cap, cf->n + 1, 16)) != 0)
		return r;
	if (value != NULL ? asprintf(&arg, "--%s=%s", name, value) < 0 :
			    asprintf(&arg, "--%s", name) < 0)
		return MERR_NOMEM;
	cf->v[cf->n].arg = arg;
	cf->v[cf->n].file = file;
	cf->v[cf->n].line = line;
	cf->n++;
	return 0;
}

static char *
config_trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s &&
	    (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' ||
		end[-1] == '\n'))
		*--end = '\0';
	return s;
}

static int
config_option(const char *name)
{
	int i;

	for (i = 0; i < CO_COUNT; i++)
		if (strcmp(clitab_options[i].name, name) == 0)
			return i;
	return -1;
}

/* "[run]", "[keys install]": the subcommand, or NULL. */
static const struct clitab_command *
config_section(const char *name)
{
	size_t i;

	for (i = 0; i < clitab_ncommands; i++)
		if (strcmp(clitab_commands[i].name, name) == 0)
			return &clitab_commands[i];
	return NULL;
}

/* A flag's value: *on, or -1 when it is not a yes or a no. */
static int
config_bool(const char *v, bool *on)
{
	static const char *const yes[] = { "", "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(v, yes[i]) == 0) {
			*on = true;
			return 0;
		}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(v, no[i]) == 0) {
			*on = false;
			return 0;
		}
	return -1;
}

/* "~/x" is the home directory's x, as the shell would have made it on
 * a command line. */
static int
config_expand(const char *v, char **out)
{
	const char *home = getenv("HOME");

	*out = NULL;
	if (v[0] != '~' || v[1] != '/')
		return 0;
	if (home == NULL || *home == '\0')
		return MERR_NOTFOUND;
	return asprintf(out, "%s%s", home, v + 1) < 0 ? MERR_NOMEM : 0;
}

/* One line, already trimmed and not a comment. */
static int
config_line(struct config *cf, const struct clitab_command *cmd,
    const struct clitab_command **section, const char *file, unsigned ln,
    char *s, char *err, size_t errlen)
{
	const struct clitab_option *o;
	char *key, *value, *expanded = NULL;
	size_t len;
	bool applies, on = true;
	int opt, r;

	if (s[0] == '[') {
		len = strlen(s);
		if (len < 3 || s[len - 1] != ']') {
			snprintf(err, errlen,
			    "%s:%u: a section is written "
			    "[SUBCOMMAND], e.g. [run]",
			    file, ln);
			return MERR_PARSE;
		}
		s[len - 1] = '\0';
		if ((*section = config_section(config_trim(s + 1))) == NULL ||
		    (*section)->options == 0) {
			snprintf(err, errlen,
			    "%s:%u: no subcommand '%s' takes "
			    "options (sections: run, push, pull, watch, "
			    "daemon, keys install)",
			    file, ln, config_trim(s + 1));
			return MERR_PARSE;
		}
		return 0;
	}
	key = s;
	len = strcspn(s, " \t=");
	value = config_trim(s + len);
	if (*value == '=')
		value = config_trim(value + 1);
	key[len] = '\0';
	/* "value" keeps leading and trailing blanks. */
	len = strlen(value);
	if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
		value[len - 1] = '\0';
		value++;
	}
	if ((opt = config_option(key)) < 0) {
		snprintf(err, errlen,
		    "%s:%u: unknown option '%s' (a key is "
		    "the long name of an option, as in muster --help)",
		    file, ln, key);
		return MERR_PARSE;
	}
	o = &clitab_options[opt];
	if (opt == CO_CONFIG || o->section == 0) {
		snprintf(err, errlen,
		    "%s:%u: '%s' cannot be set in a config "
		    "file",
		    file, ln, key);
		return MERR_PARSE;
	}
	if (*section != NULL && ((*section)->options & CO_BIT(opt)) == 0) {
		snprintf(err, errlen, "%s:%u: muster %s has no --%s", file, ln,
		    (*section)->name, key);
		return MERR_PARSE;
	}
	if (o->has_arg && *value == '\0') {
		snprintf(err, errlen, "%s:%u: '%s' needs a value (%s)", file,
		    ln, key, o->arg);
		return MERR_PARSE;
	}
	if (!o->has_arg && config_bool(value, &on) != 0) {
		snprintf(err, errlen,
		    "%s:%u: '%s' is a flag: no value, or "
		    "yes or no; got '%s'",
		    file, ln, key, value);
		return MERR_PARSE;
	}
	applies = *section != NULL ?
	    *section == cmd :
	    (cmd->options & CO_BIT(opt)) != 0;
	/* "no" leaves the flag at its default: there is nothing to undo
	 * before the command line. */
	if (!applies || !on)
		return 0;
	if (o->has_arg && (r = config_expand(value, &expanded)) != 0) {
		snprintf(err, errlen, "%s:%u: cannot expand '%s': %s", file,
		    ln, value,
		    r == MERR_NOTFOUND ? "HOME is not set" : merr_str(r));
		return MERR_PARSE;
	}
	r = config_add_arg(cf, file, ln, key,
	    o->has_arg ? expanded ? expanded : value : NULL);
	free(expanded);
	return r;
}

int
config_read(struct config *cf, const struct clitab_command *cmd,
    const char *path, bool must_exist, char *err, size_t errlen)
{
	const struct clitab_command *section = NULL;
	const char *file;
	struct stat st;
	char *text = NULL, *line, *next;
	unsigned ln = 0;
	ssize_t got;
	size_t len = 0;
	int fd, r = 0;

	/* O_NONBLOCK: a FIFO put there must not hang us; it is refused. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		snprintf(err, errlen, "config file %s: %s", path,
		    strerror(errno));
		return MERR_NOTFOUND;
	}
	if (fstat(fd, &st) != 0 ||
	    (!S_ISREG(st.st_mode) && strcmp(path, "/dev/null") != 0)) {
		snprintf(err, errlen, "config file %s: not a regular file",
		    path);
		r = MERR_INVAL;
		goto out;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		snprintf(err, errlen, "config file %s: larger than %d bytes",
		    path, CONFIG_MAX_BYTES);
		r = MERR_LIMIT;
		goto out;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	while (len < (size_t)st.st_size &&
	    (got = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (got < 0) {
			snprintf(err, errlen, "config file %s: %s", path,
			    strerror(errno));
			r = MERR_IO;
			goto out;
		}
		len += (size_t)got;
	}
	text[len] = '\0';
	if (strlen(text) != len) {
		snprintf(err, errlen, "config file %s: has a NUL byte", path);
		r = MERR_PARSE;
		goto out;
	}
	if ((r = config_add_file(cf, path, &file)) != 0)
		goto out;
	for (line = text; line != NULL && *line != '\0'; line = next) {
		ln++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = config_trim(line);
		if (*line == '\0' || *line == '#')
			continue;
		if ((r = config_line(cf, cmd, &section, file, ln, line, err,
			 errlen)) != 0)
			goto out;
	}
out:
	free(text);
	close(fd);
	return r;
}

int
config_load(struct config *cf, const struct clitab_command *cmd,
    const char *path, char *err, size_t errlen)
{
	char user[4096];
	int r;

	memset(cf, 0, sizeof(*cf));
	if (path == NULL && (path = getenv("MUSTER_CONFIG")) != NULL &&
	    *path == '\0')
		path = NULL;
	if (path != NULL)
		return config_read(cf, cmd, path, true, err, errlen);
	if ((r = config_read(cf, cmd, "/etc/muster/config", false, err,
		 errlen)) != 0)
		return r;
	if (config_user_dir(user, sizeof(user) - 8) != 0)
		return 0;
	strcat(user, "/config");
	return config_read(cf, cmd, user, false, err, errlen);
}

void
config_free(struct config *cf)
{
	size_t i;

	for (i = 0; i < cf->n; i++)
		free(cf->v[i].arg);
	for (i = 0; i < cf->nfiles; i++)
		free(cf->files[i]);
	free(cf->v);
	free(cf->files);
	memset(cf, 0, sizeof(*cf));
}
