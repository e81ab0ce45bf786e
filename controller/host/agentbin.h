/*
 * The agents this controller can send: one per architecture, each with
 * its SHA-256 (its content-addressed name on hosts), and the set's id.
 *
 * The files sit next to the controller (or in ../libexec/muster):
 * muster-agent.<arch> for each architecture built (agent/musl.cmake), and
 * muster-agent, built with the controller's own C library, for the
 * controller's architecture when no muster-agent.<arch> covers it.
 * $MUSTER_AGENT names the agent for the controller's architecture instead.
 * A host's `uname -m` picks the agent (agentset_find); the set id names
 * the start link on hosts (bootstrap.h), so that one start command serves
 * every architecture.
 */
#ifndef MUSTER_AGENTBIN_H
#define MUSTER_AGENTBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGENTBIN_ARCH_MAX 16

struct agentbin {
	char arch[AGENTBIN_ARCH_MAX]; /* canonical `uname -m` */
	char *path;
	uint8_t *data;
	size_t len;
	char sha256[65];
};

struct agentset {
	struct agentbin *v;
	size_t n, cap;
	char id[65]; /* hash over every arch=sha256 pair */
	bool relays; /* relayset_load's: for messages */
};

/* Load every agent there is. Fails when the controller's own architecture
 * has none (or $MUSTER_AGENT cannot be read). */
int agentset_load(struct agentset *set, char *err, size_t errlen);
void agentset_free(struct agentset *set);
/* A set built from memory (a relay's, sent by its controller): add each
 * agent (MERR_INVAL for an architecture not canonical), then seal to
 * compute the id. */
int agentset_add(struct agentset *set, const char *arch, const uint8_t *data,
    size_t len);
int agentset_seal(struct agentset *set);
/* The relay binaries, to bootstrap on a gateway exactly as an agent is:
 * muster-relay.<arch> for each architecture cross-built
 * (controller/relay/cross.cmake), and muster-relay (or $MUSTER_RELAY) for
 * the controller's own; next to the controller or in ../libexec/muster.
 * A gateway's `uname -m` picks one (agentset_find). */
int relayset_load(struct agentset *set, char *err, size_t errlen);
/* The relay set shared by every relay of the process: loaded by the
 * first reference, freed with the last (relay.c's relays). */
int relayset_ref(char *err, size_t errlen);
const struct agentset *relayset_shared(void);
void relayset_unref(void);
/* The agent for a host whose `uname -m` says machine, or NULL: then
 * agentset_missing explains, in "no agent for ARCH (...)" form ("no relay
 * for ARCH (...)" for the relays). */
const struct agentbin *agentset_find(const struct agentset *set,
    const char *machine);
void agentset_missing(const struct agentset *set, const char *machine,
    char *out, size_t outlen);
/* The `uname -m` names an agent serves, '|'-separated (a shell case
 * pattern: only [a-z0-9_|]), for the start command. */
const char *agentbin_machines(const char *arch);
/* Lower-case hex SHA-256 of data. */
void sha256_hex(const uint8_t *data, size_t len, char out[65]);

#endif
