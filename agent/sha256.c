/*
 * SHA-256 after FIPS 180-4 §6.2: portable C for any architecture the agent
 * is built for, on x86-64 the SHA extensions and on aarch64 the ARMv8 SHA-2
 * instructions where the CPU has them.
 * The agent hashes every byte it sends or receives and every existing file
 * a Put compares; portable C does about 250 MB/s, below what an SSH channel
 * carries, the SHA instructions several times that.
 */
#include "sha256.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SHA256_X86 1
#endif

#if defined(__aarch64__) && defined(__GNUC__)
#include <arm_neon.h>
#include <sys/auxv.h>
#define SHA256_ARM 1
#endif

/* clang-format off */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
/* clang-format on */

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/*
 * One round, with the eight working variables renamed instead of moved:
 * unrolled eight at a time, the compiler keeps them all in registers.
 */
/* clang-format off */
#define ROUND(a, b, c, d, e, f, g, h, i) do {				\
	uint32_t t1_ = (h) + BSIG1(e) + CH(e, f, g) + K[i] + w[(i) & 15];	\
	(d) += t1_;							\
	(h) = t1_ + BSIG0(a) + MAJ(a, b, c);				\
} while (0)

/* The schedule in a ring of 16 words: W[i] replaces W[i - 16]. */
#define SCHEDULE(i) (w[(i) & 15] += SSIG1(w[((i) - 2) & 15]) +		\
	w[((i) - 7) & 15] + SSIG0(w[((i) - 15) & 15]))
/* clang-format on */

static void
compress_c(uint32_t state[8], const uint8_t *block, size_t nblocks)
{
	uint32_t w[16], a, b, c, d, e, f, g, h;
	int i;

	for (; nblocks > 0; nblocks--, block += SHA256_BLOCK) {
		for (i = 0; i < 16; i++)
			w[i] = load_be32(block + 4 * i);
		a = state[0];
		b = state[1];
		c = state[2];
		d = state[3];
		e = state[4];
		f = state[5];
		g = state[6];
		h = state[7];
		for (i = 0; i < 64; i += 8) {
			if (i >= 16) {
				SCHEDULE(i);
				SCHEDULE(i + 1);
				SCHEDULE(i + 2);
				SCHEDULE(i + 3);
				SCHEDULE(i + 4);
				SCHEDULE(i + 5);
				SCHEDULE(i + 6);
				SCHEDULE(i + 7);
			}
			ROUND(a, b, c, d, e, f, g, h, i);
			ROUND(h, a, b, c, d, e, f, g, i + 1);
			ROUND(g, h, a, b, c, d, e, f, i + 2);
			ROUND(f, g, h, a, b, c, d, e, i + 3);
			ROUND(e, f, g, h, a, b, c, d, i + 4);
			ROUND(d, e, f, g, h, a, b, c, i + 5);
			ROUND(c, d, e, f, g, h, a, b, i + 6);
			ROUND(b, c, d, e, f, g, h, a, i + 7);
		}
		state[0] += a;
		state[1] += b;
		state[2] += c;
		state[3] += d;
		state[4] += e;
		state[5] += f;
		state[6] += g;
		state[7] += h;
	}
}

#ifdef SHA256_X86
/*
 * With the SHA extensions: sha256rnds2 does two rounds on the state split
 * as ABEF and CDGH, sha256msg1/msg2 extend the schedule four words at a
 * time. Compiled for those instructions only; called only if CPUID has
 * them.
 */
__attribute__((target("sha,sse4.1,ssse3"))) static void
compress_x86(uint32_t state[8], const uint8_t *block, size_t nblocks)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL,
	    0x0405060700010203ULL);
	__m128i abef, cdgh, abef_in, cdgh_in, m[4], t, k;
	int i;

	/* state is A..H in order: lanes DCBA and HGFE. */
	t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]),
	    0xb1); /* CDAB */
	cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]),
	    0x1b);			       /* EFGH */
	abef = _mm_alignr_epi8(t, cdgh, 8);    /* ABEF */
	cdgh = _mm_blend_epi16(cdgh, t, 0xf0); /* CDGH */
	for (; nblocks > 0; nblocks--, block += SHA256_BLOCK) {
		abef_in = abef;
		cdgh_in = cdgh;
#pragma GCC unroll 16
		for (i = 0; i < 16; i++) {
			/* m[i & 3] is W[4i..4i+3]; the ring holds the last
			 * sixteen words. */
			if (i < 4)
				m[i] = _mm_shuffle_epi8(
				    _mm_loadu_si128(
					(const __m128i *)(block + 16 * i)),
				    bswap);
			else {
				t = _mm_sha256msg1_epu32(m[i & 3],
				    m[(i + 1) & 3]);
				t = _mm_add_epi32(t,
				    _mm_alignr_epi8(m[(i + 3) & 3],
					m[(i + 2) & 3], 4));
				m[i & 3] = _mm_sha256msg2_epu32(t,
				    m[(i + 3) & 3]);
			}
			k = _mm_add_epi32(m[i & 3],
			    _mm_loadu_si128((const __m128i *)&K[4 * i]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, k);
			abef = _mm_sha256rnds2_epu32(abef, cdgh,
			    _mm_shuffle_epi32(k, 0x0e));
		}
		abef = _mm_add_epi32(abef, abef_in);
		cdgh = _mm_add_epi32(cdgh, cdgh_in);
	}
	t = _mm_shuffle_epi32(abef, 0x1b);    /* FEBA */
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1); /* DCHG */
	_mm_storeu_si128((__m128i *)&state[0],
	    _mm_blend_epi16(t, cdgh, 0xf0)); /* DCBA */
	_mm_storeu_si128((__m128i *)&state[4],
	    _mm_alignr_epi8(cdgh, t, 8)); /* HGFE */
}

