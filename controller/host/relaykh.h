/*
 * The known_hosts a relay gets (relay.h): the controller's lines for
 * exactly the hosts behind it, each written under the name the relay will
 * look up ("addr", or "[addr]:port" off port 22), so that the relay checks
 * every host key against what the operator pinned and never trusts on
 * first use. A host with no line gets none: the relay refuses it as
 * unknown.
 */
#ifndef MUSTER_RELAYKH_H
#define MUSTER_RELAYKH_H

#include <stddef.h>
#include <stdint.h>

#include "hostlist.h"

/* path NULL: ~/.ssh/known_hosts. *text (the caller frees) holds the
 * lines; *nhosts how many of the hosts got at least one. A file with
 * @revoked lines is refused (as sshfile_check refuses it for a direct
 * connection); @cert-authority lines are left out (libssh cannot use
 * them). lines[i] is the number in path of text's line i + 1: what the
 * relay's messages name. relaykh_free frees it all. */
struct relaykh {
	char *file; /* the path read */
	char *text;
	uint32_t *lines;
	size_t nlines;
	size_t nhosts;
};
int relaykh_build(const char *path, const struct host_spec *const *hosts,
    size_t n, struct relaykh *out, char *err, size_t errlen);
void relaykh_free(struct relaykh *kh);

#endif
