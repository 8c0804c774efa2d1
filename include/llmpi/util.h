/* util.h: the small things every stage uses.
 *
 * Errors: a function that can fail returns 0 / -1 and has already printed one
 * line "llmpi: <place>: <problem>" to stderr through ll_error(). Library code
 * never exits; the CLI turns -1 into a non-zero exit status.
 * Logging: ll_log() prints on rank 0 only (rank set once by ll_set_rank).
 * Files: ll_atomic_* writes go to "<path>.tmp.<pid>", are fsynced, renamed over
 * the final path and the directory fsynced, so a reader never sees half a file.
 */
#ifndef LLMPI_UTIL_H
#define LLMPI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LL_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- errors and logging ---- */
void ll_error(const char *fmt, ...) LL_PRINTF(1, 2);   /* "llmpi: ..." + newline, stderr */
void ll_warn(const char *fmt, ...) LL_PRINTF(1, 2);    /* "llmpi: warning: ..." */
void ll_log(const char *fmt, ...) LL_PRINTF(1, 2);     /* stdout, rank 0 only, no newline added */
void ll_set_rank(int rank);
int ll_rank(void);

/* Every allocation of llmpi's own goes through these: on failure they print
 * one line naming the size and call site and return NULL (ll_realloc leaves
 * p allocated). The failure-injection hook below reaches all of them. */
void *ll_malloc_at(size_t bytes, const char *file, int line);
void *ll_calloc_at(size_t n, size_t size, const char *file, int line);
void *ll_realloc_at(void *p, size_t bytes, const char *file, int line);
char *ll_strdup_at(const char *s, const char *file, int line);
/* aligned_alloc (C11: bytes a multiple of align); free with free(). */
void *ll_aligned_alloc_at(size_t align, size_t bytes, const char *file, int line);
/* A big zeroed buffer (parameters, gradients, moments, activations, staging):
 * in 2 MiB-aligned memory rounded up to 2 MiB, marked MADV_HUGEPAGE (with
 * THP in madvise mode the kernel backs it with 2 MiB pages: 512x fewer page
 * faults and TLB entries), and zeroed once by the OpenMP threads in static
 * order, so each part is first touched by the thread whose static share it is
 * (its NUMA node on a big machine). calloc's contract, except that the buffer
 * starts k * (4 KiB + 64) bytes into its first page, k = 0..15 in turn over
 * the allocations: buffers streamed side by side (AdamW reads parameters,
 * gradients and both moments at one index) then differ in their physical
 * address bits below 2 MiB; at one offset they fall into the same cache sets
 * and AdamW ran 3-4x slower (12.3 vs 3.0 GB/s, Emerald Rapids). 64-byte
 * aligned. Free with ll_free_big, never free() or realloc().
 * LLMPI_HUGEPAGES=0 in the environment leaves out the madvise. */
void *ll_calloc_big_at(size_t bytes, const char *file, int line);
#define ll_calloc_big(bytes) ll_calloc_big_at((bytes), __FILE__, __LINE__)
void *ll_calloc_big_quiet(size_t bytes);   /* the same, silent (the caller has a fallback) */
void ll_free_big(void *p);                 /* NULL is a no-op */
/* As ll_calloc_big_quiet but starting at the page (offset 0): a buffer that
 * is later passed to free() or realloc() (an HDF5 file image). */
void *ll_calloc_big_unstaggered_quiet(size_t bytes);
/* The same, silent: for an allocation whose failure the caller handles by a
 * fallback (an optional cache or prefetch), so no error line is printed. */
void *ll_malloc_quiet(size_t bytes);
void *ll_calloc_quiet(size_t n, size_t size);
void *ll_realloc_quiet(void *p, size_t bytes);
/* How many allocations above have failed in this process (injected or real):
 * lets a caller tell "out of memory" from "bad input" after a -1. */
unsigned long ll_alloc_failures(void);
#define ll_malloc(bytes) ll_malloc_at((bytes), __FILE__, __LINE__)
#define ll_calloc(n, size) ll_calloc_at((n), (size), __FILE__, __LINE__)
#define ll_realloc(p, bytes) ll_realloc_at((p), (bytes), __FILE__, __LINE__)
#define ll_strdup(s) ll_strdup_at((s), __FILE__, __LINE__)
#define ll_aligned_alloc(align, bytes) ll_aligned_alloc_at((align), (bytes), __FILE__, __LINE__)

/* ---- failure injection (tests only, SQLite style) ----
 * Read once from the environment: LLMPI_FAULT_ALLOC=N fails the Nth
 * allocation through the functions above (ENOMEM), LLMPI_FAULT_WRITE=N the
 * Nth ll_write_all (or HDF5 file close, h5u_close_file) with ENOSPC, and
 * LLMPI_FAULT_FSYNC=N the Nth ll_fsync with EIO; counting starts at 1 and only
 * the Nth call fails. LLMPI_FAULT_LOG=FILE appends one line per injected
 * failure ("alloc 17"), so a sweep can tell that N was reached. Never set
 * outside tests. */
enum { LL_FAULT_ALLOC, LL_FAULT_WRITE, LL_FAULT_FSYNC };
/* Counts one call of the kind; 1 when this call is to fail (errno set). */
int ll_fault_hit(int kind);
/* For unit tests: arms the hook so that the nth call of kind from now fails
 * (1: the next one; 0: off), whatever the environment said. */
void ll_fault_set(int kind, unsigned long long n);
/* 1 while an armed failure of kind has not happened yet. */
int ll_fault_armed(int kind);