static int
have_sha_ext(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) ||
	    !(c & bit_SSSE3))
		return 0;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
}
#endif

#ifdef SHA256_ARM
/*
 * With the ARMv8 SHA-2 instructions: sha256h/sha256h2 do four rounds on
 * the state as ABCD and EFGH, sha256su0/su1 extend the schedule four words
 * at a time. Compiled for them only; called only if HWCAP says the CPU
 * has them.
 */
__attribute__((target("+crypto"))) static void
compress_arm(uint32_t state[8], const uint8_t *block, size_t nblocks)
{
	uint32x4_t abcd = vld1q_u32(&state[0]), efgh = vld1q_u32(&state[4]);
	uint32x4_t abcd_in, efgh_in, m[4], k, t;
	int i;

	for (; nblocks > 0; nblocks--, block += SHA256_BLOCK) {
		abcd_in = abcd;
		efgh_in = efgh;
#pragma GCC unroll 16
		for (i = 0; i < 16; i++) {
			/* m[i & 3] is W[4i..4i+3], as on x86. */
			if (i < 4)
				m[i] = vreinterpretq_u32_u8(
				    vrev32q_u8(vld1q_u8(block + 16 * i)));
			else
				m[i & 3] = vsha256su1q_u32(
				    vsha256su0q_u32(m[i & 3], m[(i + 1) & 3]),
				    m[(i + 2) & 3], m[(i + 3) & 3]);
			k = vaddq_u32(m[i & 3], vld1q_u32(&K[4 * i]));
			t = abcd;
			abcd = vsha256hq_u32(abcd, efgh, k);
			efgh = vsha256h2q_u32(efgh, t, k);
		}
		abcd = vaddq_u32(abcd, abcd_in);
		efgh = vaddq_u32(efgh, efgh_in);
	}
	vst1q_u32(&state[0], abcd);
	vst1q_u32(&state[4], efgh);
}
#endif

/* Chosen on first use. */
static void (*compress)(uint32_t *, const uint8_t *, size_t);

static void
choose_compress(void)
{
	compress = compress_c;
#ifdef SHA256_X86
	if (have_sha_ext())
		compress = compress_x86;
#endif
#ifdef SHA256_ARM
	if (getauxval(AT_HWCAP) & HWCAP_SHA2)
		compress = compress_arm;
#endif
}

void
sha256_init(struct sha256 *ctx)
{
	/* clang-format off */
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};
	/* clang-format on */

	if (compress == NULL)
		choose_compress();
	memcpy(ctx->state, iv, sizeof(iv));
	ctx->bytes = 0;
	ctx->fill = 0;
}

void
sha256_update(struct sha256 *ctx, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t take;

	ctx->bytes += n;
	if (ctx->fill > 0) {
		take = SHA256_BLOCK - ctx->fill;
		if (take > n)
			take = n;
		memcpy(ctx->block + ctx->fill, p, take);
		ctx->fill += take;
		p += take;
		n -= take;
		if (ctx->fill < SHA256_BLOCK)
			return;
		compress(ctx->state, ctx->block, 1);
		ctx->fill = 0;
	}
	/* Whole blocks straight from the caller's buffer, without a copy. */
	if (n >= SHA256_BLOCK) {
		compress(ctx->state, p, n / SHA256_BLOCK);
		p += n / SHA256_BLOCK * SHA256_BLOCK;
		n %= SHA256_BLOCK;
	}
	if (n > 0) {
		memcpy(ctx->block, p, n);
		ctx->fill = n;
	}
}

void
sha256_final(struct sha256 *ctx, uint8_t out[SHA256_LEN])
{
	uint64_t bits = ctx->bytes * 8;
	int i;

	/* Padding: 0x80, zeros up to 56 mod 64, the length in bits. */
	ctx->block[ctx->fill++] = 0x80;
	if (ctx->fill > SHA256_BLOCK - 8) {
		memset(ctx->block + ctx->fill, 0, SHA256_BLOCK - ctx->fill);
		compress(ctx->state, ctx->block, 1);
		ctx->fill = 0;
	}
	memset(ctx->block + ctx->fill, 0, SHA256_BLOCK - 8 - ctx->fill);
	store_be32(ctx->block + 56, bits >> 32);
	store_be32(ctx->block + 60, (uint32_t)bits);
	compress(ctx->state, ctx->block, 1);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, ctx->state[i]);
	memset(ctx, 0, sizeof(*ctx));
}
