/*
 * SHA-256 (FIPS 180-4) for the agent, which links no crypto library: Put
 * compares and checks file contents with it, Get reports it per file.
 */
#ifndef MUSTER_AGENT_SHA256_H
#define MUSTER_AGENT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64

struct sha256 {
	uint32_t state[8];
	uint64_t bytes;		     /* message length so far */
	uint8_t block[SHA256_BLOCK]; /* a partial block */
	size_t fill;		     /* bytes in block */
};

void sha256_init(struct sha256 *ctx);
void sha256_update(struct sha256 *ctx, const void *p, size_t n);
/* Writes the digest; ctx must be initialised again before reuse. */
void sha256_final(struct sha256 *ctx, uint8_t out[SHA256_LEN]);

#endif
