/*
 * Root-confined path resolution for Put. No lookup below a root ever goes
 * through the kernel's own path walk: that would follow symlinks, and a
 * user who can write below the root could then redirect a Put anywhere
 * the agent may write.
 */
#include "pathsafe.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

#define DIR_MODE 0755

static int
is_dot_or_dotdot(const char *s)
{
	return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

/* A confined path: relative, and every component a plain name. */
static int
check_confined(const char *path, struct fs_err *e)
{
	const char *p, *end;
	size_t len;

	if (*path == '/') {
		fs_err_set(e, MERR_INVAL, "absolute path under a root: %s",
		    path);
		return e->code;
	}
	for (p = path;; p = end + 1) {
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			fs_err_set(e, MERR_INVAL,
			    "path component %s not "
			    "allowed under a root: %s",
			    len == 0	 ? "\"\"" :
				len == 1 ? "\".\"" :
					   "\"..\"",
			    path);
			return e->code;
		}
		if (end == NULL)
			return 0;
	}
}

/*
 * Open the directory component comp below fd. shown is the path for
 * messages, shown_len the part of it up to and including comp, parent_len
 * the part that names the destination's parent.
 */
static int
open_component(int fd, const char *comp, int confined, int mkdir,
    const char *shown, int shown_len, int parent_len, int *out,
    struct fs_err *e)
{
	int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	struct stat st;
	int next, err;

	*out = -1;
	if (confined)
		flags |= O_NOFOLLOW;
	next = openat(fd, comp, flags);
	if (next == -1 && errno == ENOENT && mkdir) {
		/* EEXIST: someone else made it meanwhile, fine. */
		if (mkdirat(fd, comp, DIR_MODE) == -1 && errno != EEXIST) {
			fs_err_sys(e, errno, "mkdir %.*s", shown_len, shown);
			return e->code;
		}
		next = openat(fd, comp, flags);
	}
	if (next != -1) {
		*out = next;
		return 0;
	}
	err = errno;
	if (err == ENOENT)
		fs_err_set(e, MERR_NOTFOUND,
		    "parent directory does not "
		    "exist: %.*s",
		    parent_len, shown);
	/* O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR. */
	else if (confined && (err == ENOTDIR || err == ELOOP) &&
	    fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		fs_err_set(e, MERR_INVAL,
		    "symbolic link below the root: "
		    "%.*s",
		    shown_len, shown);
	else
		fs_err_sys(e, err, "open %.*s", shown_len, shown);
	return e->code;
}

/* Open root as the user named it, creating it with mkdir. */
static int
open_root(const char *root, int mkdir, int *out, struct fs_err *e)
{
	char *name = NULL;
	int fd, pfd = -1, r;

	*out = -1;
	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		*out = fd;
		return 0;
	}
	if (errno != ENOENT) {
		fs_err_sys(e, errno, "open %s", root);
		return e->code;
	}
	if (!mkdir) {
		fs_err_set(e, MERR_NOTFOUND,
		    "root directory does not exist: "
		    "%s",
		    root);
		return e->code;
	}
	if ((r = pathsafe_parent(NULL, root, 1, &pfd, &name, e)) != 0)
		return r;
	/* pathsafe_parent sets name or fails; the analyzer cannot see
	 * fs_err_set (fs.c) make e->code nonzero. */
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
	if (mkdirat(pfd, name, DIR_MODE) == -1 && errno != EEXIST)
		fs_err_sys(e, errno, "mkdir %s", root);
	else if ((fd = openat(pfd, name,
		      O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fs_err_sys(e, errno, "open %s", root);
	else
		*out = fd;
	close(pfd);
	free(name);
	return fd == -1 ? e->code : 0;
}

char *
pathsafe_join(const char *root, const char *path)
{
	size_t len;
	char *s;

	if (root == NULL || *root == '\0')
		return strdup(path);
	/* "/srv/" and "x" make "/srv/x", "/" and "x" make "/x". */
	len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 1 && *root == '/')
		len = 0;
	if (asprintf(&s, "%.*s/%s", (int)len, root, path) == -1)
		return NULL;
	return s;
}

int
pathsafe_parent(const char *root, const char *path, int mkdir, int *dirfd,
    char **name, struct fs_err *e)
{
	int confined = root != NULL && *root != '\0';
	char *copy = NULL, *shown = NULL, *comp, *slash, *last;
	int fd = -1, next = -1, r, base, parent_len;
	size_t len;

	*dirfd = -1;
	*name = NULL;
	if (*path == '\0') {
		fs_err_set(e, MERR_INVAL, "empty path");
		return e->code;
	}
	if ((copy = strdup(path)) == NULL)
		goto nomem;
	if (confined) {
		if ((r = check_confined(path, e)) != 0)
			goto out;
		if ((shown = pathsafe_join(root, path)) == NULL)
			goto nomem;
		base = strlen(shown) - strlen(path);
		if ((r = open_root(root, mkdir, &fd, e)) != 0)
			goto out;
	} else {
		len = strlen(copy);
		while (len > 1 && copy[len - 1] == '/')
			copy[--len] = '\0';
		if ((shown = strdup(copy)) == NULL)
			goto nomem;
		base = 0;
		if ((fd = open(*copy == '/' ? "/" : ".",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
			fs_err_sys(e, errno, "open %s",
			    *copy == '/' ? "/" : "the current directory");
			r = e->code;
			goto out;
		}
	}
	if ((slash = strrchr(copy, '/')) != NULL) {
		*slash = '\0';
		last = slash + 1;
		parent_len = base + (slash - copy);
		/* "/x": the parent is "/" itself. */
		if (parent_len == 0)
			parent_len = 1;
	} else {
		last = copy;
		parent_len = base > 0 ? base - 1 : 0;
	}
	if (*last == '\0' || is_dot_or_dotdot(last)) {
		fs_err_set(e, MERR_INVAL, "not a name to install at: %s",
		    shown);
		r = e->code;
		goto out;
	}
	if (slash != NULL) {
		for (comp = copy; comp != NULL; comp = slash) {
			if ((slash = strchr(comp, '/')) != NULL)
				*slash++ = '\0';
			/* Unconfined "a//b" and "./a" are as the kernel
			 * would take them. */
			if (*comp == '\0' || strcmp(comp, ".") == 0)
				continue;
			r = open_component(fd, comp, confined, mkdir, shown,
			    base + (int)(comp - copy + strlen(comp)),
			    parent_len, &next, e);
			if (r != 0)
				goto out;
			close(fd);
			fd = next;
		}
	}
	if ((*name = strdup(last)) == NULL)
		goto nomem;
	*dirfd = fd;
	fd = -1;
	r = 0;
	goto out;
nomem:
	fs_err_set(e, MERR_NOMEM, "%s", merr_str(MERR_NOMEM));
	r = e->code;
out:
	if (fd != -1)
		close(fd);
	free(copy);
	free(shown);
	return r;
}
