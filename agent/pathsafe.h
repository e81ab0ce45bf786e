/*
 * Where a Put lands: the directory that is to hold the entry, opened, and
 * the entry's name in it. Everything below a root is resolved one
 * component at a time with openat(O_NOFOLLOW), so that neither "..",
 * nor a symlink planted below the root, can lead outside it.
 */
#ifndef MUSTER_AGENT_PATHSAFE_H
#define MUSTER_AGENT_PATHSAFE_H

#include "fs.h"

/*
 * Open the parent directory of path's last component into *dirfd and
 * return that component in *name (free it). The caller opens or replaces
 * *name itself, never following it if it is a symlink.
 *
 * root non-empty: root is opened as named, symlinks and all (it is the
 * user's choice). path must be relative to it, with no empty, "." or ".."
 * component, and a symlink on the way down is refused (MERR_INVAL).
 * root NULL or empty: path is absolute or relative to the current
 * directory and resolved as given; trailing slashes are ignored.
 *
 * mkdir: missing directories on the way (and a missing root) are created,
 * mode 0755 before umask. Without it, a missing one is MERR_NOTFOUND
 * "parent directory does not exist: <dir>".
 *
 * Returns 0, or an err.h code with e describing it.
 */
int pathsafe_parent(const char *root, const char *path, int mkdir, int *dirfd,
    char **name, struct fs_err *e);
/* The destination as messages show it: "<root>/<path>", or path without a
 * root. NULL without memory. */
char *pathsafe_join(const char *root, const char *path);

#endif
