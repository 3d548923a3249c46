/* src/matmul_kernel_avx2.c — weft's micro-kernel for the packed products
 * (src/matmul.h) on a CPU with AVX2 and FMA but no AVX-512 (Zen 1-3, most
 * Intel client chips); src/matmul_kernel.c chooses it at run time.
 *
 * The same tiles as the AVX-512 kernel, R rows of C by two panels of 16
 * columns, the same packed operands (packed_pack_a, packed_pack) and the same
 * sums:
 *
 *     for k in 0 .. K-1:   acc[i][0..15]  += a[k·R + i] · b0[k·16 .. k·16+15]
 *                          acc[i][16..31] += a[k·R + i] · b1[k·16 .. k·16+15]
 *     then C's tile += acc (only `rows` rows and `cols` columns written)
 *
 * so each element of C is one chain of FMAs over k in order, started from
 * zero: the bits equal the AVX-512 kernel's, whatever the thread count.
 *
 * A 256-bit register holds 8 floats and there are 16 of them: an R x 16
 * panel keeps 2R accumulators, 2 vectors of B and a broadcast of A, so R is
 * at most 6 (BLIS's zen3 kernel is that 6 x 16). packed_mr picks R = 5 or 6
 * to pad the batch least (20 = 4 x 5, 50 = 10 x 5, 64 = 13 x 5 with 4 rows
 * in the last), where BLIS's 6-row tiles compute 24 rows for 20. With R <= 3
 * (a product of 3 rows or fewer) both panels are done in one pass (4R
 * accumulators), else one panel after the other, the second reading the
 * tile's A again from L1. An FMA takes 4 cycles and two issue per cycle, so
 * 8 accumulators are the least that keep the units busy; 4-row tiles (8)
 * measured 0.65x the speed of 5-row ones (10), hence no fewer than 5 rows
 * a tile where M allows. */
#include "src/matmul.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* Lanes below n set (n clamped to 0..8): the mask of a partial row. */
AVX2 static inline __m256i lanes_below(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* C row [cols <= 8·V] += acc[0 .. V-1]. */
AVX2 static inline __attribute__((always_inline)) void add_row(float *c, const __m256 *acc,
                                                               const int V, int cols)
{
    if (cols >= 8 * V) {
        #pragma GCC unroll 4
        for (int v = 0; v < V; v++)
            _mm256_storeu_ps(c + 8 * v, _mm256_add_ps(_mm256_loadu_ps(c + 8 * v), acc[v]));
        return;
    }
    for (int v = 0; v < V && 8 * v < cols; v++) {
        __m256i m = lanes_below(cols - 8 * v);
        __m256 old = _mm256_maskload_ps(c + 8 * v, m);
        _mm256_maskstore_ps(c + 8 * v, m, _mm256_add_ps(old, acc[v]));
    }
}

/* R rows by P panels (P = 1: b0 only; P = 2: b0 and b1), R and P known when
 * it is compiled so the accumulators stay in registers. */
AVX2 static inline __attribute__((always_inline)) void panels(const int R, const int P, int K,
                                                              const float *a, const float *b0,
                                                              const float *b1, float *c0,
                                                              float *c1, int ldc, int rows,
                                                              int cols0, int cols1)
{
    __m256 acc[6][4];
    #pragma GCC unroll 6
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int v = 0; v < 2 * P; v++) acc[i][v] = _mm256_setzero_ps();
    #pragma GCC unroll 4
    for (int k = 0; k < K; k++) {
        __m256 x[4];
        x[0] = _mm256_load_ps(b0 + (size_t)k * 16);
        x[1] = _mm256_load_ps(b0 + (size_t)k * 16 + 8);
        if (P == 2) {
            x[2] = _mm256_load_ps(b1 + (size_t)k * 16);
            x[3] = _mm256_load_ps(b1 + (size_t)k * 16 + 8);
        }
        /* B's vectors in registers, loaded once: left to itself GCC folds
         * each load into every FMA that uses it (R loads of the same vector
         * a k), and the loads, not the FMAs, then set the pace */
        #pragma GCC unroll 4
        for (int v = 0; v < 2 * P; v++) __asm__("" : "+x"(x[v]));
        #pragma GCC unroll 6
        for (int i = 0; i < R; i++) {
            __m256 s = _mm256_broadcast_ss(a + (size_t)k * R + i);
            #pragma GCC unroll 4
            for (int v = 0; v < 2 * P; v++) acc[i][v] = _mm256_fmadd_ps(s, x[v], acc[i][v]);
        }
    }
    #pragma GCC unroll 6
    for (int i = 0; i < R; i++) {
        if (i >= rows) break;
        add_row(c0 + (size_t)i * ldc, acc[i], 2, cols0);
        if (P == 2 && cols1 > 0) add_row(c1 + (size_t)i * ldc, acc[i] + 2, 2, cols1);
    }
}

/* Both panels of a tile of R rows: together for R <= 3, else one by one. */
AVX2 static inline __attribute__((always_inline)) void tile(const int R, int K, const float *a,
                                                            const float *b0, const float *b1,
                                                            float *c0, float *c1, int ldc,
                                                            int rows, int cols0, int cols1)
{
    if (R <= 3) {
        panels(R, 2, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1);
        return;
    }
    panels(R, 1, K, a, b0, NULL, c0, NULL, ldc, rows, cols0, 0);
    if (cols1 > 0) panels(R, 1, K, a, b1, NULL, c1, NULL, ldc, rows, cols1, 0);
}

AVX2 void weft_packed_tile_avx2(int R, int K, const float *a, const float *b0, const float *b1,
                                float *c0, float *c1, int ldc, int rows, int cols0, int cols1)
{
    switch (R) {
    case 1: tile(1, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 2: tile(2, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 3: tile(3, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 4: tile(4, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 5: tile(5, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    case 6: tile(6, K, a, b0, b1, c0, c1, ldc, rows, cols0, cols1); break;
    default: abort();   /* packed_mr never asks for more with this kernel */
    }
}

#else
void weft_packed_tile_avx2(int R, int K, const float *a, const float *b0, const float *b1,
                           float *c0, float *c1, int ldc, int rows, int cols0, int cols1)
{
    (void)R; (void)K; (void)a; (void)b0; (void)b1; (void)c0; (void)c1;
    (void)ldc; (void)rows; (void)cols0; (void)cols1;
    abort();   /* weft_gemm_kernel() never picks it here */
}
#endif
