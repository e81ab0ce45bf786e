#include "pull.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "err.h"
#include "fleet.h"
#include "hostfiles.h"
#include "landing.h"
#include "mux.h"
#include "output.h"
#include "status.h"

#define PULL_WINDOW (1u << 20)
#define PULL_DEPTH_MAX 64
/* Skipped entries listed per host; more are only counted. */
#define PULL_SKIPS_LISTED 100

/* The regular file being received. */
struct pull_file {
	int dirfd, fd;
	char name[256], tmp[320];
	EVP_MD_CTX *md;
	char *rel; /* as the host named it, for messages */
	uint64_t size, got;
	uint32_t mode;
};

struct pull_host {
	struct pull *pull;
	struct fleet_host *fh;
	uint32_t stream;
	int basefd; /* LOCALDIR/<host> */
	char *top;  /* name of the pulled entry under basefd */
	struct pull_file cur;
	struct landing land; /* files received whole, waiting to land */
	bool in_file, stream_open, reported;
	bool started;  /* the Get was sent: the host was reached */
	bool finished; /* its Result came: the walk is complete */
	size_t entries;
	uint64_t bytes;
	char *error;
	/* Entries the host left out (unreadable, changed while read). */
	char *skips[PULL_SKIPS_LISTED];
	size_t nskips; /* all of them, listed or not */
};

struct pull {
	const struct pull_options *opts;
	struct pull_host *hosts;
	struct fleet fleet;
	int localfd;
	size_t n_ok, n_failed, n_unreachable, n_skipped;
	int exit_status;
	bool stdout_failed; /* said so; the pull is cancelled */
};

static void set_error(struct pull_host *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(struct pull_host *h, const char *fmt, ...)
{
	va_list ap;
	char *s;

	if (h->error != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) >= 0)
		h->error = s;
	va_end(ap);
}

/* An entry the host could not send whole: nothing of it lands. */
static void
note_skip(struct pull_host *h, const char *rel, const uint8_t *why,
    size_t whylen)
{
	char *s;

	if (h->nskips++ >= PULL_SKIPS_LISTED)
		return;
	if (asprintf(&s, "%s: %.*s", *rel ? rel : h->top,
		(int)(whylen > 400 ? 400 : whylen), (const char *)why) >= 0)
		h->skips[h->nskips - 1] = s;
}

/* Land what is waiting; a failure to is the host's error. */
static void
land_batch(struct pull_host *h)
{
	if (landing_flush(&h->land) != 0)
		set_error(h, "%s: %s", h->top, strerror(errno));
}

/* ---- local paths: confined below the host's directory ------------------------ */

static bool
component_ok(const char *c, size_t len)
{
	return len > 0 && len < 256 && !(len == 1 && c[0] == '.') &&
	    !(len == 2 && c[0] == '.' && c[1] == '.');
}

/*
 * Open the directory that will hold the last component of rel (relative to
 * the pulled entry), creating missing directories, never following a
 * symlink: a host cannot make us write outside LOCALDIR/<host>/.
 */
static int
open_parent(struct pull_host *h, const char *rel, int *dirfd, char *name,
    size_t namelen)
{
	char path[4096 + 256];
	const char *p, *slash;
	int fd, next, depth = 0;

	if (snprintf(path, sizeof(path), "%s%s%s", h->top, *rel ? "/" : "",
		rel) >= (int)sizeof(path))
		return MERR_LIMIT;
	if ((fd = dup(h->basefd)) < 0)
		return MERR_SYS;
	for (p = path; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		char comp[256];

		if (!component_ok(p, (size_t)(slash - p)) ||
		    ++depth > PULL_DEPTH_MAX) {
			close(fd);
			return MERR_INVAL;
		}
		memcpy(comp, p, (size_t)(slash - p));
		comp[slash - p] = '\0';
		if (mkdirat(fd, comp, 0755) != 0 && errno != EEXIST) {
			close(fd);
			return MERR_SYS;
		}
		next = openat(fd, comp,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		if (next < 0)
			return MERR_SYS;
		fd = next;
	}
	if (!component_ok(p, strlen(p)) || strlen(p) >= namelen) {
		close(fd);
		return MERR_INVAL;
	}
	snprintf(name, namelen, "%s", p);
	*dirfd = fd;
	return 0;
}

static void
tmp_name(const char *name, char *out, size_t outlen)
{
	uint64_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint64_t)getpid() ^ (uint64_t)(uintptr_t)out;
	snprintf(out, outlen, ".muster-tmp.%.200s.%016llx", name,
	    (unsigned long long)r);
}

