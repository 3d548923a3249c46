/* ops/blas.h — the row-major sgemm every op family calls (private to ops/).
 *
 * Never call it from inside an OpenMP parallel region: BLIS runs its own
 * threads (weft/runtime.h sets how many). */
#ifndef WEFT_OPS_BLAS_H
#define WEFT_OPS_BLAS_H

#include <stdbool.h>

#include <blis.h>

/* C[m, n] = alpha op(A) op(B) + beta C, everything row-major and contiguous.
 * A is stored [k, m] when ta (op(A) = Aᵀ), else [m, k]; B is stored [n, k]
 * when tb, else [k, n]. beta = 1 accumulates, which is what a backward wants. */
static inline void sgemm_rowmajor(bool ta, bool tb, int m, int n, int k, float alpha,
                                  const float *A, const float *B, float beta, float *C)
{
    inc_t lda = ta ? m : k, ldb = tb ? k : n;
    bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              m, n, k, &alpha, (float *)A, lda, 1, (float *)B, ldb, 1, &beta, C, n, 1);
}

#endif
