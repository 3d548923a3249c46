/* ops/fastmath.h — expf, sigmoid and tanh for the gate kernels (private to ops/).
 *
 * libm's expf and tanhf are calls the compiler cannot vectorise; these are
 * branch-free inline functions it can (the loops that use them carry
 * `#pragma omp simd`). Accuracy, checked against libm by tests/test_fastmath.c:
 * within 1e-6 relative (plus 1e-30 absolute for results that underflow) over
 * the whole float range; sigmoid saturates to exactly 1 and tanh to exactly ±1
 * as libm does, and NaN stays NaN.
 *
 * exp: Cody & Waite's range reduction x = k ln2 + r, |r| <= ln2 / 2, then the
 * degree-7 polynomial of Cephes' expf (Moshier) for e^r, scaled by 2^k built
 * in the exponent bits. */
#ifndef WEFT_OPS_FASTMATH_H
#define WEFT_OPS_FASTMATH_H

#include <omp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "src/internal.h"   /* WEFT_PARALLEL_MIN */
#include "src/vec.h"        /* WEFT_SIMD_CLONES */

static inline float weft_fast_exp2i(int32_t k)   /* 2^k for k in [-126, 127] */
{
    uint32_t bits = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* e^x for x in [-87, 88] (callers clamp; a NaN is taken as 0 here, so that
 * the conversion to an integer below stays defined: callers pass NaN on). */
static inline float weft_fast_expf_clamped(float x)
{
    x = x == x ? x : 0.0f;
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    /* k = nearest integer to x / ln2, by the float magic-number trick
     * (1.5 * 2^23 pushes the fraction bits out); exact for |k| < 2^22. */
    const float shifter = 12582912.0f;
    float kf = (x * log2e + shifter) - shifter;
    float r = (x - kf * ln2_hi) - kf * ln2_lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float er = p * (r * r) + r + 1.0f;
    return er * weft_fast_exp2i((int32_t)kf);
}

static inline float weft_fast_clampf(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* e^x; 0 below -87 (libm gives a subnormal or 0 there), e^88 above 88. */
static inline float weft_fast_expf(float x)
{
    float e = weft_fast_expf_clamped(weft_fast_clampf(x, -87.0f, 88.0f));
    e = x < -87.0f ? 0.0f : e;
    return x != x ? x : e;
}

/* σ(x) = 1 / (1 + e^-x). With e = e^-|x| (never overflows): σ(|x|) = 1/(1+e)
 * and σ(-|x|) = e/(1+e), so neither side loses relative accuracy. */
static inline float weft_fast_sigmoidf(float x)
{
    float ax = x < 0.0f ? -x : x;
    float e = weft_fast_expf_clamped(ax > 87.0f ? -87.0f : -ax);
    float s = 1.0f / (1.0f + e);
    float y = x < 0.0f ? e * s : s;
    return x != x ? x : y;   /* NaN in, NaN out */
}

/* tanh(x). For |x| >= 0.3: tanh|x| = (1 - e)/(1 + e) with e = e^-2|x| (no
 * overflow, and 1 - e loses at most a factor 1.2 of accuracy there). Below
 * 0.3 the cancellation would grow, so the odd Taylor series to x^11 is used
 * instead (next term 21844 x^13 / 6081075 < 2e-9 relative at 0.3). */
static inline float weft_fast_tanhf(float x)
{
    float ax = x < 0.0f ? -x : x;
    float e = weft_fast_expf_clamped(ax > 43.0f ? -86.0f : -2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = x * x;
    float p = -1382.0f / 155925.0f;
    p = p * x2 + 62.0f / 2835.0f;
    p = p * x2 - 17.0f / 315.0f;
    p = p * x2 + 2.0f / 15.0f;
    p = p * x2 - 1.0f / 3.0f;
    float small = x + x * x2 * p;
    float y = ax < 0.3f ? small : (x < 0.0f ? -big : big);
    return x != x ? x : y;
}

/* y[i] = σ(x[i]) and y[i] = tanh(x[i]) for i < n (y may be x), built with
 * WEFT_SIMD_CLONES (ops/fastmath.c): a build for any x86-64 (-Dnative=false)
 * still runs them with the CPU's widest vectors. */
void weft_sigmoid_n(float *y, const float *x, size_t n);
void weft_tanh_n(float *y, const float *x, size_t n);

/* f(y, x, n) over [0, n), the range shared among the threads above
 * WEFT_PARALLEL_MIN floats in the chunks `omp parallel for schedule(static)`
 * gives them (so each thread keeps the share it had in the op before). Call
 * it outside a parallel region. */
static inline void weft_map_threads(void (*f)(float *, const float *, size_t), float *y,
                                    const float *x, size_t n)
{
    #pragma omp parallel if (n > WEFT_PARALLEL_MIN)
    {
        size_t nt = (size_t)omp_get_num_threads(), t = (size_t)omp_get_thread_num();
        size_t chunk = (n + nt - 1) / nt, i0 = t * chunk < n ? t * chunk : n;
        size_t i1 = i0 + chunk < n ? i0 + chunk : n;
        if (i1 > i0) f(y + i0, x + i0, i1 - i0);
    }
}

#endif
