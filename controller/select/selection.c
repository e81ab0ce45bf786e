#include "selection.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "inventory.h"
#include "log.h"
#include "utf8.h"

/* A host file: one expression per line, '#' comments. */
#define HOSTFILE_MAX (16 * 1024 * 1024)
#define HOSTFILE_LINE_MAX 4096

struct hostfile {
	const char *path;
	char *text; /* NUL-terminated, lines split in place */
	size_t len;
};

static int
hostfile_read(const char *path, struct hostfile *hf, char *err, size_t errlen)
{
	FILE *f;
	size_t cap = 0, nr;
	char *p;

	memset(hf, 0, sizeof(*hf));
	hf->path = path;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "host file %s: %s", path,
		    strerror(errno));
		return MERR_SYS;
	}
	for (;;) {
		if (hf->len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if ((p = realloc(hf->text, cap)) == NULL) {
				fclose(f);
				snprintf(err, errlen, "%s",
				    merr_str(MERR_NOMEM));
				return MERR_NOMEM;
			}
			hf->text = p;
		}
		nr = fread(hf->text + hf->len, 1, 4096, f);
		hf->len += nr;
		if (hf->len > HOSTFILE_MAX) {
			fclose(f);
			snprintf(err, errlen,
			    "host file %s: larger than %d MiB", path,
			    HOSTFILE_MAX / (1024 * 1024));
			return MERR_LIMIT;
		}
		if (nr < 4096)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		snprintf(err, errlen, "host file %s: read error", path);
		return MERR_SYS;
	}
	fclose(f);
	hf->text[hf->len] = '\0';
	if (strlen(hf->text) != hf->len) {
		snprintf(err, errlen, "host file %s: NUL byte", path);
		return MERR_PARSE;
	}
	return 0;
}

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Each expression of a host file, counted (count != NULL) or made into
 * out. Lines are trimmed in a copy; the file's text stays as it is.
 */
static int
hostfile_each(const struct hostfile *hf, const struct hostlist_groups *grp,
    uint64_t *total, struct host_set *out, char *err, size_t errlen)
{
	char line[HOSTFILE_LINE_MAX + 1], msg[512], what[600];
	const char *p = hf->text, *nl, *s, *e;
	size_t lineno = 0;
	uint64_t n;
	int r;

	for (; *p != '\0'; p = *nl ? nl + 1 : nl) {
		lineno++;
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		for (s = p; s < nl && is_blank(*s); s++)
			;
		for (e = nl; e > s && is_blank(e[-1]); e--)
			;
		if (s == e || *s == '#')
			continue;
		if ((size_t)(e - s) > HOSTFILE_LINE_MAX) {
			snprintf(err, errlen,
			    "%s:%zu: line longer than %d "
			    "bytes",
			    hf->path, lineno, HOSTFILE_LINE_MAX);
			return MERR_LIMIT;
		}
		memcpy(line, s, (size_t)(e - s));
		line[e - s] = '\0';
		if (total != NULL) {
			if ((r = hostlist_count(line, &n, msg, sizeof(msg))) ==
			    0) {
				snprintf(what, sizeof(what),
				    "host file %s:%zu", hf->path, lineno);
				if ((r = hostlist_tally(total, n, what, err,
					 errlen)) != 0)
					return r;
				continue;
			}
		} else if ((r = hostlist_eval(line, grp, out, msg,
				sizeof(msg))) == 0)
			continue;
		snprintf(err, errlen, "%s:%zu: %s", hf->path, lineno, msg);
		return r;
	}
	return 0;
}

/* Count a -w or -x list into the selection's total before it is made. */
static int
tally_list(const char *opt, const char *list, uint64_t *total, char *err,
    size_t errlen)
{
	char shown[4 * 64 + 1], what[sizeof(shown) + 16];
	uint64_t n;
	size_t used;
	int r;

	if ((r = hostlist_count(list, &n, err, errlen)) != 0)
		return r;
	used = utf8_escape(shown, sizeof(shown), list, strnlen(list, 64));
	snprintf(what, sizeof(what), "%s '%s%s'", opt, shown,
	    list[used] != '\0' ? "..." : "");
	return hostlist_tally(total, n, what, err, errlen);
}

static int
selection_group(void *arg, const char *name, struct host_set *out, char *err,
    size_t errlen)
{
	const struct inventory *inv = arg;

	return inventory_select(inv, name, out, err, errlen);
}

/* The inventory's entry for a -w host, by name: a sorted index. */
struct by_name {
	const struct host_spec **v;
	size_t n;
};

static int
selection_by_name_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct host_spec *const *)a)->name,
	    (*(const struct host_spec *const *)b)->name);
}

static const struct host_spec *
by_name_find(const struct by_name *ix, const char *name)
{
	struct host_spec key = { 0 };
	const struct host_spec *kp = &key, **hit;

	key.name = (char *)name;
	if (ix->n == 0)
		return NULL;
	hit = bsearch(&kp, ix->v, ix->n, sizeof(*ix->v),
	    selection_by_name_cmp);
	return hit != NULL ? *hit : NULL;
}

/* A -w host: what the expression says, the inventory's entry for the
 * rest. */