static void
file_abort(struct pull_host *h)
{
	struct pull_file *f = &h->cur;

	if (!h->in_file)
		return;
	if (f->fd >= 0) {
		close(f->fd);
		unlinkat(f->dirfd, f->tmp, 0);
	}
	if (f->dirfd >= 0)
		close(f->dirfd);
	EVP_MD_CTX_free(f->md);
	free(f->rel);
	memset(f, 0, sizeof(*f));
	f->fd = f->dirfd = -1;
	h->in_file = false;
}

static void
fail_stream(struct pull_host *h)
{
	file_abort(h);
	if (h->stream_open && h->fh->conn != NULL)
		conn_stream_cancel(h->fh->conn, h->stream);
}

/* ---- stream callbacks ------------------------------------------------------------- */

static void
pull_on_entry(void *arg, const Muster__Entry *e)
{
	struct pull_host *h = arg;
	char rel[4096], name[256], tmp[320];
	int dirfd, r;

	if (h->error != NULL)
		return;
	if (h->in_file) {
		set_error(h, "protocol: entry before the previous file ended");
		fail_stream(h);
		return;
	}
	if (e->path.len >= sizeof(rel) ||
	    (e->path.len > 0 &&
		memchr(e->path.data, '\0', e->path.len) != NULL)) {
		set_error(h, "refusing a path from the host: bad name");
		fail_stream(h);
		return;
	}
	if (e->path.len > 0)
		memcpy(rel, e->path.data, e->path.len);
	rel[e->path.len] = '\0';
	if (e->code != 0) {
		note_skip(h, rel, e->message.data, e->message.len);
		return;
	}
	if ((r = open_parent(h, rel, &dirfd, name, sizeof(name))) != 0) {
		set_error(h,
		    "refusing or cannot create local path for '%s': %s", rel,
		    r == MERR_SYS ? strerror(errno) : merr_str(r));
		fail_stream(h);
		return;
	}
	h->entries++;
	switch (e->kind) {
	case 0: /* regular file: data follows */
		memset(&h->cur, 0, sizeof(h->cur));
		h->cur.dirfd = dirfd;
		h->cur.size = e->size;
		h->cur.mode = e->mode & 0777;
		h->cur.rel = strdup(*rel ? rel : h->top);
		snprintf(h->cur.name, sizeof(h->cur.name), "%s", name);
		tmp_name(name, h->cur.tmp, sizeof(h->cur.tmp));
		h->cur.fd = openat(dirfd, h->cur.tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		h->cur.md = EVP_MD_CTX_new();
		h->in_file = true;
		if (h->cur.fd < 0 || h->cur.md == NULL || h->cur.rel == NULL ||
		    EVP_DigestInit_ex(h->cur.md, EVP_sha256(), NULL) != 1) {
			set_error(h, "create %s: %s", rel, strerror(errno));
			fail_stream(h);
		}
		return;
	case 1: /* directory */
		if (mkdirat(dirfd, name, (e->mode & 0777) | 0700) != 0 &&
		    errno != EEXIST)
			set_error(h, "mkdir %s: %s", rel, strerror(errno));
		break;
	case 2: /* symlink: stored, never followed */
		tmp_name(name, tmp, sizeof(tmp));
		if (e->link_target.len == 0 || e->link_target.len > 4095 ||
		    memchr(e->link_target.data, '\0', e->link_target.len)) {
			set_error(h, "bad symlink target for %s", rel);
			break;
		} else {
			char target[4096];

			memcpy(target, e->link_target.data,
			    e->link_target.len);
			target[e->link_target.len] = '\0';
			if (symlinkat(target, dirfd, tmp) != 0 ||
			    renameat(dirfd, tmp, dirfd, name) != 0) {
				set_error(h, "symlink %s: %s", rel,
				    strerror(errno));
				unlinkat(dirfd, tmp, 0);
			}
		}
		break;
	default:
		set_error(h, "unknown entry kind %u for %s", e->kind, rel);
		break;
	}
	close(dirfd);
	if (h->error != NULL)
		fail_stream(h);
}

static void
pull_on_data(void *arg, int fd, const uint8_t *p, size_t n)
{
	struct pull_host *h = arg;
	size_t off = 0;
	ssize_t w;

	if (h->fh->conn != NULL)
		conn_stream_consumed(h->fh->conn, h->stream, n);
	if (h->error != NULL)
		return;
	if (!h->in_file || fd != 1 || h->cur.got + n > h->cur.size) {
		set_error(h, "protocol: unexpected file data from the host");
		fail_stream(h);
		return;
	}
	while (off < n) {
		if ((w = write(h->cur.fd, p + off, n - off)) < 0) {
			if (errno == EINTR)
				continue;
			set_error(h, "write %s: %s", h->cur.name,
			    strerror(errno));
			fail_stream(h);
			return;
		}
		off += (size_t)w;
	}
	EVP_DigestUpdate(h->cur.md, p, n);
	h->cur.got += n;
	h->bytes += n;
}

static void
pull_on_entry_end(void *arg, const Muster__EntryEnd *e)
{
	struct pull_host *h = arg;
	struct pull_file *f = &h->cur;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (h->error != NULL)
		return;
	if (!h->in_file) {
		set_error(h, "protocol: end of a file that was not started");
		fail_stream(h);
		return;
	}
	EVP_DigestFinal_ex(f->md, md, &mdlen);
	if (e->sha256.len != mdlen || memcmp(md, e->sha256.data, mdlen) != 0) {
		set_error(h, "%s: checksum mismatch; discarded", f->name);
		fail_stream(h);
		return;
	}
	/*
	 * Only a file the host vouches for as one version replaces a local
	 * copy: one that changed while it was read (or was cut short) would
	 * be neither the old content nor the new.
	 */
	if (!e->consistent) {
		note_skip(h, f->rel, e->message.data, e->message.len);
		file_abort(h);
		return;
	}
	if (f->got != f->size) {
		set_error(h, "%s: size mismatch; discarded", f->name);
		fail_stream(h);
		return;
	}
	if (fchmod(f->fd, f->mode) != 0) {
		set_error(h, "%s: %s", f->name, strerror(errno));
		fail_stream(h);
		return;
	}
	if (landing_add(&h->land, f->fd, f->size, f->dirfd, f->tmp, f->name) !=
	    0)
		set_error(h, "%s: %s", f->name, strerror(errno));
	f->fd = f->dirfd = -1; /* the landing has them */
	file_abort(h);
	if (h->error != NULL)
		fail_stream(h);
}

/* Human mode: the error may quote the agent (a Result's message), so it
 * is neutralised like remote output. */
static void
print_error(const char *host, const char *state, const char *error)
{
	char *shown = output_escape(error);

	fprintf(stderr, "%s: %s: %s\n", host, state, shown ? shown : "?");
	free(shown);
}

static json_t *
skips_json(const struct pull_host *h)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < h->nskips && i < PULL_SKIPS_LISTED; i++)
		if (h->skips[i] != NULL)
			json_array_append_new(a, json_string(h->skips[i]));
	return a;
}

