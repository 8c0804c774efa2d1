/* util.c: errors, logging, allocation, failure injection, RNG, atomic
 * files, threads, hashing.
 *
 * Invariants: nothing here exits the process; failures print one line and
 * return -1 (or NULL). Every allocation and every write/fsync of our own
 * outputs passes ll_fault_hit, so a test can fail any one of them; with no
 * LLMPI_FAULT_* variable set the hook costs one pthread_once check.
 */
#define _GNU_SOURCE
#include "llmpi/util.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors and logging ---- */

static int g_rank = 0;
void ll_set_rank(int rank) { g_rank = rank; }
int ll_rank(void) { return g_rank; }

static void vprint_line(FILE *f, const char *prefix, const char *fmt, va_list ap) {
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    /* one line, whatever the message holds */
    for (char *p = msg; *p; p++) if (*p == '\n' || *p == '\r') *p = ' ';
    fprintf(f, "%s%s\n", prefix, msg);
    fflush(f);
}

void ll_error(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    vprint_line(stderr, "llmpi: ", fmt, ap);
    va_end(ap);
}

void ll_warn(const char *fmt, ...) {
    va_list ap; va_start(ap, fmt);
    vprint_line(stderr, "llmpi: warning: ", fmt, ap);
    va_end(ap);
}

void ll_log(const char *fmt, ...) {
    if (g_rank != 0) return;
    va_list ap; va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- failure injection ---- */

static const char *const fault_env[3] = {"LLMPI_FAULT_ALLOC", "LLMPI_FAULT_WRITE", "LLMPI_FAULT_FSYNC"};
static const char *const fault_name[3] = {"alloc", "write", "fsync"};
static unsigned long long g_fault_at[3];          /* 0: off */
static _Atomic unsigned long long g_fault_count[3];
static pthread_once_t g_fault_once = PTHREAD_ONCE_INIT;

static void fault_read_env(void) {
    for (int k = 0; k < 3; k++) {
        const char *v = getenv(fault_env[k]);
        g_fault_at[k] = v ? strtoull(v, NULL, 10) : 0;
    }
}

int ll_fault_hit(int kind) {
    pthread_once(&g_fault_once, fault_read_env);
    if (g_fault_at[kind] == 0) return 0;
    unsigned long long n = atomic_fetch_add(&g_fault_count[kind], 1) + 1;
    if (n != g_fault_at[kind]) return 0;
    const char *log = getenv("LLMPI_FAULT_LOG");
    if (log) {   /* no allocation here: the hook may be inside one */
        char line[64];
        int len = snprintf(line, sizeof line, "%s %llu\n", fault_name[kind], n);
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) { if (write(fd, line, (size_t)len) < 0) { /* best effort */ } close(fd); }
    }
    errno = kind == LL_FAULT_ALLOC ? ENOMEM : kind == LL_FAULT_WRITE ? ENOSPC : EIO;
    return 1;
}

void ll_fault_set(int kind, unsigned long long n) {
    pthread_once(&g_fault_once, fault_read_env);
    g_fault_at[kind] = n ? atomic_load(&g_fault_count[kind]) + n : 0;
}

int ll_fault_armed(int kind) {
    pthread_once(&g_fault_once, fault_read_env);
    return g_fault_at[kind] != 0 && atomic_load(&g_fault_count[kind]) < g_fault_at[kind];
}

/* ---- allocation ---- */

static _Atomic unsigned long g_alloc_failures;
unsigned long ll_alloc_failures(void) { return atomic_load(&g_alloc_failures); }

/* counts a failed allocation; returns p */
static void *counted(void *p) {
    if (!p) atomic_fetch_add(&g_alloc_failures, 1);
    return p;
}

void *ll_malloc_quiet(size_t bytes) {
    return counted(ll_fault_hit(LL_FAULT_ALLOC) ? NULL : malloc(bytes ? bytes : 1));
}

void *ll_calloc_quiet(size_t n, size_t size) {
    return counted(ll_fault_hit(LL_FAULT_ALLOC) ? NULL : calloc(n ? n : 1, size ? size : 1));
}

void *ll_realloc_quiet(void *p, size_t bytes) {
    return counted(ll_fault_hit(LL_FAULT_ALLOC) ? NULL : realloc(p, bytes ? bytes : 1));
}

