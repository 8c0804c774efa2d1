/* test_gguf.c: the number formats of the GGUF export (src/export/gguf.c).
 *
 *   - gguf_fp32_to_fp16: IEEE half bits, round to nearest even (values
 *     from Python's struct 'e' format): normal, largest, overflow to
 *     infinity, subnormal, underflow to zero, ties, NaN;
 *   - gguf_quantize_q8_0: one block of ggml's q8_0 (fp16 scale max|x|/127
 *     little-endian, then round-half-away int8), and an all-zero block;
 *   - gguf_parse_type: the three names, anything else refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "llmpi/gguf.h"

static void test_fp16(void **state) {
    (void)state;
    assert_int_equal(gguf_fp32_to_fp16(1.0f), 0x3c00);
    assert_int_equal(gguf_fp32_to_fp16(-2.0f), 0xc000);
    assert_int_equal(gguf_fp32_to_fp16(0.1f), 0x2e66);
    assert_int_equal(gguf_fp32_to_fp16(65504.0f), 0x7bff);
    assert_int_equal(gguf_fp32_to_fp16(65520.0f), 0x7c00);      /* rounds up to infinity */
    assert_int_equal(gguf_fp32_to_fp16(1e-5f), 0x00a8);         /* subnormal */
    assert_int_equal(gguf_fp32_to_fp16(5.96e-8f), 0x0001);
    assert_int_equal(gguf_fp32_to_fp16(1e-8f), 0x0000);
    assert_int_equal(gguf_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00); /* tie: to even */
    assert_int_equal(gguf_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(gguf_fp32_to_fp16(-0.0f), 0x8000);
    assert_int_equal(gguf_fp32_to_fp16(INFINITY), 0x7c00);
    assert_int_equal(gguf_fp32_to_fp16(NAN) & 0x7e00, 0x7e00);
}

static void test_q8_0(void **state) {
    (void)state;
    static const int8_t want[32] = {-98, -91, -84, -76, -69, -62, -55, -47, -40, -33, -26, -18, -11, -4, 4, 11,
                                    18,  25,  33,  40,  47,  54,  62,  69,  76,  83,  91,  98,  105, 112, 120, 127};
    float x[64];
    for (int i = 0; i < 32; i++) x[i] = (float)i * 0.37f - 5.0f;
    memset(x + 32, 0, 32 * sizeof *x);
    uint8_t out[68];
    gguf_quantize_q8_0(x, 64, out);
    assert_int_equal(out[0] | out[1] << 8, 0x2a85);             /* fp16(6.47 / 127) */
    for (int i = 0; i < 32; i++) assert_int_equal((int8_t)out[2 + i], want[i]);
    for (int i = 34; i < 68; i++) assert_int_equal(out[i], 0);  /* zero block: scale 0, values 0 */
}

static void test_parse_type(void **state) {
    (void)state;
    gguf_out_type t;
    assert_int_equal(gguf_parse_type("f16", &t), 0);
    assert_int_equal(t, GGUF_OUT_F16);
    assert_int_equal(gguf_parse_type("q8_0", &t), 0);
    assert_int_equal(t, GGUF_OUT_Q8_0);
    assert_int_equal(gguf_parse_type("f32", &t), 0);
    assert_int_equal(t, GGUF_OUT_F32);
    assert_int_equal(gguf_parse_type("q4_0", &t), -1);
    assert_string_equal(gguf_type_name(GGUF_OUT_Q8_0), "q8_0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_parse_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
