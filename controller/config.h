/*
 * muster's config file: defaults for the options of the command tables
 * (clitab.c), so that what a user repeats on every command line is said
 * once. A key is an option's long name, its value what the option takes;
 * the file becomes "--name=value" arguments parsed before the command
 * line by the same code (cli.c), which then overrides them. Any option
 * added to the tables is configurable without more code here.
 *
 *   # comment
 *   inventory = ~/fleet/hosts.ini      (or "inventory ~/fleet/hosts.ini")
 *   accept-new                         (a flag; "= yes" or "= no" too)
 *   [run]                              (keys below: that subcommand only)
 *   timeout = 30
 *
 * Keys before any [section] apply to every subcommand that takes them.
 * A line that is not understood, an unknown option, or a key in a section
 * whose subcommand does not take it is an error naming FILE:LINE.
 */
#ifndef MUSTER_CONFIG_H
#define MUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "clitab.h"

/* One option from a file, as the parser will see it. */
struct config_arg {
	char *arg;	  /* "--name=value" or "--name" */
	const char *file; /* points into config.files */
	unsigned line;
};

struct config {
	struct config_arg *v;
	size_t n, cap;
	char **files; /* the files read, in order */
	size_t nfiles, files_cap;
};

/*
 * The config for subcommand cmd: path when given (--config), else
 * $MUSTER_CONFIG, else /etc/muster/config and then the user's
 * $XDG_CONFIG_HOME/muster/config (~/.config/muster/config): the user's
 * lines come later and so override. A named file must exist; the default
 * ones may not. "/dev/null" reads nothing.
 */
int config_load(struct config *cf, const struct clitab_command *cmd,
    const char *path, char *err, size_t errlen);
/* Read one file into cf (what config_load does for each). */
int config_read(struct config *cf, const struct clitab_command *cmd,
    const char *path, bool must_exist, char *err, size_t errlen);
void config_free(struct config *cf);

/* The user's directory for muster's files: $XDG_CONFIG_HOME/muster or
 * ~/.config/muster; MERR_NOTFOUND when neither variable is set. */
int config_user_dir(char *out, size_t outlen);

#endif
