// SHA-1 block compression with the x86 SHA extensions (SHA1RNDS4, SHA1NEXTE, SHA1MSG1,
// SHA1MSG2): about 2 GB/s where a portable loop does 250 MB/s. The message schedule runs
// four groups of four rounds ahead; group g (rounds 4g..4g+3) uses message words
// msg[g % 4], which SHA1MSG1 (three groups before), an XOR (two before) and SHA1MSG2
// (one before) produce from the groups behind it. Swift keeps the portable path
// (StrataCore's SHA1) and calls this only where the CPU has the instructions.
#include "sha1block.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

int strata_sha1_hardware(void) {
    static int known = -1;
    if (known < 0) {
        unsigned a = 0, b = 0, c = 0, d = 0;
        known = (__get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29))) ? 1 : 0;
    }
    return known;
}

// One group of four rounds, g from 1 to 19, F the round function (g / 5), a literal.
#define GROUP(g, F) do { \
    __m128i *cur = ((g) & 1) ? &e1 : &e0, *other = ((g) & 1) ? &e0 : &e1; \
    *cur = _mm_sha1nexte_epu32(*cur, msg[(g) & 3]); \
    *other = abcd; \
    if ((g) >= 3 && (g) <= 18) msg[((g) + 1) & 3] = _mm_sha1msg2_epu32(msg[((g) + 1) & 3], msg[(g) & 3]); \
    abcd = _mm_sha1rnds4_epu32(abcd, *cur, F); \
    if ((g) <= 16) msg[((g) + 3) & 3] = _mm_sha1msg1_epu32(msg[((g) + 3) & 3], msg[(g) & 3]); \
    if ((g) >= 2 && (g) <= 17) msg[((g) + 2) & 3] = _mm_xor_si128(msg[((g) + 2) & 3], msg[(g) & 3]); \
} while (0)

__attribute__((target("sha,ssse3,sse4.1")))
void strata_sha1_blocks_hardware(uint32_t state[5], const uint8_t *data, size_t blocks) {
    // Words big-endian, and the four of a vector in reverse order (as the instructions want).
    const __m128i mask = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)state), 0x1B);
    __m128i e0 = _mm_set_epi32((int)state[4], 0, 0, 0), e1;
    for (; blocks > 0; blocks--, data += 64) {
        const __m128i abcdSaved = abcd, e0Saved = e0;
        __m128i msg[4];
        for (int i = 0; i < 4; i++) msg[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * i)), mask);
        // Group 0: E is added, not derived from the previous group's A.
        e0 = _mm_add_epi32(e0, msg[0]);
        e1 = abcd;
        abcd = _mm_sha1rnds4_epu32(abcd, e0, 0);
        GROUP(1, 0); GROUP(2, 0); GROUP(3, 0); GROUP(4, 0);
        GROUP(5, 1); GROUP(6, 1); GROUP(7, 1); GROUP(8, 1); GROUP(9, 1);
        GROUP(10, 2); GROUP(11, 2); GROUP(12, 2); GROUP(13, 2); GROUP(14, 2);
        GROUP(15, 3); GROUP(16, 3); GROUP(17, 3); GROUP(18, 3); GROUP(19, 3);
        // Group 19 left the A it started from in e0: E is its rotation, plus the saved E.
        e0 = _mm_sha1nexte_epu32(e0, e0Saved);
        abcd = _mm_add_epi32(abcd, abcdSaved);
    }
    _mm_storeu_si128((__m128i *)state, _mm_shuffle_epi32(abcd, 0x1B));
    state[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}

#else

int strata_sha1_hardware(void) { return 0; }
void strata_sha1_blocks_hardware(uint32_t state[5], const uint8_t *data, size_t blocks) {
    (void)state; (void)data; (void)blocks;
    __builtin_trap();  // callers check strata_sha1_hardware() first
}

#endif
