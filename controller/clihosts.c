/*
 * cli_hosts (cli.h): the parsed selection options into the hosts to reach:
 * the selection (select/selection.h), then --rerun's filter, -l's user
 * and the check of per-host key files against the run's key.
 */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libssh/libssh.h>

#include "array.h"
#include "err.h"
#include "bootstrap.h"
#include "identity.h"
#include "inventory.h"
#include "lastrun.h"
#include "selection.h"
#include "pace.h"
#include "sshopt.h"
#include "utf8.h"

/* "~/" as Ansible reads it, then the file itself. */
static char *
key_realpath(const char *path)
{
	const char *home = getenv("HOME");
	char *tilde = NULL, *real;

	if (strncmp(path, "~/", 2) == 0 && home != NULL &&
	    asprintf(&tilde, "%s/%s", home, path + 2) < 0)
		return NULL;
	real = realpath(tilde != NULL ? tilde : path, NULL);
	free(tilde);
	return real;
}

/*
 * Per-host keys (ansible_ssh_private_key_file, key=): each host logs in
 * with its own. Every distinct file is resolved and loaded once here, so a
 * missing or unreadable key is a usage error naming the inventory's
 * FILE:LINE before any host is contacted; the host then carries the
 * absolute path (the transport loads it again for its own session). The
 * run's own key as a per-host key is just the run's key. keys install
 * installs the run's key: another key there is refused, never ignored.
 */
struct cli_keyfile {
	char *path, *real;
};

static int
key_check_one(const struct cli *cli, const struct host_spec *s,
    const char *mine, char **real, char *err, size_t errlen)
{
	const char *where = s->key_origin ?
	    s->key_origin :
	    "ansible_ssh_private_key_file";
	ssh_key key = NULL;

	if ((*real = key_realpath(s->key_file)) == NULL) {
		snprintf(err, errlen, "%s: %s for host %s: %s", where,
		    s->key_file, s->name, strerror(errno));
		return MERR_INVAL;
	}
	if (mine != NULL && strcmp(mine, *real) == 0)
		return 0;
	if (cli->cmd == CLI_KEYS_INSTALL) {
		snprintf(err, errlen,
		    "%s: %s for host %s: keys install "
		    "installs the run's key; give it with -k %s",
		    where, s->key_file, s->name, s->key_file);
		return MERR_INVAL;
	}
	if (ssh_pki_import_privkey_file(*real, getenv("MUSTER_KEY_PASSPHRASE"),
		NULL, NULL, &key) != SSH_OK) {
		snprintf(err, errlen,
		    "%s: %s for host %s: cannot load the "
		    "private key (not a key, unreadable, or encrypted without "
		    "MUSTER_KEY_PASSPHRASE)",
		    where, *real, s->name);
		return MERR_INVAL;
	}
	ssh_key_free(key);
	return 0;
}

static int
check_key_files(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen)
{
	struct cli_keyfile *seen = NULL;
	size_t nseen = 0, seen_cap = 0, i, k;
	char *mine = NULL, *real, *def;
	int r = 0;

	if (cli->identity == NULL &&
	    asprintf(&def, "%s/id_ed25519", identity_default_dir()) >= 0) {
		mine = key_realpath(def);
		free(def);
	} else if (cli->identity != NULL && strcmp(cli->identity, "-") != 0)
		mine = key_realpath(cli->identity);
	for (i = 0; r == 0 && i < hosts->n; i++) {
		struct host_spec *s = &hosts->v[i];

		if (s->key_file == NULL)
			continue;
		/* A few distinct files for many hosts: each checked once. */
		for (k = 0; k < nseen; k++)
			if (strcmp(seen[k].path, s->key_file) == 0)
				break;
		if (k == nseen) {
			real = NULL;
			if ((r = key_check_one(cli, s, mine, &real, err,
				 errlen)) != 0 ||
			    (r = ARRAY_RESERVE(seen, seen_cap, nseen + 1,
				 4)) != 0) {
				free(real);
				break;
			}
			seen[nseen].real = real;
			if ((seen[nseen].path = strdup(s->key_file)) == NULL) {
				free(real);
				r = MERR_NOMEM;
				break;
			}
			nseen++;
		}
		free(s->key_file);
		s->key_file = NULL;
		/* The run's own key needs nothing of the host. */
		if (mine != NULL && strcmp(mine, seen[k].real) == 0) {
			free(s->key_origin);
			s->key_origin = NULL;
			continue;
		}
		if ((s->key_file = strdup(seen[k].real)) == NULL)
			r = MERR_NOMEM;
	}
	if (r == MERR_NOMEM)
		snprintf(err, errlen, "%s", merr_str(r));
	for (k = 0; k < nseen; k++) {
		free(seen[k].path);
		free(seen[k].real);
	}
	free(seen);
	free(mine);
	return r;
}

/*
 * --rerun: the last job's hosts that ended so. Without -w or -g they are
 * the selection; with them, the selection keeps only those.
 */