void *ll_malloc_at(size_t bytes, const char *file, int line) {
    void *p = ll_malloc_quiet(bytes);
    if (!p) ll_error("%s:%d: out of memory allocating %zu bytes", file, line, bytes);
    return p;
}

void *ll_calloc_at(size_t n, size_t size, const char *file, int line) {
    void *p = ll_calloc_quiet(n, size);
    if (!p) ll_error("%s:%d: out of memory allocating %zu x %zu bytes", file, line, n, size);
    return p;
}

void *ll_realloc_at(void *p, size_t bytes, const char *file, int line) {
    void *q = ll_realloc_quiet(p, bytes);
    if (!q) ll_error("%s:%d: out of memory allocating %zu bytes", file, line, bytes);
    return q;
}

char *ll_strdup_at(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *d = ll_malloc_at(n, file, line);
    if (d) memcpy(d, s, n);
    return d;
}

void *ll_aligned_alloc_at(size_t align, size_t bytes, const char *file, int line) {
    void *p = counted(ll_fault_hit(LL_FAULT_ALLOC) ? NULL : aligned_alloc(align, bytes ? bytes : align));
    if (!p) ll_error("%s:%d: out of memory allocating %zu bytes", file, line, bytes);
    return p;
}

#define LL_HUGE_PAGE ((size_t)2 << 20)

#define LL_BIG_STAGGER ((size_t)4096 + 64)
#define LL_BIG_STAGGERS 16

static void *calloc_big(size_t bytes, size_t stagger) {
    size_t need = bytes > SIZE_MAX - stagger ? 0 : bytes + stagger;
    size_t rounded = need > SIZE_MAX - LL_HUGE_PAGE ? 0 : (need + LL_HUGE_PAGE - 1) / LL_HUGE_PAGE * LL_HUGE_PAGE;
    if (rounded == 0) rounded = need == 0 ? LL_HUGE_PAGE : 0;
    unsigned char *p = rounded == 0 || ll_fault_hit(LL_FAULT_ALLOC) ? NULL : aligned_alloc(LL_HUGE_PAGE, rounded);
    if (!counted(p)) return NULL;
    /* a kernel without THP refuses: the buffer still works, with small pages.
     * LLMPI_HUGEPAGES=0 leaves them small (for measurements: on a VM that
     * returns free 2 MiB blocks to its host, each huge page costs a host fault) */
    const char *hp = getenv("LLMPI_HUGEPAGES");
    if (!hp || strcmp(hp, "0") != 0) (void)madvise(p, rounded, MADV_HUGEPAGE);
    long n_pages = (long)(rounded / LL_HUGE_PAGE);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n_pages; i++) memset(p + (size_t)i * LL_HUGE_PAGE, 0, LL_HUGE_PAGE);
    return p + stagger;
}

static atomic_uint g_big_allocations;

void *ll_calloc_big_quiet(size_t bytes) {
    unsigned k = atomic_fetch_add(&g_big_allocations, 1u) % LL_BIG_STAGGERS;
    return calloc_big(bytes, k * LL_BIG_STAGGER);
}

void *ll_calloc_big_unstaggered_quiet(size_t bytes) { return calloc_big(bytes, 0); }

void ll_free_big(void *p) {
    /* the offset is below one page and the page is 2 MiB-aligned */
    if (p) free((void *)((uintptr_t)p & ~(uintptr_t)(LL_HUGE_PAGE - 1)));
}

void *ll_calloc_big_at(size_t bytes, const char *file, int line) {
    void *p = ll_calloc_big_quiet(bytes);
    if (!p) ll_error("%s:%d: out of memory allocating %zu bytes", file, line, bytes);
    return p;
}

/* ---- time ---- */

