/* synth_store.c: a token store of uniformly random ids, for benchmarks that
 * need a real store of a given vocabulary (the trainer reads it like any other).
 *
 *   synth_store --vocab V --tokens N --out STORE.h5 [--seed S]
 *
 * Tokenizer identity "synthetic-V"; 1% of the documents go to val.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmpi/h5.h"
#include "llmpi/store.h"
#include "llmpi/util.h"

int main(int argc, char **argv) {
    long vocab = 0, tokens = 0, seed = 1;
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--vocab")) vocab = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--tokens")) tokens = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
    }
    if (vocab < 2 || tokens < 1000 || !out) {
        fprintf(stderr, "usage: synth_store --vocab V --tokens N --out STORE.h5 [--seed S]\n");
        return 2;
    }
    h5u_quiet();
    char identity[TOK_IDENTITY_MAX];
    snprintf(identity, sizeof identity, "synthetic-%ld", vocab);
    store_writer *w = store_writer_create(out, (uint32_t)vocab, (uint32_t)(vocab - 1), identity);
    if (!w) return 1;
    ll_rng rng;
    ll_rng_seed(&rng, (uint64_t)seed, 0);
    const size_t doc = 100000;
    int32_t *ids = ll_malloc(doc * sizeof(int32_t));
    if (!ids) return 1;
    for (long done = 0, d = 0; done < tokens; done += (long)doc, d++) {
        for (size_t i = 0; i < doc; i++) ids[i] = (int32_t)ll_rng_below(&rng, (uint64_t)vocab - 1);
        ids[doc - 1] = (int32_t)(vocab - 1);
        if (store_writer_append(w, d % 100 == 1 ? STORE_VAL : STORE_TRAIN, ids, doc) != 0) {
            store_writer_abort(w);
            free(ids);
            return 1;
        }
    }
    free(ids);
    return store_writer_finish(w) == 0 ? 0 : 1;
}
