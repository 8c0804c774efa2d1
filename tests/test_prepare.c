/* test_prepare.c: prep_run called as a library (one rank).
 *
 * The store it writes equals, dataset for dataset, the one `llmpi prepare`
 * writes from the same corpus and options (the CLI runs first, before this
 * process initialises MPI); the report counts what happened to each book;
 * failures (a missing input, a dangling link inside a folder, no tokenizer)
 * return -1 after naming the problem and leave nothing at out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <mpi.h>
#include <sys/stat.h>

#include "llmpi/prepare.h"
#include "llmpi/h5.h"
#include "llmpi/store.h"
#include "llmpi/util.h"
#include "testutil.h"

static int g_cli_rc = -1;   /* exit status of the CLI run in main, -1 when not run */

static void copy_fixture(const char *name, const char *to) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cp '%s/tests/clean/%s' '%s'", getenv("LLMPI_SOURCE_DIR"), name, tu_path(to));
    if (system(cmd) != 0) abort();
}

static void put(const char *rel, const char *text) {
    FILE *f = fopen(tu_path(rel), "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

/* books/: five Gutenberg books (one French), a duplicate of one, a file with
 * no Gutenberg header, plain notes, an empty file, and a file not *.txt. */
static void make_corpus(void) {
    if (mkdir(tu_path("books"), 0755) != 0 || mkdir(tu_path("books/pg"), 0755) != 0 ||
        mkdir(tu_path("books/plain"), 0755) != 0)
        abort();
    copy_fixture("modern_this.txt", "books/pg/modern_this.txt");
    copy_fixture("modern_the.txt", "books/pg/modern_the.txt");
    copy_fixture("legacy_small_print.txt", "books/pg/legacy.txt");
    copy_fixture("producer_notes.txt", "books/pg/producer_notes.txt");
    copy_fixture("language_french.txt", "books/pg/french.txt");
    copy_fixture("no_body.txt", "books/pg/no_body.txt");
    copy_fixture("modern_the.txt", "books/pg/zz-copy.txt");
    for (int i = 0; i < 6; i++) {
        char name[64], text[128];
        snprintf(name, sizeof name, "books/plain/note%d.txt", i);
        snprintf(text, sizeof text, "Plain note number %d, with no header at all.\n", i);
        put(name, text);
    }
    put("books/plain/empty.txt", "");
    put("books/plain/readme.md", "not a book");
}

static void set_options(prep_options *o, const char **inputs, const char *out) {
    prep_options_default(o);
    inputs[0] = tu_path("books/plain");
    inputs[1] = tu_path("books/pg");
    o->tokenizer = "bytes";
    o->inputs = inputs;
    o->n_inputs = 2;
    o->out = out;
    o->val_fraction = 0.3;
    o->seed = 9;
    o->quiet = 1;
}

/* Every attribute, token and offset of the two stores is equal. */
static void assert_same_store(const char *a_path, const char *b_path) {
    store_reader a, b;
    assert_int_equal(store_open(&a, a_path), 0);
    assert_int_equal(store_open(&b, b_path), 0);
    assert_int_equal(a.vocab_size, b.vocab_size);
    assert_int_equal(a.eot_id, b.eot_id);
    assert_string_equal(a.tokenizer, b.tokenizer);
    assert_int_equal(a.token_bytes, b.token_bytes);
    for (int s = 0; s < 2; s++) {
        uint64_t nt = a.split[s].n_tokens, nd = a.split[s].n_docs;
        assert_int_equal(nt, b.split[s].n_tokens);
        assert_int_equal(nd, b.split[s].n_docs);
        int32_t *ta = malloc(nt * sizeof *ta), *tb = malloc(nt * sizeof *tb);
        uint64_t *oa = malloc(nd * sizeof *oa), *ob = malloc(nd * sizeof *ob);
        assert_true(ta && tb && oa && ob);
        assert_int_equal(store_read(&a, (store_split)s, 0, nt, ta), 0);
        assert_int_equal(store_read(&b, (store_split)s, 0, nt, tb), 0);
        assert_memory_equal(ta, tb, nt * sizeof *ta);
        assert_int_equal(store_read_offsets(&a, (store_split)s, 0, nd, oa), 0);
        assert_int_equal(store_read_offsets(&b, (store_split)s, 0, nd, ob), 0);
        assert_memory_equal(oa, ob, nd * sizeof *oa);
        free(ta); free(tb); free(oa); free(ob);
    }
    store_close(&a);
    store_close(&b);
}

static void test_library_equals_cli(void **state) {
    (void)state;
    if (g_cli_rc == -1) skip();
    assert_int_equal(g_cli_rc, 0);
    prep_options o;
    const char *inputs[2];
    set_options(&o, inputs, tu_path("lib.h5"));
    prep_report r;
    assert_int_equal(prep_run(&o, &r), 0);
    assert_same_store(tu_path("lib.h5"), tu_path("cli.h5"));
    /* 14 books: 4 cleaned (modern x2, legacy, producer notes), 7 kept as is
     * (6 notes and the book with no Gutenberg header at all), dropped: the
     * empty file, the French book, the copy of modern_the */
    assert_int_equal(r.nranks, 1);
    assert_int_equal(r.n_books, 14);
    assert_int_equal(r.counts[CLEAN_KEPT], 4);
    assert_int_equal(r.counts[PREP_PLAIN], 7);
    assert_int_equal(r.counts[CLEAN_DROP_EMPTY], 1);
    assert_int_equal(r.counts[CLEAN_DROP_LANGUAGE], 1);
    assert_int_equal(r.counts[CLEAN_DROP_NO_BODY], 0);
    assert_int_equal(r.counts[CLEAN_DROP_DUPLICATE], 1);
    assert_int_equal(r.n_docs, 11);
    assert_int_equal(r.n_docs_split[STORE_VAL], 3);   /* round(11 * 0.3) */
    assert_int_equal(r.n_docs_split[STORE_TRAIN], 8);
    assert_string_equal(r.tokenizer_identity, "bytes-v1");
    assert_int_equal(r.eot_id, 256);
    /* the seed is used: another one gives another order */
    o.seed = 10;
    o.out = tu_path("lib10.h5");
    assert_int_equal(prep_run(&o, NULL), 0);
    store_reader a, b;
    assert_int_equal(store_open(&a, tu_path("lib.h5")), 0);
    assert_int_equal(store_open(&b, tu_path("lib10.h5")), 0);
    uint64_t nd = a.split[STORE_TRAIN].n_docs;
    uint64_t *oa = malloc(nd * sizeof *oa), *ob = malloc(nd * sizeof *ob);
    assert_int_equal(store_read_offsets(&a, STORE_TRAIN, 0, nd, oa), 0);
    assert_int_equal(b.split[STORE_TRAIN].n_docs, nd);
    assert_int_equal(store_read_offsets(&b, STORE_TRAIN, 0, nd, ob), 0);
    assert_memory_not_equal(oa, ob, nd * sizeof *oa);
    free(oa); free(ob);
    store_close(&a);
    store_close(&b);
}

static void test_failures_leave_nothing(void **state) {
    (void)state;
    prep_options o;
    const char *inputs[2];
    set_options(&o, inputs, tu_path("bad.h5"));
    inputs[1] = tu_path("books/missing");
    TU_EXPECT_FAIL_ONE_LINE(prep_run(&o, NULL), "books/missing: cannot read input");
    assert_false(tu_file_exists(tu_path("bad.h5")));

    set_options(&o, inputs, tu_path("bad.h5"));
    o.tokenizer = tu_path("no/tokenizer.json");
    TU_EXPECT_FAIL_ONE_LINE(prep_run(&o, NULL), "no/tokenizer.json");
    assert_false(tu_file_exists(tu_path("bad.h5")));

    /* a dangling link inside a folder: named, then the run refuses */
    assert_int_equal(symlink(tu_path("nowhere.txt"), tu_path("books/plain/dangling.txt")), 0);
    set_options(&o, inputs, tu_path("bad.h5"));
    tu_capture_begin();
    int rc = prep_run(&o, NULL);
    const char *err = tu_capture_end();
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "dangling.txt"));
    assert_non_null(strstr(err, "could not be read"));
    assert_false(tu_file_exists(tu_path("bad.h5")));
    assert_int_equal(tu_count_tmp_files(), 0);
    assert_int_equal(unlink(tu_path("books/plain/dangling.txt")), 0);
}

int main(int argc, char **argv) {
    if (!getenv("LLMPI_SOURCE_DIR")) { fprintf(stderr, "LLMPI_SOURCE_DIR not set\n"); return 1; }
    tu_make_dir("prepare");
    make_corpus();
    /* The CLI's store, made before this process becomes an MPI process. */
    const char *bin = getenv("LLMPI_BIN");
    if (bin) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd,
                 "'%s' prepare --tokenizer bytes --input '%s' '%s' --out '%s' --val-fraction 0.3 --seed 9 "
                 "--quiet > /dev/null",
                 bin, tu_path("books/plain"), tu_path("books/pg"), tu_path("cli.h5"));
        g_cli_rc = system(cmd);
    }
    MPI_Init(&argc, &argv);
    h5u_quiet();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_library_equals_cli),
        cmocka_unit_test(test_failures_leave_nothing),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (tu_teardown_hdf5() != 0) rc = 1;   /* before MPI_Finalize, which closes HDF5 */
    MPI_Finalize();
    return rc;
}