double ll_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double ll_wall_time(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- RNG ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ll_rng_seed(ll_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ll_rng_u64(ll_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ll_rng_below(ll_rng *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;  /* reject the biased tail */
    uint64_t x;
    do x = ll_rng_u64(r); while (x >= limit);
    return x % n;
}

float ll_rng_uniform(ll_rng *r) { return (ll_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

double ll_rng_normal(ll_rng *r) {
    double u1 = ((ll_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);  /* (0, 1] */
    double u2 = (ll_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- files ---- */

int ll_tmp_path(char *tmp, size_t cap, const char *path) {
    int n = snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= cap) { ll_error("%s: path too long", path); return -1; }
    return 0;
}

/* write(2) until all n bytes are written, EINTR retried; no failure hook */
static int write_fully(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { errno = ENOSPC; return -1; }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ll_write_all(int fd, const void *data, size_t n) {
    if (ll_fault_hit(LL_FAULT_WRITE)) return -1;
    return write_fully(fd, data, n);
}

int ll_write_all_streaming(int fd, const void *data, size_t n) {
    if (ll_fault_hit(LL_FAULT_WRITE)) return -1;   /* one hook per call, as ll_write_all */
    off_t pos = lseek(fd, 0, SEEK_CUR);
    if (pos < 0) return write_fully(fd, data, n);   /* not seekable: nothing to start */
    const uint64_t w = LL_WRITEBACK_WINDOW;
    const char *p = data;
    /* written up to each window's end, then that window started: every
     * window once over a sequence of calls, while the next is copied */
    while (n > 0) {
        uint64_t room = w - (uint64_t)pos % w;
        size_t chunk = n < room ? n : (size_t)room;
        if (write_fully(fd, p, chunk) != 0) return -1;
        p += chunk;
        n -= chunk;
        pos += (off_t)chunk;
        if ((uint64_t)pos % w == 0) {
            int saved = errno;
            while (sync_file_range(fd, pos - (off_t)w, (off_t)w, SYNC_FILE_RANGE_WRITE) != 0 && errno == EINTR) {}
            errno = saved;   /* a failure only loses the overlap; the fsync reports real errors */
        }
    }
    return 0;
}

int ll_fsync(int fd) {
    if (ll_fault_hit(LL_FAULT_FSYNC)) return -1;
    return fsync(fd);
}

/* A directory's fsync may be unsupported by the file system (EINVAL): that is
 * no failure; any other error is. */
static int fsync_path(const char *path, int is_dir) {
    int fd = open(path, is_dir ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
    if (fd < 0) { ll_error("%s: cannot open for fsync: %s", path, strerror(errno)); return -1; }
    int rc = ll_fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0 && !(is_dir && err == EINVAL)) {
        ll_error("%s: fsync failed%s: %s", path, is_dir ? " (directory)" : "", strerror(err));
        return -1;
    }
    return 0;
}

int ll_commit_file(const char *tmp_path, const char *final_path) {
    if (fsync_path(tmp_path, 0) != 0) return -1;
    if (rename(tmp_path, final_path) != 0) {
        ll_error("%s: cannot rename %s into place: %s", final_path, tmp_path, strerror(errno));
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", final_path);
    return fsync_path(dirname(dir), 1);
}

int ll_write_file_atomic(const char *path, const void *data, size_t n) {
    char tmp[4096];
    if (ll_tmp_path(tmp, sizeof tmp, path) != 0) return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) { ll_error("%s: cannot create: %s", tmp, strerror(errno)); return -1; }
    int ok = ll_write_all(fd, data, n) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) { ok = 0; err = errno; }
    if (!ok) { ll_error("%s: write failed: %s", tmp, strerror(err)); unlink(tmp); return -1; }
    if (ll_commit_file(tmp, path) != 0) { unlink(tmp); return -1; }
    return 0;
}

int ll_read_file(const char *path, char **out, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { ll_error("%s: cannot open: %s", path, strerror(errno)); return -1; }
    size_t cap = 1 << 16, len = 0;
    char *buf = ll_malloc(cap + 1);
    if (!buf) { fclose(f); return -1; }
    for (;;) {
        if (len == cap) {
            char *nb = ll_realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); fclose(f); return -1; }
            buf = nb; cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) { ll_error("%s: read error", path); free(buf); return -1; }
    buf[len] = '\0';
    *out = buf;
    if (n) *n = len;
    return 0;
}

int ll_mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) { ll_error("%s: path too long", path); return -1; }
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p; *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                ll_error("%s: cannot create directory: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

/* ---- threads ---- */

int ll_cores_available(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static int g_threads = 1;
void ll_set_threads(int n) {
    if (n < 1) n = 1;
    g_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}
int ll_threads(void) { return g_threads; }

/* OpenBLAS (Debian's 0.3.21, DYNAMIC_ARCH) picks its kernels once, when the
 * library loads, from a table of CPUID models. A CPU newer than the table
 * (Emerald Rapids, family 6 model 0xCF, on our VMs) gets the Prescott (SSE3)
 * kernels: sgemm runs at a quarter of its speed and nothing says so. The
 * choice cannot be changed after load, only by OPENBLAS_CORETYPE at load. */
static int blas_core_has_avx2_kernels(const char *core) {
    static const char *const good[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!strcasecmp(core, good[i])) return 1;
    return 0;
}

/* The OpenBLAS core that suits this CPU when the loaded one has no AVX2
 * kernels, or NULL when the loaded one is fine or nothing better runs here. */
static const char *blas_better_core(void) {
    const char *core = openblas_get_corename();
    if (!core || blas_core_has_avx2_kernels(core)) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void ll_blas_select_core(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;   /* the user's (or our earlier) choice */
    const char *preload = getenv("LD_PRELOAD");
    if (preload && strstr(preload, "vgpreload")) return;   /* valgrind would run the new image natively */
    const char *core = blas_better_core();
    if (!core) return;
    /* the resolved path, not /proc/self/exe: the process name (ps, pgrep,
     * top) is the basename of what is executed */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || n >= (ssize_t)sizeof self - 1) return;
    self[n] = '\0';
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv(self, argv);
    unsetenv("OPENBLAS_CORETYPE");   /* exec failed: go on with the kernels loaded */
}

const char *ll_blas_config(void) {
    const char *config = openblas_get_config();
    return config ? config : "unknown";
}

const char *ll_blas_core(void) {
    const char *core = openblas_get_corename();
    return core ? core : "unknown";
}

/* ---- hashing, memory ---- */

uint64_t ll_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ULL; }
    return h;
}

size_t ll_peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

/* ---- one seeded shuffle, one dedup set ---- */

void ll_permutation(uint64_t *idx, uint64_t n, uint64_t seed, uint64_t stream) {
    ll_rng rng;
    ll_rng_seed(&rng, seed, stream);
    for (uint64_t i = 0; i < n; i++) idx[i] = i;
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = ll_rng_below(&rng, i);
        uint64_t t = idx[i - 1]; idx[i - 1] = idx[j]; idx[j] = t;
    }
}

int ll_hashset_init(ll_hashset *s, size_t n) {
    memset(s, 0, sizeof *s);
    s->cap = 16;
    while (s->cap < 2 * n + 1) s->cap *= 2;
    s->hash = ll_calloc(s->cap, sizeof *s->hash);
    s->first = ll_calloc(s->cap, sizeof *s->first);
    if (s->hash && s->first) return 0;
    ll_hashset_free(s);
    return -1;
}

/* Linear probing in a power-of-two table kept at most half full. */
static size_t hashset_slot(const uint64_t *hash, size_t cap, uint64_t h) {
    size_t i = (size_t)h & (cap - 1);
    while (hash[i] && hash[i] != h) i = (i + 1) & (cap - 1);
    return i;
}

size_t ll_hashset_first(ll_hashset *s, uint64_t h, size_t index, int *failed) {
    size_t i = hashset_slot(s->hash, s->cap, h);
    if (s->hash[i] == h) return s->first[i];
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = 2 * s->cap;
        uint64_t *hash = ll_calloc(cap, sizeof *hash);
        size_t *first = ll_calloc(cap, sizeof *first);
        if (!hash || !first) { free(hash); free(first); if (failed) *failed = 1; return LL_HASHSET_NEW; }
        for (size_t k = 0; k < s->cap; k++) {
            if (!s->hash[k]) continue;
            size_t j = hashset_slot(hash, cap, s->hash[k]);
            hash[j] = s->hash[k];
            first[j] = s->first[k];
        }
        free(s->hash);
        free(s->first);
        s->hash = hash;
        s->first = first;
        s->cap = cap;
        i = hashset_slot(s->hash, s->cap, h);
    }
    s->hash[i] = h;
    s->first[i] = index;
    s->n++;
    return LL_HASHSET_NEW;
}

void ll_hashset_free(ll_hashset *s) {
    free(s->hash);
    free(s->first);
    memset(s, 0, sizeof *s);
}
