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
 * muster logs in with one identity per run (-k, then ssh-agent and
 * ~/.ssh): an inventory's per-host key is honoured when it is that one,
 * and refused by name otherwise -- never silently replaced by another.
 */
static int
check_key_files(const struct cli *cli, const struct host_set *hosts, char *err,
    size_t errlen)
{
	char *mine = NULL, *theirs;
	bool same;
	size_t i;

	for (i = 0; i < hosts->n; i++) {
		const struct host_spec *s = &hosts->v[i];

		if (s->key_file == NULL)
			continue;
		if (mine == NULL && cli->identity == NULL &&
		    asprintf(&theirs, "%s/id_ed25519",
			identity_default_dir()) >= 0) {
			mine = key_realpath(theirs);
			free(theirs);
		} else if (mine == NULL && cli->identity != NULL &&
		    strcmp(cli->identity, "-") != 0)
			mine = key_realpath(cli->identity);
		theirs = key_realpath(s->key_file);
		same = mine != NULL && theirs != NULL &&
		    strcmp(mine, theirs) == 0;
		free(theirs);
		if (!same) {
			snprintf(err, errlen,
			    "%s: %s for host %s: muster logs "
			    "in with one key per run; give it with -k %s (or "
			    "load it into ssh-agent and drop the variable)",
			    s->key_origin ? s->key_origin :
					    "ansible_ssh_private_key_file",
			    s->key_file, s->name, s->key_file);
			free(mine);
			return MERR_INVAL;
		}
	}
	free(mine);
	return 0;
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
