/* test_walk.c: the one folder walker (walk.h) and the one seeded
 * permutation and dedup set (util.h).
 *
 * Checks the order (arguments as given, sorted full paths inside a folder,
 * where "a.b/x" sorts before "a/x"), the filter, the error policy (a named
 * path that cannot be read: -1 and one line; a dangling link inside a folder:
 * one warning, counted, fatal only when strict), a folder holding two links
 * to itself (ends at once, each file once), and a 3000-level tree (a clean
 * error at the depth limit; without the limit, no crash).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>

#include "llmpi/util.h"
#include "llmpi/walk.h"
#include "testutil.h"

static void put(const char *rel, const char *text) {
    FILE *f = fopen(tu_path(rel), "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mk(const char *rel) { assert_int_equal(mkdir(tu_path(rel), 0755), 0); }

/* The paths of l below tu_dir, joined by ' '. */
static const char *names(const walk_list *l) {
    static char buf[4096];
    size_t at = 0, skip = strlen(tu_dir) + 1;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", i ? " " : "", l->v[i].path + skip);
    return buf;
}

static void test_order_and_filter(void **state) {
    (void)state;
    mk("b");
    put("b/z.txt", "z");
    put("b/a.txt", "a");
    mk("a");
    mk("a/sub");
    mk("a/sub.d");
    put("a/sub/x.txt", "x");
    put("a/sub.d/x.txt", "x");
    put("a/m.txt", "mm");
    put("a/notes.md", "n");
    put("a/.hidden.txt", "h");
    put("top.dat", "t");
    const char *args[] = {tu_path("b"), tu_path("a/"), tu_path("top.dat")};
    walk_options o;
    walk_options_default(&o);
    walk_list l = {0};
    assert_int_equal(walk_inputs(args, 3, &o, &l), 0);
    /* arguments in the order given; inside a folder the full paths sorted
     * byte-wise ('.' < '/'); a named file of any name is taken */
    assert_string_equal(names(&l), "b/a.txt b/z.txt a/m.txt a/sub.d/x.txt a/sub/x.txt top.dat");
    assert_int_equal(l.v[2].size, 2);
    assert_int_equal(l.v[1].arg, 0);
    assert_int_equal(l.v[2].arg, 1);
    assert_string_equal(l.v[3].path + l.v[3].rel, "sub.d/x.txt");   /* "a/" gives no "//" */
    assert_string_equal(l.v[5].path + l.v[5].rel, "top.dat");
    assert_int_equal(l.n_unreadable, 0);
    walk_list_free(&l);

    mk("empty");   /* a folder with nothing taken: no entries, no error */
    const char *none[] = {tu_path("empty")};
    assert_int_equal(walk_inputs(none, 1, &o, &l), 0);
    assert_int_equal(l.n, 0);
    walk_list_free(&l);

    o.filter = WALK_ALL;
    assert_int_equal(walk_inputs(args + 1, 1, &o, &l), 0);
    assert_string_equal(names(&l), "a/m.txt a/notes.md a/sub.d/x.txt a/sub/x.txt");
    walk_list_free(&l);
}

static void test_named_path_errors(void **state) {
    (void)state;
    walk_options o;
    walk_options_default(&o);
    walk_list l = {0};
    const char *missing[] = {tu_path("nope.txt")};
    TU_EXPECT_FAIL_ONE_LINE(walk_inputs(missing, 1, &o, &l), "nope.txt: cannot read input");
    walk_list_free(&l);
    assert_int_equal(symlink(tu_path("nowhere"), tu_path("dangling-arg.txt")), 0);
    const char *dangling[] = {tu_path("dangling-arg.txt")};
    TU_EXPECT_FAIL_ONE_LINE(walk_inputs(dangling, 1, &o, &l), "dangling-arg.txt: cannot read input");
    walk_list_free(&l);
}

static void test_dangling_link_inside_folder(void **state) {
    (void)state;
    mk("d");
    put("d/ok.txt", "ok");
    assert_int_equal(symlink(tu_path("nowhere.txt"), tu_path("d/broken.txt")), 0);
    const char *args[] = {tu_path("d")};
    walk_options o;
    walk_options_default(&o);
    walk_list l = {0};
    tu_capture_begin();
    int rc = walk_inputs(args, 1, &o, &l);
    const char *err = tu_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "d/broken.txt"));
    assert_int_equal(l.n_unreadable, 1);
    assert_string_equal(names(&l), "d/ok.txt");
    walk_list_free(&l);

    o.list_unreadable = 1;   /* listed, flagged, in path order */
    tu_capture_begin();
    rc = walk_inputs(args, 1, &o, &l);
    tu_capture_end();
    assert_int_equal(rc, 0);
    assert_string_equal(names(&l), "d/broken.txt d/ok.txt");
    assert_int_equal(l.v[0].unreadable, WALK_UNREADABLE_FILE);
    assert_int_equal(l.v[1].unreadable, 0);
    walk_list_free(&l);

    o.list_unreadable = 0;
    o.strict = 1;            /* named, then one summary line */
    tu_capture_begin();
    rc = walk_inputs(args, 1, &o, &l);
    err = tu_capture_end();
    assert_int_equal(rc, -1);
    assert_int_equal(tu_count_lines(err), 2);
    assert_non_null(strstr(err, "1 entry under the inputs could not be read"));
    walk_list_free(&l);
}

