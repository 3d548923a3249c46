/* src/vec.c — the elementwise kernels of src/vec.h, each built for AVX-512,
 * AVX2 and the baseline (WEFT_SIMD_CLONES). */
#include "src/vec.h"

WEFT_SIMD_CLONES
void weft_vec_add(float *y, const float *a, const float *b, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

WEFT_SIMD_CLONES
void weft_vec_sub(float *y, const float *a, const float *b, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] - b[i];
}

WEFT_SIMD_CLONES
void weft_vec_mul(float *y, const float *a, const float *b, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

WEFT_SIMD_CLONES
void weft_vec_add_s(float *y, const float *a, float s, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] + s;
}

WEFT_SIMD_CLONES
void weft_vec_sub_s(float *y, const float *a, float s, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] - s;
}

WEFT_SIMD_CLONES
void weft_vec_mul_s(float *y, const float *a, float s, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] = a[i] * s;
}

WEFT_SIMD_CLONES
void weft_vec_acc(float *y, const float *x, float s, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] += s * x[i];
}

WEFT_SIMD_CLONES
void weft_vec_acc_mul(float *y, const float *x, const float *z, size_t n)
{
    #pragma omp simd
    for (size_t i = 0; i < n; i++) y[i] += x[i] * z[i];
}
