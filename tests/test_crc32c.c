/* test_crc32c.c: CRC-32C (src/util/crc32c.c).
 *
 *   - the published test vectors: "123456789" (the catalogue check value)
 *     and the four 32-byte patterns of RFC 3720 appendix B.4;
 *   - chaining: the CRC of a buffer equals the CRC computed in pieces, split
 *     at every offset (covers the 8-byte body and the byte tail of both paths);
 *   - the SSE4.2 path (when the CPU has it) and the table path agree on
 *     unaligned, odd-length buffers; n == 0 returns crc unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "llmpi/crc32c.h"

static void test_known_vectors(void **state) {
    (void)state;
    unsigned char buf[32];
    assert_int_equal(ll_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(ll_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    memset(buf, 0, sizeof buf);
    assert_int_equal(ll_crc32c(0, buf, 32), 0x8A9136AAu);
    assert_int_equal(ll_crc32c_portable(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    assert_int_equal(ll_crc32c(0, buf, 32), 0x62A8AB43u);
    assert_int_equal(ll_crc32c_portable(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)i;
    assert_int_equal(ll_crc32c(0, buf, 32), 0x46DD794Eu);
    assert_int_equal(ll_crc32c_portable(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (unsigned char)(31 - i);
    assert_int_equal(ll_crc32c(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(ll_crc32c_portable(0, buf, 32), 0x113FDB5Cu);
    assert_int_equal(ll_crc32c(0x1234u, NULL, 0), 0x1234u);
    assert_int_equal(ll_crc32c_portable(0x1234u, NULL, 0), 0x1234u);
}

static void test_chaining_and_paths_agree(void **state) {
    (void)state;
    static unsigned char buf[1000 + 7];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) { x = x * 1103515245u + 12345u; buf[i] = (unsigned char)(x >> 16); }
    for (size_t start = 0; start < 8; start++) {  /* unaligned starts */
        const unsigned char *p = buf + start;
        size_t n = 1000 - start % 3;
        uint32_t whole = ll_crc32c(0, p, n);
        assert_int_equal(ll_crc32c_portable(0, p, n), whole);
        for (size_t cut = 0; cut <= n; cut += 1 + cut / 16)
            assert_int_equal(ll_crc32c(ll_crc32c(0, p, cut), p + cut, n - cut), whole);
    }
    /* one flipped bit changes the value */
    uint32_t before = ll_crc32c(0, buf, 100);
    buf[50] ^= 0x10;
    assert_int_not_equal(ll_crc32c(0, buf, 100), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_chaining_and_paths_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
