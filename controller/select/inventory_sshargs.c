/*
 * Ansible's ansible_ssh_common_args / ansible_ssh_extra_args: words for
 * the ssh command line, split as Python's shlex.split does (Ansible's
 * way). muster has no ssh command line to hand them to, so it takes what
 * it can honour -- the route: -J LIST, -o ProxyJump=LIST, -o
 * ProxyCommand=CMD -- and refuses every other word by name: an option
 * that was meant to apply is never dropped.
 */
#include "inventory_int.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

#define SSHARGS_WORDS_MAX 64

/* shlex.split (POSIX mode): blanks separate, quotes group, '\' escapes. */
static int
split_words(const char *s, char *buf, char **words, size_t *nwords)
{
	char *o = buf, q = 0;
	bool in_word = false;

	*nwords = 0;
	for (; *s != '\0'; s++) {
		if (q == '\'') {
			if (*s == '\'')
				q = 0;
			else
				*o++ = *s;
			continue;
		}
		if (q == '"') {
			if (*s == '"')
				q = 0;
			else if (*s == '\\' && strchr("\"\\$`", s[1]) &&
			    s[1] != '\0')
				*o++ = *++s;
			else
				*o++ = *s;
			continue;
		}
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			if (in_word) {
				*o++ = '\0';
				in_word = false;
			}
			continue;
		}
		if (!in_word) {
			if (*nwords == SSHARGS_WORDS_MAX)
				return MERR_LIMIT;
			words[(*nwords)++] = o;
			in_word = true;
		}
		if (*s == '\'' || *s == '"')
			q = *s;
		else if (*s == '\\' && s[1] != '\0')
			*o++ = *++s;
		else if (*s != '\\')
			*o++ = *s;
	}
	if (q != 0)
		return MERR_PARSE;
	if (in_word)
		*o++ = '\0';
	return 0;
}

/* "Name=value" or "Name value" (one -o word): the route it sets, if any. */
static enum host_route
route_option(const char *opt, const char **value)
{
	static const struct {
		const char *name;
		enum host_route kind;
	} known[] = { { "ProxyJump", HOST_ROUTE_JUMP },
		{ "ProxyCommand", HOST_ROUTE_COMMAND } };
	size_t i, n;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		n = strlen(known[i].name);
		if (strncasecmp(opt, known[i].name, n) != 0 ||
		    (opt[n] != '=' && opt[n] != ' ' && opt[n] != '\t'))
			continue;
		for (opt += n + 1; *opt == ' ' || *opt == '\t' || *opt == '=';)
			opt++;
		*value = opt;
		return known[i].kind;
	}
	return HOST_ROUTE_NONE;
}

static int
set_route(struct inv_model *m, const char *var, enum host_route kind,
    const char *value, enum host_route *out_kind, char **out)
{
	if (*value == '\0')
		return inv_err(m, MERR_PARSE, "%s: an empty %s", var,
		    kind == HOST_ROUTE_JUMP ? "ProxyJump" : "ProxyCommand");
	if (*out != NULL && (*out_kind != kind || strcmp(*out, value) != 0))
		return inv_err(m, MERR_PARSE,
		    "%s: two different routes ('%s' "
		    "and '%s')",
		    var, *out, value);
	if (*out == NULL && (*out = strdup(value)) == NULL)
		return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	*out_kind = kind;
	return 0;
}

int
inv_sshargs_route(struct inv_model *m, const char *var, const char *args,
    enum host_route *kind, char **route)
{
	char *buf, *words[SSHARGS_WORDS_MAX];
	const char *opt, *value;
	enum host_route k;
	size_t n, i;
	int r = 0;

	*kind = HOST_ROUTE_NONE;
	*route = NULL;
	/* Zeroed: every word ends in a NUL the analyzer can see. */
	if ((buf = calloc(strlen(args) + 1, 1)) == NULL)
		return inv_err(m, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	if ((r = split_words(args, buf, words, &n)) != 0) {
		r = inv_err(m, MERR_PARSE,
		    r == MERR_LIMIT ? "%s: more than %d words" :
				      "%s: unclosed quote",
		    var, SSHARGS_WORDS_MAX);
		goto out;
	}
	for (i = 0; r == 0 && i < n; i++) {
		const char *flag = words[i];
		bool is_j = strncmp(flag, "-J", 2) == 0;

		if (!is_j && strncmp(flag, "-o", 2) != 0) {
			r = inv_err(m, MERR_PARSE,
			    "%s: '%s' is an ssh argument muster cannot "
			    "honour (it takes -J, -o ProxyJump= and -o "
			    "ProxyCommand=; give others in ssh_config)",
			    var, flag);
			break;
		}
		opt = flag[2] != '\0' ? flag + 2 :
		    i + 1 < n	      ? words[++i] :
					NULL;
		if (opt == NULL) {
			r = inv_err(m, MERR_PARSE,
			    "%s: %.2s without its value", var, flag);
			break;
		}
		if (is_j) {
			k = HOST_ROUTE_JUMP;
			value = opt;
		} else if ((k = route_option(opt, &value)) ==
		    HOST_ROUTE_NONE) {
			r = inv_err(m, MERR_PARSE,
			    "%s: '-o %s' is an ssh option muster cannot "
			    "honour here (it takes -J, -o ProxyJump= and -o "
			    "ProxyCommand=; give others in ssh_config)",
			    var, opt);
			break;
		}
		r = set_route(m, var, k, value, kind, route);
	}
out:
	if (r != 0) {
		free(*route);
		*route = NULL;
		*kind = HOST_ROUTE_NONE;
	}
	free(buf);
	return r;
}
