/* simd.h: run-time choice of instruction set for the hot loops.
 *
 * The default build targets the x86-64 baseline, so one binary runs on every
 * node of a cluster. LL_MULTIVERSION on a function makes GCC compile it three
 * times (AVX-512, AVX2 = x86-64-v3, baseline) and pick one at load time
 * through an ifunc resolver (target_clones); OpenBLAS already chooses its own
 * kernels at run time.
 *
 * Invariants:
 * - Only leaf loop functions carry it: OpenMP parallel regions stay in
 *   un-versioned callers (GCC outlines a region before it clones, so a region
 *   inside a clone would run baseline code) and call a versioned function per
 *   row, block or fixed chunk.
 * - The build is ISO C (-std=c11, hence -ffp-contract=off): no version fuses
 *   a*b+c, so element-wise loops give the same bits in every version. Only
 *   `omp simd reduction` sums depend on the vector width (4, 8 or 16 lanes),
 *   so on one machine results are fixed run to run, and equal to a
 *   -march=native build whose vector width is the same (AVX2 machines).
 * - With -DLLMPI_NATIVE=ON (LLMPI_NATIVE_BUILD), off x86-64, with another
 *   compiler than GCC, or under ASan/TSan, it expands to nothing and the
 *   functions are compiled once for the build's own target. (The ifunc
 *   resolvers run while the dynamic loader relocates the program, before a
 *   sanitizer runtime is initialised; instrumented, they crash at start.)
 */
#ifndef LLMPI_SIMD_H
#define LLMPI_SIMD_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(LLMPI_NATIVE_BUILD) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define LL_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LL_MULTIVERSION
#endif

#endif
