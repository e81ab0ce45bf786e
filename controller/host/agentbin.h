/* Finding and hashing the agent binary that gets uploaded to hosts. */
#ifndef MUSTER_AGENTBIN_H
#define MUSTER_AGENTBIN_H

#include <stddef.h>
#include <stdint.h>

struct agentbin {
	char *path;
	uint8_t *data;
	size_t len;
	char sha256[65];
};

/* $MUSTER_AGENT, else muster-agent next to this executable, else
 * ../libexec/muster/muster-agent relative to it. */
int agentbin_load(struct agentbin *ab, char *err, size_t errlen);
void agentbin_free(struct agentbin *ab);
/* Lower-case hex SHA-256 of data. */
void sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
