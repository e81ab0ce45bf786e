/*
 * `muster keys install`: put the controller's public key into
 * ~/.ssh/authorized_keys on hosts that still take a password, the way
 * ssh-copy-id does, so that `muster run` reaches them with the key alone.
 *
 * Not performance critical: each host is one blocking libssh session on a
 * worker thread (connect, host key, try the key, password, SFTP), with the
 * connect timeout on every blocking step, so a dead host holds one worker
 * and never the others. Results are reported on the loop thread, which is
 * also the only one that asks for the password (once, when the first host
 * needs it). The route to each host is the one run takes (keyroute.h).
 */
#ifndef MUSTER_KEYINSTALL_H
#define MUSTER_KEYINSTALL_H

#include <stdbool.h>
#include <stddef.h>

#include <libssh/libssh.h>

#include "hostlist.h"
#include "keyinstall_text.h"
#include "transport.h"

struct keyinstall_options {
	const char *ssh_config;	 /* NULL: ~/.ssh/config */
	const char *known_hosts; /* NULL: ~/.ssh/known_hosts */
	bool accept_new;
	double connect_timeout; /* seconds, each blocking step */
	int fanout;		/* hosts in progress at once (capped) */
	bool json;
	ssh_key identity; /* tried first; its public half is installed */
	const char *pubkey_line; /* "type base64 comment" to append */
	const char *password;	 /* NULL: ask on the terminal when needed */
	/* The route's and its bastions' settings (keyroute.h): ssh_config,
	 * -J, known_hosts, identity, timeouts, pacing, --jump-channels;
	 * loop and workers are ours. */
	struct conn_config net;
};

/* Runs the whole job; returns a muster_exit status (status.h). */
int keyinstall_hosts(const struct host_set *hosts,
    const struct keyinstall_options *opts);

#endif
