#include "agentdir.h"

#include <stdio.h>
#include <string.h>

static bool
agentdir_char_ok(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
	    ch == '/';
}

bool
agentdir_ok(const char *dir, char *why, size_t whylen)
{
	size_t n = strlen(dir), i;
	const char *p, *comp;

	if (n == 0) {
		snprintf(why, whylen, "empty");
		return false;
	}
	if (n > AGENTDIR_MAX) {
		snprintf(why, whylen, "longer than %d characters",
		    AGENTDIR_MAX);
		return false;
	}
	/* ~/ expands at a word's start in every shell we start through. */
	p = strncmp(dir, "~/", 2) == 0 ? dir + 1 : dir;
	if (*p != '/') {
		snprintf(why, whylen, "not an absolute path (/DIR or ~/DIR)");
		return false;
	}
	for (i = 0; dir[i] != '\0'; i++)
		if (i > 0 && !agentdir_char_ok(dir[i])) {
			snprintf(why, whylen,
			    "the character '%c' (only letters, digits, "
			    "'.', '_', '-' and '/')",
			    dir[i] >= 0x20 && dir[i] < 0x7f ? dir[i] : '?');
			return false;
		}
	/* Each component between slashes: not empty, ".", "..". */
	for (comp = p + 1;; comp = p + 1) {
		size_t len;

		p = strchr(comp, '/');
		len = p != NULL ? (size_t)(p - comp) : strlen(comp);
		if (len == 0 || (len == 1 && comp[0] == '.') ||
		    (len == 2 && comp[0] == '.' && comp[1] == '.')) {
			snprintf(why, whylen,
			    "an empty, '.' or '..' component (or a "
			    "trailing '/')");
			return false;
		}
		if (p == NULL)
			return true;
	}
}