static int
cli_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cli_rerun(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen)
{
	struct host_set last, kept;
	char **names = NULL;
	unsigned mask;
	size_t i;
	int r;

	host_set_init(&last);
	host_set_init(&kept);
	if ((r = lastrun_statuses(cli->rerun, &mask, err, errlen)) != 0 ||
	    (r = lastrun_select(mask, &last, err, errlen)) != 0)
		goto out;
	if (cli->nw == 0 && cli->ng == 0 && cli->nh == 0) {
		host_set_free(hosts);
		*hosts = last;
		host_set_init(&last);
		goto out;
	}
	/* Sorted names, so that a large selection is not n x m compares. */
	if (last.n > 0 && (names = calloc(last.n, sizeof(*names))) == NULL) {
		r = MERR_NOMEM;
		goto out;
	}
	for (i = 0; i < last.n; i++)
		names[i] = last.v[i].name;
	if (last.n > 0)
		qsort(names, last.n, sizeof(*names), cli_name_cmp);
	for (i = 0; i < hosts->n; i++) {
		char *key = hosts->v[i].name;

		if (last.n > 0 &&
		    bsearch(&key, names, last.n, sizeof(*names),
			cli_name_cmp) != NULL &&
		    (r = host_set_add_spec(&kept, &hosts->v[i])) != 0)
			goto out;
	}
	host_set_free(hosts);
	*hosts = kept;
	host_set_init(&kept);
out:
	free(names);
	host_set_free(&last);
	host_set_free(&kept);
	return r;
}

/* -l: the user of every host that has none yet. */
static int
cli_login(const char *login, struct host_set *hosts)
{
	struct host_set with;
	size_t i;
	int r = 0;

	host_set_init(&with);
	for (i = 0; r == 0 && i < hosts->n; i++) {
		struct host_spec h = hosts->v[i];

		/* A shallow copy: host_set_add_spec copies every field. */
		if (h.user == NULL)
			h.user = (char *)login;
		r = host_set_add_spec(&with, &h);
	}
	if (r != 0) {
		host_set_free(&with);
		return r;
	}
	host_set_free(hosts);
	*hosts = with;
	return 0;
}

/* --agent-dir: the agent directory of every host whose inventory names
 * none (an inventory's agent_dir is about that host, and so wins). */
static int
cli_agent_dir(const struct cli *cli, struct host_set *hosts)
{
	size_t i;

	for (i = 0; i < hosts->n; i++) {
		struct host_spec *s = &hosts->v[i];

		if (s->agent_dir != NULL)
			continue;
		if ((s->agent_dir = strdup(cli->agent_dir)) == NULL ||
		    (s->agent_dir_origin = strdup(cli->agent_dir_origin)) ==
			NULL)
			return MERR_NOMEM;
	}
	return 0;
}

int
cli_hosts(const struct cli *cli, struct host_set *hosts, char *err,
    size_t errlen)
{
	struct selection sel;
	int r;

	memset(&sel, 0, sizeof(sel));
	sel.xlists = cli->xlists;
	sel.nx = cli->nx;
	if (cli->rerun != NULL && cli->nw == 0 && cli->ng == 0 &&
	    cli->nh == 0) {
		/* The last run's hosts are the selection; -x still applies. */
		if ((r = cli_rerun(cli, hosts, err, errlen)) != 0)
			return r;
		if (cli->nx > 0) {
			struct host_set excl;

			host_set_init(&excl);
			sel.wlists = cli->xlists;
			sel.nw = cli->nx;
			sel.xlists = NULL;
			sel.nx = 0;
			r = selection_build(&sel, &excl, err, errlen);
			if (r == 0 || r == MERR_INVAL)
				host_set_exclude(hosts, &excl);
			host_set_free(&excl);
			if (r != 0 && r != MERR_INVAL)
				return r;
		}
	} else {
		sel.wlists = cli->wlists;
		sel.nw = cli->nw;
		sel.hostfiles = cli->hostfiles;
		sel.nh = cli->nh;
		sel.groups = cli->groups;
		sel.ng = cli->ng;
		sel.inventory = cli->inventory;
		if ((r = selection_build(&sel, hosts, err, errlen)) != 0)
			return r;
		if (cli->rerun != NULL &&
		    (r = cli_rerun(cli, hosts, err, errlen)) != 0)
			return r;
	}
	if (cli->login != NULL && (r = cli_login(cli->login, hosts)) != 0)
		return r;
	if (cli->agent_dir != NULL && (r = cli_agent_dir(cli, hosts)) != 0)
		return r;
	if (hosts->n == 0 && cli->rerun != NULL) {
		snprintf(err, errlen,
		    "--rerun %s: no host of the last run "
		    "ended so; nothing to do",
		    cli->rerun);
		return MERR_NOTFOUND;
	}
	if (hosts->n == 0) {
		snprintf(err, errlen, "the selection contains no hosts");
		return MERR_INVAL;
	}
	return check_key_files(cli, hosts, err, errlen);
}
