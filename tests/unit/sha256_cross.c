/*
 * agent/sha256.c's instruction paths against its portable code, built by
 * agent/musl.cmake for each other architecture's agent and run under
 * qemu-user (unit-<arch>/sha256): no cmocka or libcrypto there. Exits 0
 * when every length from 0 to 1100 bytes, split at every 7th byte, agrees,
 * and the FIPS "abc" vector comes out right; prints which path ran.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/sha256.c"

static void
digest(void (*fn)(uint32_t *, const uint8_t *, size_t), const uint8_t *p,
    size_t n, size_t split, uint8_t out[SHA256_LEN])
{
	struct sha256 ctx;
	size_t off;

	compress = fn;
	sha256_init(&ctx);
	for (off = 0; off < n; off += split)
		sha256_update(&ctx, p + off,
		    n - off < split ? n - off : split);
	sha256_final(&ctx, out);
}

int
main(void)
{
	static const uint8_t abc[SHA256_LEN] = { 0xba, 0x78, 0x16, 0xbf, 0x8f,
		0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
		0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4,
		0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	void (*fast)(uint32_t *, const uint8_t *, size_t);
	uint8_t buf[1100], a[SHA256_LEN], b[SHA256_LEN];
	size_t n, i;

	choose_compress();
	fast = compress;
	printf("sha256: %s\n",
	    fast == compress_c ? "portable code only" :
				 "instructions against the portable code");
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 3));
	for (n = 0; n <= sizeof(buf); n++) {
		digest(compress_c, buf, n, 7, a);
		digest(fast, buf, n, n > 0 ? n : 1, b);
		if (memcmp(a, b, SHA256_LEN) != 0) {
			printf("sha256: length %zu differs\n", n);
			return 1;
		}
	}
	digest(fast, (const uint8_t *)"abc", 3, 3, b);
	if (memcmp(abc, b, SHA256_LEN) != 0) {
		printf("sha256: \"abc\" is wrong\n");
		return 1;
	}
	return 0;
}