static int
add_named(struct host_set *hosts, const struct host_spec *w,
    const struct by_name *ix)
{
	const struct host_spec *known = by_name_find(ix, w->name);
	struct host_spec merged;

	if (known == NULL ||
	    (known->user == w->user && known->port == w->port))
		return host_set_add_spec(hosts, known != NULL ? known : w);
	merged = *known;
	if (w->user != NULL)
		merged.user = w->user;
	if (w->port != 0)
		merged.port = w->port;
	return host_set_add_spec(hosts, &merged);
}

static int
hostfiles_load(const struct selection *sel, struct hostfile **hfp, size_t *nhf,
    uint64_t *total, char *err, size_t errlen)
{
	struct hostfile *hf;
	size_t i;
	int r;

	*nhf = 0;
	if ((*hfp = hf = calloc(sel->nw + sel->nh + 1, sizeof(*hf))) == NULL)
		return MERR_NOMEM;
	for (i = 0; i < sel->nw + sel->nh; i++) {
		const char *path = i < sel->nw ?
		    sel->wlists[i] :
		    sel->hostfiles[i - sel->nw];

		if (i < sel->nw && *path++ != '^')
			continue;
		if ((r = hostfile_read(path, &hf[*nhf], err, errlen)) != 0) {
			free(hf[*nhf].text);
			return r;
		}
		if ((r = hostfile_each(&hf[(*nhf)++], NULL, total, NULL, err,
			 errlen)) != 0)
			return r;
	}
	return 0;
}

int
selection_build(const struct selection *sel, struct host_set *hosts, char *err,
    size_t errlen)
{
	struct inventory inv;
	struct hostlist_groups grp = { selection_group, &inv };
	struct host_set excl, named;
	struct hostfile *hf = NULL;
	struct by_name ix = { NULL, 0 };
	uint64_t total = 0;
	size_t i, nhf = 0;
	int r = 0;

	host_set_init(&excl);
	host_set_init(&named);
	memset(&inv, 0, sizeof(inv));
	/*
	 * The cap is on what gets made, so every list counts -- -x lists are
	 * expanded too, and the whole inventory is loaded even for -g --
	 * and all of it is counted before any of it is made. Hosts of -g
	 * groups and @group are copies of inventory lines already counted.
	 */
	for (i = 0; i < sel->nw; i++)
		if (sel->wlists[i][0] != '^' &&
		    (r = tally_list("-w", sel->wlists[i], &total, err,
			 errlen)) != 0)
			goto out;
	for (i = 0; i < sel->nx; i++)
		if ((r = tally_list("-x", sel->xlists[i], &total, err,
			 errlen)) != 0)
			goto out;
	if ((r = hostfiles_load(sel, &hf, &nhf, &total, err, errlen)) != 0)
		goto out;
	if (sel->inventory != NULL) {
		if ((r = inventory_load(sel->inventory, total, &inv, err,
			 errlen)) != 0)
			goto out;
		for (i = 0; i < inv.nunused; i++)
			log_info("inventory %s: not used by muster",
			    inv.unused[i]);
		if (sel->ng == 0 && sel->nw == 0 && sel->nh == 0)
			r = inventory_select(&inv, "all", hosts, err, errlen);
		for (i = 0; r == 0 && i < sel->ng; i++)
			r = inventory_select(&inv, sel->groups[i], hosts, err,
			    errlen);
		if (r != 0)
			goto out;
		/* The by-name index serves -w and host file names only. */
		if ((sel->nw > 0 || sel->nh > 0) && inv.all.n > 0 &&
		    (ix.v = calloc(inv.all.n, sizeof(*ix.v))) == NULL) {
			r = MERR_NOMEM;
			goto out;
		}
		for (i = 0; ix.v != NULL && i < inv.all.n; i++)
			ix.v[ix.n++] = &inv.all.v[i];
		if (ix.n > 0)
			qsort(ix.v, ix.n, sizeof(*ix.v),
			    selection_by_name_cmp);
	}
	for (i = 0; i < sel->nw; i++)
		if (sel->wlists[i][0] != '^' &&
		    (r = hostlist_eval(sel->wlists[i],
			 sel->inventory ? &grp : NULL, &named, err, errlen)) !=
			0)
			goto out;
	for (i = 0; i < nhf; i++)
		if ((r = hostfile_each(&hf[i], sel->inventory ? &grp : NULL,
			 NULL, &named, err, errlen)) != 0)
			goto out;
	for (i = 0; i < named.n; i++)
		if ((r = add_named(hosts, &named.v[i], &ix)) != 0)
			goto out;
	for (i = 0; i < sel->nx; i++)
		if ((r = hostlist_eval(sel->xlists[i],
			 sel->inventory ? &grp : NULL, &excl, err, errlen)) !=
		    0)
			goto out;
	host_set_exclude(hosts, &excl);
	if (hosts->n == 0) {
		snprintf(err, errlen, "the selection contains no hosts");
		r = MERR_INVAL;
	}
out:
	if (r == MERR_NOMEM)
		snprintf(err, errlen, "%s", merr_str(r));
	for (i = 0; hf != NULL && i < nhf; i++)
		free(hf[i].text);
	free(hf);
	free(ix.v);
	host_set_free(&excl);
	host_set_free(&named);
	if (sel->inventory != NULL)
		inventory_free(&inv);
	return r;
}