static void
print_skips(const struct pull_host *h)
{
	size_t i;

	for (i = 0; i < h->nskips && i < PULL_SKIPS_LISTED; i++)
		if (h->skips[i] != NULL)
			print_error(h->fh->display, "skipped", h->skips[i]);
	if (h->nskips > PULL_SKIPS_LISTED)
		fprintf(stderr, "%s: skipped: %zu more\n", h->fh->display,
		    h->nskips - PULL_SKIPS_LISTED);
}

static void
pull_stop_pull(int revents, void *arg)
{
	fleet_stop(arg);
}

/*
 * A report that cannot be written is a result lost: say so, cancel the
 * rest (from the loop: we may be inside a stream's callback) and end
 * with EXIT_INTERNAL, as run does.
 */
static void
check_stdout(struct pull *p, int e)
{
	if (p->stdout_failed)
		return;
	errno = 0;
	if (e == 0 && fflush(stdout) == 0 && !ferror(stdout))
		return;
	if (e == 0)
		e = errno;
	p->stdout_failed = true;
	p->exit_status = EXIT_INTERNAL;
	fprintf(stderr, "muster: stdout: %s; cancelling\n",
	    e != 0 ? strerror(e) : "write error");
	ev_once(p->fleet.cfg->loop, -1, 0, 0, pull_stop_pull, &p->fleet);
}

/*
 * Once per host. A host is ok only when its whole Get ended well: a pull
 * cut short by ^C, a timeout or a lost connection after it started is
 * failed, with what happened, and not unreachable (it was reached, and
 * part of its entries may have landed).
 */