/* write(2) until all n bytes are written (EINTR retried). 0 / -1 with errno
 * set; prints nothing (the caller names the file). */
int ll_write_all(int fd, const void *data, size_t n);
/* ll_write_all for the big sequential outputs (checkpoints, exports), whose
 * file offset before the call is where the bytes land: each LL_WRITEBACK_WINDOW
 * of the file finished by this call is handed to the kernel's writeback at
 * once (sync_file_range, SYNC_FILE_RANGE_WRITE), so the disk writes while the
 * next windows are copied, the closing fsync waits for the tail only, and the
 * dirty page cache stays bounded. Durability is unchanged: that fsync is still
 * what makes the bytes durable, and write errors still surface there. Where
 * writeback cannot be started (a pipe, a file system without it) it is
 * skipped. 0 / -1 with errno set; prints nothing. */
#define LL_WRITEBACK_WINDOW ((size_t)32 << 20)
int ll_write_all_streaming(int fd, const void *data, size_t n);
/* fsync(2) through the failure hook. 0 / -1 with errno set; prints nothing. */
int ll_fsync(int fd);

/* ---- time ---- */
double ll_now(void);            /* monotonic seconds */
double ll_wall_time(void);      /* seconds since the epoch */

/* ---- RNG: splitmix64-seeded xoshiro256**; one stream per purpose ---- */
typedef struct { uint64_t s[4]; } ll_rng;
void ll_rng_seed(ll_rng *r, uint64_t seed, uint64_t stream);
uint64_t ll_rng_u64(ll_rng *r);
uint64_t ll_rng_below(ll_rng *r, uint64_t n);    /* uniform in [0, n), unbiased; n > 0 */
float ll_rng_uniform(ll_rng *r);                 /* [0, 1) with 24 random bits */
double ll_rng_normal(ll_rng *r);                 /* standard normal (Box-Muller, no caching) */

/* ---- atomic file output ---- */
/* Fills tmp with "<path>.tmp.<pid>". Returns 0, or -1 if it does not fit. */
int ll_tmp_path(char *tmp, size_t cap, const char *path);
/* fsync the file at path, rename it to final_path, fsync final_path's
 * directory; any failure, the directory's fsync included, fails the save
 * (one line). On a failure before the rename final_path is untouched; the
 * caller removes tmp_path. */
int ll_commit_file(const char *tmp_path, const char *final_path);
/* Writes bytes to path atomically (tmp + fsync + rename). */
int ll_write_file_atomic(const char *path, const void *data, size_t n);
/* Reads a whole file; *out is malloc'ed and NUL-terminated. */
int ll_read_file(const char *path, char **out, size_t *n);
/* mkdir -p */
int ll_mkdir_p(const char *path);

/* ---- threads ---- */
/* Cores this process may run on (sched_getaffinity), at least 1. */
int ll_cores_available(void);
/* Sets OpenMP and OpenBLAS threads to n. */
void ll_set_threads(int n);
int ll_threads(void);
/* Makes OpenBLAS use kernels that fit this CPU: when OPENBLAS_CORETYPE is
 * unset and OpenBLAS loaded kernels without AVX2 on a CPU that has AVX-512
 * (or AVX2 + FMA), sets OPENBLAS_CORETYPE=SkylakeX (Haswell) and re-executes
 * this program's file (/proc/self/exe resolved: the process name stays)
 * with argv (same pid and environment: safe under mpirun, srun and gdb,
 * which follows the exec). Returns when nothing is to be done
 * or the exec failed. Call first in main, before MPI or any thread starts;
 * skipped under valgrind. A user's OPENBLAS_CORETYPE is always kept. */
void ll_blas_select_core(char **argv);
/* The name of the OpenBLAS kernel set in use ("SkylakeX", "Prescott", ...). */
const char *ll_blas_core(void);
/* OpenBLAS's build line (version, options). */
const char *ll_blas_config(void);

/* ---- hashing (identities of tokenizers, documents) ---- */
/* FNV-1a 64-bit, continuing from h (start with LL_FNV_INIT). */
#define LL_FNV_INIT 0xcbf29ce484222325ULL
uint64_t ll_fnv1a(uint64_t h, const void *data, size_t n);

/* ---- one seeded shuffle, one dedup set ---- */
/* Fills idx[0..n) with a permutation of 0..n-1: the identity shuffled by a
 * Fisher-Yates from (seed, stream) (ll_rng_below(n), then n-1, ... 2). */
void ll_permutation(uint64_t *idx, uint64_t n, uint64_t seed, uint64_t stream);

/* Set of non-zero 64-bit content hashes (e.g. clean_body_hash), each with the
 * index of its first holder: the duplicate check of every stage. */
typedef struct { uint64_t *hash; size_t *first; size_t cap, n; } ll_hashset;
#define LL_HASHSET_NEW ((size_t)-1)
/* Empty set with room for about n entries (it grows). 0 / -1 (one line). */
int ll_hashset_init(ll_hashset *s, size_t n);
/* If h (non-zero) is in the set, the index stored with it; otherwise records
 * index as its first holder and returns LL_HASHSET_NEW. On out of memory
 * (one line) sets *failed, if given, and records nothing. */
size_t ll_hashset_first(ll_hashset *s, uint64_t h, size_t index, int *failed);
void ll_hashset_free(ll_hashset *s);

/* Peak resident set size of this process in bytes (getrusage). */
size_t ll_peak_rss(void);

#endif
