/* ops/fastmath.c — the array kernels of ops/fastmath.h, each built for
 * AVX-512, AVX2 and the build's baseline, the CPU's best chosen when the
 * program loads (WEFT_SIMD_CLONES). Elementwise: the same bits in every
 * build. */
#include "ops/fastmath.h"

WEFT_SIMD_CLONES
void weft_sigmoid_n(float *y, const float *x, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = weft_fast_sigmoidf(x[i]);
}

WEFT_SIMD_CLONES
void weft_tanh_n(float *y, const float *x, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = weft_fast_tanhf(x[i]);
}