static void
host_report(struct pull_host *h, enum host_status st, const char *error)
{
	struct pull *p = h->pull;
	const char *state;
	json_t *o;
	int e = 0;

	if (h->reported)
		return;
	h->reported = true;
	file_abort(h);
	land_batch(h); /* what arrived whole still lands */
	if (h->started && st != HS_OK && st != HS_BECOME) {
		set_error(h, "%s",
		    h->fh->fleet->interrupted ? "interrupted" :
			error != NULL	      ? error :
						"connection lost");
		st = HS_OK;
	} else if (st == HS_OK && !h->finished)
		set_error(h, "%s",
		    h->fh->fleet->interrupted ? "interrupted" :
			error != NULL	      ? error :
						"pull did not finish");
	if (st == HS_OK)
		error = h->error;
	state = st == HS_BECOME ? "become" :
	    st == HS_SKIPPED	? "skipped" :
	    st != HS_OK		? "unreachable" :
	    h->error != NULL	? "failed" :
				  "ok";
	if (p->opts->json) {
		o = json_object();
		json_object_set_new(o, "host", json_string(h->fh->display));
		json_object_set_new(o, "status", json_string(state));
		json_object_set_new(o, "entries",
		    json_integer((json_int_t)h->entries));
		json_object_set_new(o, "bytes",
		    json_integer((json_int_t)h->bytes));
		json_object_set_new(o, "duration_ms",
		    json_integer((json_int_t)fleet_host_elapsed_ms(h->fh)));
		json_object_set_new(o, "error",
		    error ? json_string(error) : json_null());
		json_object_set_new(o, "skipped", skips_json(h));
		json_object_set_new(o, "skipped_count",
		    json_integer((json_int_t)h->nskips));
		e = output_json_line(stdout, o);
	} else if (error != NULL) {
		print_error(h->fh->display, state, error);
		print_skips(h);
	} else
		printf("%s: ok (%zu entries, %llu bytes)\n", h->fh->display,
		    h->entries, (unsigned long long)h->bytes);
	check_stdout(p, e);
	fleet_host_result(h->fh,
	    st != HS_OK		 ? st :
		h->error != NULL ? HS_FAILED :
				   HS_OK);
	if (st == HS_SKIPPED)
		p->n_skipped++;
	else if (st != HS_OK) {
		p->n_unreachable++;
		if (p->exit_status < EXIT_UNREACHABLE)
			p->exit_status = EXIT_UNREACHABLE;
	} else if (h->error != NULL) {
		p->n_failed++;
		if (p->exit_status < EXIT_CMD_FAILED)
			p->exit_status = EXIT_CMD_FAILED;
	} else
		p->n_ok++;
}

static void
pull_on_result(void *arg, const Muster__Result *res)
{
	struct pull_host *h = arg;

	h->stream_open = false;
	h->finished = true;
	file_abort(h);
	if (!res->ok)
		set_error(h, "%.*s",
		    (int)(res->message.len > 400 ? 400 : res->message.len),
		    (const char *)res->message.data);
	else if (h->nskips > 0) /* the agent says ok, we skipped: not ok */
		set_error(h, "%zu entries skipped", h->nskips);
	host_report(h, HS_OK, NULL);
	fleet_host_close(h->fh);
}

static void
pull_on_stream_error(void *arg, enum host_status st, const char *msg)
{
	struct pull_host *h = arg;

	h->stream_open = false;
	file_abort(h);
	if (st == HS_FAILED) {
		set_error(h, "%s", msg);
		host_report(h, HS_OK, NULL);
		fleet_host_close(h->fh);
	}
}

static const struct stream_ops pull_stream_ops = {
	.data = pull_on_data,
	.entry = pull_on_entry,
	.entry_end = pull_on_entry_end,
	.result = pull_on_result,
	.error = pull_on_stream_error,
};

/* ---- fleet job ------------------------------------------------------------------ */

