/* src/vec.h — the elementwise loops of the ops and the optimizers, each
 * built for AVX-512, AVX2 and the build's baseline, the CPU's best chosen
 * when the program loads (WEFT_SIMD_CLONES), so that a build for any x86-64
 * (-Dnative=false) runs them with the CPU's widest vectors; and the helper
 * that shares one out among the threads. Private to the engine and the ops.
 *
 * Every kernel does elementwise IEEE arithmetic only (no contraction:
 * -std=c11 compiles with -ffp-contract=off), so every clone, every build and
 * every thread count gives the same bits. */
#ifndef WEFT_SRC_VEC_H
#define WEFT_SRC_VEC_H

#include <omp.h>
#include <stddef.h>

#include "src/internal.h"   /* WEFT_PARALLEL_MIN */

/* WEFT_SIMD_CLONES: put in front of a loop kernel (a function without an
 * OpenMP region inside) to build it three times, for AVX-512, AVX2 and the
 * baseline the build targets, the best one the CPU has chosen once when the
 * program loads (GCC's target_clones, through an ifunc; GCC on x86-64 Linux
 * only, elsewhere one plain build). A kernel gives the same bits in every
 * build when it only does elementwise IEEE arithmetic (no FMA: GCC in ISO C
 * mode, -std=c11, compiles with -ffp-contract=off) and writes its sums out in
 * a fixed order rather than leaving the order to the vector width. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__has_attribute)
#if __has_attribute(target_clones)
#define WEFT_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef WEFT_SIMD_CLONES
#define WEFT_SIMD_CLONES
#endif

/* y[i] = a[i] op b[i], i < n (y may be a or b). */
void weft_vec_add(float *y, const float *a, const float *b, size_t n);
void weft_vec_sub(float *y, const float *a, const float *b, size_t n);
void weft_vec_mul(float *y, const float *a, const float *b, size_t n);
/* y[i] = a[i] op s. */
void weft_vec_add_s(float *y, const float *a, float s, size_t n);
void weft_vec_sub_s(float *y, const float *a, float s, size_t n);
void weft_vec_mul_s(float *y, const float *a, float s, size_t n);
/* y[i] += s · x[i] (s = 1 or -1: y += x, y -= x exactly). */
void weft_vec_acc(float *y, const float *x, float s, size_t n);
/* y[i] += x[i] · z[i]. */
void weft_vec_acc_mul(float *y, const float *x, const float *z, size_t n);

/* The slice [*i0, *i1) of [0, n) that thread t of nt takes: the chunks
 * `omp for schedule(static)` gives, so each thread keeps the share it had in
 * the op before. */
static inline void weft_vec_share(size_t n, size_t *i0, size_t *i1)
{
    size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
    size_t chunk = (n + nt - 1) / nt;
    *i0 = t * chunk < n ? t * chunk : n;
    *i1 = *i0 + chunk < n ? *i0 + chunk : n;
}

#endif
