/*
 * agent/sha256.c against the FIPS 180-2 examples and, for every length
 * around the block boundaries and arbitrary splits of the input, against
 * libcrypto (which the controller links, the agent does not). Everything
 * runs once with the portable code and once with the x86 SHA extensions
 * where this CPU has them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>

#include <cmocka.h>
#include <openssl/evp.h>

/* The agent's module is not in a library the tests link: build it here. */
#include "../../agent/sha256.c"

static void
hex(const uint8_t d[SHA256_LEN], char out[2 * SHA256_LEN + 1])
{
	int i;

	for (i = 0; i < SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void
check_oneshot(const void *p, size_t n, const char *want)
{
	struct sha256 ctx;
	uint8_t d[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	sha256_init(&ctx);
	sha256_update(&ctx, p, n);
	sha256_final(&ctx, d);
	hex(d, got);
	assert_string_equal(got, want);
}

static void
test_fips_vectors(void **state)
{
	check_oneshot("", 0,
	    "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	check_oneshot("abc", 3,
	    "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	check_oneshot(
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1");
	check_oneshot(
	    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	    "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
	    112,
	    "cf5b16a778af8380036ce59e7b049237"
	    "0b249b11e8f07a51afac45037afee9d1");
}

/* One million 'a', fed in pieces whose sizes do not divide 64. */
static void
test_million_a(void **state)
{
	static uint8_t a[1000000];
	struct sha256 ctx;
	uint8_t d[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];
	size_t off, n;

	memset(a, 'a', sizeof(a));
	check_oneshot(a, sizeof(a),
	    "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
	sha256_init(&ctx);
	for (off = 0; off < sizeof(a); off += n) {
		n = 997;
		if (n > sizeof(a) - off)
			n = sizeof(a) - off;
		sha256_update(&ctx, a + off, n);
	}
	sha256_final(&ctx, d);
	hex(d, got);
	assert_string_equal(got,
	    "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0");
}

static void
reference(const uint8_t *p, size_t n, uint8_t out[SHA256_LEN])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, SHA256_LEN);
}

/* Every length up to a few blocks, each split in two at every point, and
 * in random pieces: padding and buffering at all offsets. */
static void
test_lengths_and_splits(void **state)
{
	uint8_t msg[300], want[SHA256_LEN], got[SHA256_LEN];
	struct sha256 ctx;
	size_t len, cut, off, n;
	unsigned int seed = 12345;

	for (len = 0; len < sizeof(msg); len++)
		msg[len] = (uint8_t)(len * 131 + 7);
	for (len = 0; len <= sizeof(msg); len++) {
		reference(msg, len, want);
		for (cut = 0; cut <= len; cut++) {
			sha256_init(&ctx);
			sha256_update(&ctx, msg, cut);
			sha256_update(&ctx, msg + cut, len - cut);
			sha256_final(&ctx, got);
			assert_memory_equal(got, want, SHA256_LEN);
		}
		sha256_init(&ctx);
		for (off = 0; off < len; off += n) {
			n = rand_r(&seed) % 70;
			if (n > len - off)
				n = len - off;
			sha256_update(&ctx, msg + off, n);
		}
		sha256_final(&ctx, got);
		assert_memory_equal(got, want, SHA256_LEN);
	}
}

static int
use_portable(void **state)
{
	compress = compress_c;
	return 0;
}

static int
use_x86(void **state)
{
	compress = NULL;
#ifdef SHA256_X86
	if (have_sha_ext())
		compress = compress_x86;
#endif
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fips_vectors),
		cmocka_unit_test(test_million_a),
		cmocka_unit_test(test_lengths_and_splits),
	};
	int failed;

	failed = cmocka_run_group_tests_name("portable", tests, use_portable,
	    NULL);
	use_x86(NULL);
	if (compress == NULL) {
		printf("no SHA extensions on this CPU: x86 code not tested\n");
		return failed;
	}
	return failed +
	    cmocka_run_group_tests_name("x86 SHA extensions", tests, use_x86,
		NULL);
}