static void
pull_host_ready(struct fleet_host *fh)
{
	struct pull_host *h = fh->job;
	struct pull *p = h->pull;
	Muster__Envelope env = MUSTER__ENVELOPE__INIT;
	Muster__Get get = MUSTER__GET__INIT;
	char dir[256];
	int r;

	hostfiles_safe_name(fh->display, dir, sizeof(dir));
	if ((mkdirat(p->localfd, dir, 0755) != 0 && errno != EEXIST) ||
	    (h->basefd = openat(p->localfd, dir,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		set_error(h, "local directory %s/%s: %s", p->opts->localdir,
		    dir, strerror(errno));
		host_report(h, HS_OK, NULL);
		fleet_host_close(fh);
		return;
	}
	get.path.data = (uint8_t *)p->opts->remote;
	get.path.len = strlen(p->opts->remote);
	get.recursive = p->opts->recursive;
	get.window = PULL_WINDOW;
	env.body_case = MUSTER__ENVELOPE__BODY_GET;
	env.get = &get;
	if ((r = conn_open(fh->conn, &env, &pull_stream_ops, h, PULL_WINDOW,
		 &h->stream)) != 0) {
		set_error(h, "cannot open stream: %s", merr_str(r));
		host_report(h, HS_OK, NULL);
		fleet_host_close(fh);
		return;
	}
	h->stream_open = h->started = true;
}

static void
pull_host_done(struct fleet_host *fh, enum host_status st, const char *error)
{
	struct pull_host *h = fh->job;

	host_report(h, st, error ? error : "connection closed");
}

static const struct fleet_job_ops pull_job_ops = {
	.ready = pull_host_ready,
	.done = pull_host_done,
};

int
pull_hosts(struct conn_config *cfg, const struct host_set *hosts,
    const struct pull_options *opts)
{
	struct pull p;
	const char *slash;
	char skipped[32] = "";
	ev_tstamp t0;
	size_t i, len;
	int r;

	memset(&p, 0, sizeof(p));
	p.opts = opts;
	if (mkdir(opts->localdir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "muster: %s: %s\n", opts->localdir,
		    strerror(errno));
		return EXIT_USAGE;
	}
	if ((p.localfd = open(opts->localdir,
		 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "muster: %s: %s\n", opts->localdir,
		    strerror(errno));
		return EXIT_USAGE;
	}
	if ((r = fleet_init(&p.fleet, cfg, hosts, opts->fanout, &pull_job_ops,
		 &p)) != 0 ||
	    (p.hosts = calloc(hosts->n, sizeof(*p.hosts))) == NULL) {
		fprintf(stderr, "muster: %s\n", merr_str(r ? r : MERR_NOMEM));
		fleet_free(&p.fleet);
		close(p.localfd);
		return EXIT_INTERNAL;
	}
	/* The pulled entry keeps the remote's last name component. */
	len = strlen(opts->remote);
	while (len > 1 && opts->remote[len - 1] == '/')
		len--;
	for (slash = opts->remote + len;
	     slash > opts->remote && slash[-1] != '/'; slash--)
		;
	for (i = 0; i < hosts->n; i++) {
		struct pull_host *h = &p.hosts[i];

		h->pull = &p;
		h->fh = &p.fleet.hosts[i];
		h->basefd = -1;
		h->cur.fd = h->cur.dirfd = -1;
		landing_init(&h->land);
		h->top = strndup(slash, (size_t)(opts->remote + len - slash));
		p.fleet.hosts[i].job = h;
	}
	if (p.hosts[0].top == NULL ||
	    !component_ok(p.hosts[0].top, strlen(p.hosts[0].top))) {
		fprintf(stderr, "muster: cannot name a local copy of '%s'\n",
		    opts->remote);
		p.exit_status = EXIT_USAGE;
		goto out;
	}
	t0 = ev_time();
	fleet_run(&p.fleet);
	if (p.n_skipped > 0)
		snprintf(skipped, sizeof(skipped), ", %zu skipped",
		    p.n_skipped);
	fprintf(stderr,
	    "muster: %zu host%s: %zu ok, %zu failed, "
	    "%zu unreachable%s (%.2f s)\n",
	    p.fleet.nhosts, p.fleet.nhosts == 1 ? "" : "s", p.n_ok, p.n_failed,
	    p.n_unreachable, skipped, ev_time() - t0);
	if (p.fleet.interrupted && p.exit_status == EXIT_ALL_OK)
		p.exit_status = EXIT_CMD_FAILED;
	if (p.fleet.roll != NULL && p.fleet.roll->cut_short &&
	    !p.fleet.interrupted && p.exit_status != EXIT_INTERNAL)
		p.exit_status = EXIT_CUT_SHORT;
out:
	for (i = 0; i < hosts->n; i++) {
		if (p.hosts[i].basefd >= 0)
			close(p.hosts[i].basefd);
		landing_free(&p.hosts[i].land);
		for (size_t k = 0;
		     k < p.hosts[i].nskips && k < PULL_SKIPS_LISTED; k++)
			free(p.hosts[i].skips[k]);
		free(p.hosts[i].top);
		free(p.hosts[i].error);
	}
	free(p.hosts);
	fleet_free(&p.fleet);
	close(p.localfd);
	return p.exit_status;
}