static void test_link_loop_ends(void **state) {
    (void)state;
    mk("loop");
    put("loop/book.txt", "b");
    assert_int_equal(symlink(tu_path("loop"), tu_path("loop/self1")), 0);
    assert_int_equal(symlink("..", tu_path("loop/up")), 0);   /* to tu_dir: loop/ is below it again */
    assert_int_equal(symlink(".", tu_path("loop/self2")), 0);
    const char *args[] = {tu_path("loop")};
    walk_options o;
    walk_options_default(&o);
    walk_list l = {0};
    double t0 = ll_now();
    tu_capture_begin();
    int rc = walk_inputs(args, 1, &o, &l);
    tu_capture_end();
    double took = ll_now() - t0;
    assert_int_equal(rc, 0);
    assert_true(took < 2.0);
    /* self1 and self2 are the folder itself: skipped; "up" is a new folder
     * (tu_dir) whose loop/ is again the argument: skipped there */
    assert_int_equal(l.n_loops, 3);
    assert_string_equal(l.v[0].path + strlen(tu_dir) + 1, "loop/book.txt");
    for (size_t i = 1; i < l.n; i++) assert_null(strstr(l.v[i].path, "loop/up/loop/"));
    walk_list_free(&l);
}

/* A chain of depth folders "n/n/n/..." under tu_dir/deep, built with *at()
 * calls (the full path outgrows PATH_MAX). */
static void make_deep(int depth) {
    int fd = open(tu_dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(mkdirat(fd, "deep", 0755), 0);
    int cur = openat(fd, "deep", O_RDONLY | O_DIRECTORY);
    close(fd);
    for (int i = 0; i < depth; i++) {
        assert_int_equal(mkdirat(cur, "n", 0755), 0);
        int next = openat(cur, "n", O_RDONLY | O_DIRECTORY);
        assert_true(next >= 0);
        if (i == 10) { int f = openat(cur, "shallow.txt", O_CREAT | O_WRONLY, 0644); close(f); }
        close(cur);
        cur = next;
    }
    int f = openat(cur, "bottom.txt", O_CREAT | O_WRONLY, 0644);
    assert_true(f >= 0);
    close(f);
    close(cur);
}

static void test_deep_tree(void **state) {
    (void)state;
    make_deep(3000);
    const char *args[] = {tu_path("deep")};
    walk_options o;
    walk_options_default(&o);
    walk_list l = {0};
    TU_EXPECT_FAIL_ONE_LINE(walk_inputs(args, 1, &o, &l), "folders nested deeper than 64 levels");
    walk_list_free(&l);
    /* no depth limit to speak of: the walk goes as deep as paths can be
     * named, reports the rest as unreadable, and returns */
    o.max_depth = 100000;
    tu_capture_begin();
    int rc = walk_inputs(args, 1, &o, &l);
    tu_capture_end();
    assert_int_equal(rc, 0);
    assert_int_equal(l.n, 1);
    assert_non_null(strstr(l.v[0].path, "shallow.txt"));
    assert_true(l.n_unreadable >= 1);
    walk_list_free(&l);
}

/* ll_permutation is the Fisher-Yates prepare and the loader always used:
 * below(n), below(n-1), ... below(2) from (seed, stream). */
static void test_permutation(void **state) {
    (void)state;
    enum { N = 1000 };
    uint64_t got[N], want[N];
    ll_permutation(got, N, 1337, 42);
    ll_rng rng;
    ll_rng_seed(&rng, 1337, 42);
    for (uint64_t i = 0; i < N; i++) want[i] = i;
    for (uint64_t i = N; i > 1; i--) {
        uint64_t j = ll_rng_below(&rng, i), t = want[i - 1];
        want[i - 1] = want[j];
        want[j] = t;
    }
    assert_memory_equal(got, want, sizeof got);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[got[i]]++;
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
    ll_permutation(want, N, 1337, 43);   /* another stream, another order */
    assert_memory_not_equal(got, want, sizeof got);
    ll_permutation(got, 0, 1, 1);        /* empty: nothing touched */
}

static void test_hashset(void **state) {
    (void)state;
    ll_hashset s;
    assert_int_equal(ll_hashset_init(&s, 2), 0);   /* grows past its first size */
    int failed = 0;
    for (size_t i = 0; i < 500; i++)
        assert_true(ll_hashset_first(&s, 0x9e3779b97f4a7c15ULL * (i + 1), i, &failed) == LL_HASHSET_NEW);
    for (size_t i = 0; i < 500; i++)   /* a duplicate names its first holder */
        assert_int_equal(ll_hashset_first(&s, 0x9e3779b97f4a7c15ULL * (i + 1), 1000 + i, &failed), i);
    assert_int_equal(s.n, 500);
    assert_int_equal(failed, 0);
    ll_hashset_free(&s);
}

static int setup(void **state) {
    (void)state;
    tu_make_dir("walk");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    tu_remove_dir();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order_and_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_path_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dangling_link_inside_folder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_link_loop_ends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_tree, setup, teardown),
        cmocka_unit_test(test_permutation),
        cmocka_unit_test(test_hashset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
