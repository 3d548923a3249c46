/* ops/blas.h — the row-major sgemm every op family calls (private to ops/).
 *
 * Never call it from inside an OpenMP parallel region: BLIS runs its own
 * threads (weft/runtime.h sets how many). */
#ifndef WEFT_OPS_BLAS_H
#define WEFT_OPS_BLAS_H

#include <stdbool.h>

#include <blis.h>

/* How many threads a product of m x n x k multiply-adds gets. Below
 * WEFT_GEMM_SERIAL_MACS one thread: splitting it costs more in BLIS's fork and
 * busy-wait barriers than the halves save (an 8x128x64 product ran at 17-20
 * GFLOP/s on one thread and, when another process held the second core, at
 * 0.01 GFLOP/s on two). Whole-sequence products and the per-step products of
 * wide layers (64 x 2048 x 512 at H = 512) stay threaded. The choice depends
 * on the shape only, so 1 and 2 threads still give the same bits. */
#define WEFT_GEMM_SERIAL_MACS (1L << 21)

static inline int sgemm_threads(int m, int n, int k)
{
    return (long)m * n * k < WEFT_GEMM_SERIAL_MACS ? 1 : bli_thread_get_num_threads();
}

/* C[m, n] = alpha op(A) op(B) + beta C, everything row-major and contiguous.
 * A is stored [k, m] when ta (op(A) = Aᵀ), else [m, k]; B is stored [n, k]
 * when tb, else [k, n]. beta = 1 accumulates, which is what a backward wants.
 *
 * With B transposed, BLIS 0.9's small/unpacked ("sup") path picks its kernels
 * by how the threads split the work, so a few elements of C round differently
 * for 1 and 2 threads. weft promises the same numbers for any thread count:
 * those calls take the packed path (BLIS's own thread count, sup off). The
 * other cases were measured identical for 1 and 2 threads with sup on. */
static inline void sgemm_rowmajor(bool ta, bool tb, int m, int n, int k, float alpha,
                                  const float *A, const float *B, float beta, float *C)
{
    inc_t lda = ta ? m : k, ldb = tb ? k : n;
    trans_t opa = ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    trans_t opb = tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE;
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(sgemm_threads(m, n, k), &rntm);
    if (tb) bli_rntm_disable_l3_sup(&rntm);
    bli_sgemm_ex(opa, opb, m, n, k, &alpha, (float *)A, lda, 1, (float *)B, ldb, 1, &beta, C,
                 n, 1, NULL, &rntm);
}

/* C[m, n] = alpha A B + beta C, row-major, with leading dimensions (row
 * strides) given: A [m, lda >= k], B [k, ldb >= n], C [m, ldc >= n]. No
 * transposes, so BLIS's sup path may run (measured identical for 1 and 2
 * threads). The fused recurrent steps use it with copies of W_hh whose row
 * stride is not a power of two: BLIS's sup kernels read B unpacked, and a
 * stride of 2048 floats (4H at H = 512) maps every row to the same cache
 * sets, which made the per-step product twice as slow. */
static inline void sgemm_rowmajor_ld(int m, int n, int k, float alpha, const float *A, int lda,
                                     const float *B, int ldb, float beta, float *C, int ldc)
{
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads(sgemm_threads(m, n, k), &rntm);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &alpha, (float *)A, lda, 1,
                 (float *)B, ldb, 1, &beta, C, ldc, 1, NULL, &rntm);
}

#endif
