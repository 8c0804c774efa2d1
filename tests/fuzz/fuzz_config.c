/* fuzz_config.c: the INI config reader (cfg_load_ini), the checkpoint's
 * "section.key=value" text (cfg_load_string), one --set (cfg_set) and
 * cfg_validate on whatever they accepted.
 *
 * A config that loads must survive a round trip: cfg_to_string's text read
 * back gives the same config, bit for bit.
 */
#include "fuzz_util.h"
#include "llmpi/config.h"

static void check_round_trip(const cfg_config *c) {
    char *s = cfg_to_string(c);
    if (!s) abort();
    cfg_config d;
    cfg_defaults(&d);
    if (cfg_load_string(&d, s, "round trip") != 0 || memcmp(&d, c, sizeof d) != 0) {
        fprintf(stderr, "fuzz: cfg_to_string does not read back:\n%s\n", s);
        abort();
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cfg_config c, before;
    cfg_defaults(&c);
    before = c;
    fz_capture cap;

    const char *path = fz_write_temp(data, size, ".ini");
    fz_capture_begin(&cap);
    int rc = cfg_load_ini(&c, path);
    fz_capture_end(&cap, rc != 0, "cfg_load_ini");
    unlink(path);
    if (rc != 0 && memcmp(&c, &before, sizeof c) != 0) abort();   /* untouched on failure */

    /* the same bytes as text (up to the first NUL) */
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    cfg_config s;
    cfg_defaults(&s);
    fz_capture_begin(&cap);
    int rs = cfg_load_string(&s, text, "fuzz");
    fz_capture_end(&cap, rs != 0, "cfg_load_string");
    cfg_config o;
    cfg_defaults(&o);
    fz_capture_begin(&cap);
    int ro = cfg_set(&o, text);
    fz_capture_end(&cap, ro != 0, "cfg_set");
    free(text);

    const cfg_config *accepted[3] = {rc == 0 ? &c : NULL, rs == 0 ? &s : NULL, ro == 0 ? &o : NULL};
    for (int i = 0; i < 3; i++) {
        if (!accepted[i]) continue;
        cfg_config v = *accepted[i];
        v.vocab_size = 50257;
        fz_capture_begin(&cap);
        int rv = cfg_validate(&v);
        fz_capture_end(&cap, rv != 0, "cfg_validate");
        check_round_trip(accepted[i]);
    }
    return 0;
}
