/* crc32c.c: CRC-32C (Castagnoli), contract in include/llmpi/crc32c.h.
 *
 * Invariants:
 *   - one result for given bytes: the SSE4.2 path (x86-64 CPUs that have
 *     the crc32 instruction, chosen at run time) and the portable
 *     slicing-by-8 table path compute the same reflected CRC-32C, with the
 *     usual pre- and post-inversion, so values chain across calls;
 *   - the tables are built once (pthread_once), so concurrent first calls are safe;
 *   - the table path reads bytes one at a time or as little-endian 64-bit
 *     words assembled byte by byte: no alignment or endianness assumption.
 */
#include "llmpi/crc32c.h"

#include <pthread.h>
#include <string.h>

#define CRC32C_POLY 0x82F63B78u /* reflected Castagnoli polynomial */

static uint32_t crc_table[8][256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

/* crc_table[0] is the byte-at-a-time table; crc_table[k][b] is the CRC of
 * byte b followed by k zero bytes, which slicing-by-8 combines. */
static void crc_table_build(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
        crc_table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++)
            crc_table[k][b] = (crc_table[k - 1][b] >> 8) ^ crc_table[0][crc_table[k - 1][b] & 0xFFu];
}

/* Portable path on the inverted register c; returns the inverted register. */
static uint32_t crc_update_table(uint32_t c, const unsigned char *p, size_t n) {
    pthread_once(&crc_table_once, crc_table_build);
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^ crc_table[5][(lo >> 16) & 0xFFu] ^
            crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^
            crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFFu];
    return c;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

/* SSE4.2 path: the crc32 instruction computes exactly this polynomial. */
__attribute__((target("sse4.2"))) static uint32_t crc_update_sse42(uint32_t c, const unsigned char *p, size_t n) {
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8); /* x86 is little-endian, as the CRC's byte order wants */
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}

static int cpu_has_sse42;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_detect(void) {
    __builtin_cpu_init();
    cpu_has_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
}
#endif

uint32_t ll_crc32c_portable(uint32_t crc, const void *data, size_t n) {
    if (n == 0) return crc;
    return ~crc_update_table(~crc, data, n);
}

uint32_t ll_crc32c(uint32_t crc, const void *data, size_t n) {
    if (n == 0) return crc;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    pthread_once(&cpu_once, cpu_detect);
    if (cpu_has_sse42) return ~crc_update_sse42(~crc, data, n);
#endif
    return ~crc_update_table(~crc, data, n);
}
