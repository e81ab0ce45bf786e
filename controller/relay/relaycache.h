/*
 * The relay's cache of agents on the gateway: the directory its own binary
 * was started from (the bootstrap's place, ~/.cache/muster or another),
 * each agent as muster-agent-<SHA-256 hex>, the name the bootstrap gives
 * an agent on a host. A RelaySetup names the agents by hash; the relay
 * takes them from here and asks the controller only for those it lacks
 * (PROTOCOL.md 15.5).
 */
#ifndef MUSTER_RELAYCACHE_H
#define MUSTER_RELAYCACHE_H

#include <stddef.h>
#include <stdint.h>

/* Largest agent the cache reads. */
#define RELAYCACHE_AGENT_MAX (64u << 20)

/* The directory of the running binary. */
int relaycache_dir(char *out, size_t outlen);
/* The agent whose SHA-256 is sha256 (64 lowercase hex), read whole into
 * *data (malloc'd) if it is a regular file there; the caller checks its
 * hash. MERR_NOTFOUND when there is none. */
int relaycache_load(const char *dir, const char *sha256, uint8_t **data,
    size_t *len);
/* Keep an agent for the next run: written to a temporary file, synced,
 * renamed into place. */
int relaycache_save(const char *dir, const char *sha256, const uint8_t *data,
    size_t len);

#endif
