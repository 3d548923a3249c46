/* src/rng.c — xoshiro128** (Blackman & Vigna 2018), seeded by splitmix64. */
#include "weft/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void weft_rng_seed(weft_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    uint64_t a = splitmix64(&x), b = splitmix64(&x);
    r->s[0] = (uint32_t)a;
    r->s[1] = (uint32_t)(a >> 32);
    r->s[2] = (uint32_t)b;
    r->s[3] = (uint32_t)(b >> 32);
}

static inline uint32_t rotl(uint32_t x, int k)
{
    return (x << k) | (x >> (32 - k));
}

uint32_t weft_rng_u32(weft_rng *r)
{
    uint32_t *s = r->s;
    uint32_t result = rotl(s[1] * 5, 7) * 9;
    uint32_t t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
}

float weft_rng_uniform(weft_rng *r)
{
    return (float)(weft_rng_u32(r) >> 8) * (1.0f / 16777216.0f);   /* 24 bits */
}

void weft_rng_fill_uniform_blocks(weft_rng *r, float *dst, size_t n)
{
    uint64_t base = (uint64_t)weft_rng_u32(r) << 32;
    base |= weft_rng_u32(r);
    size_t blocks = (n + WEFT_RNG_BLOCK - 1) / WEFT_RNG_BLOCK;
    #pragma omp parallel for schedule(static) if (n > 4 * WEFT_RNG_BLOCK)
    for (size_t b = 0; b < blocks; b++) {
        /* splitmix64 in the seeding spreads consecutive seeds over the state */
        weft_rng local;
        weft_rng_seed(&local, base + b * 0x9E3779B97F4A7C15ull);
        size_t end = (b + 1) * WEFT_RNG_BLOCK < n ? (b + 1) * WEFT_RNG_BLOCK : n;
        for (size_t i = b * WEFT_RNG_BLOCK; i < end; i++) dst[i] = weft_rng_uniform(&local);
    }
}

uint32_t weft_rng_below(weft_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift; the bias is below 2^-32 * n, fine for sampling */
    return (uint32_t)(((uint64_t)weft_rng_u32(r) * n) >> 32);
}

float weft_rng_normal(weft_rng *r)
{
    float u1 = weft_rng_uniform(r), u2 = weft_rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530718f * u2);
}

void weft_rng_fill_uniform(weft_rng *r, weft_tensor *t, float lo, float hi)
{
    for (size_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * weft_rng_uniform(r);
}

void weft_rng_fill_normal(weft_rng *r, weft_tensor *t, float mean, float std)
{
    for (size_t i = 0; i < t->size; i++) t->data[i] = mean + std * weft_rng_normal(r);
}
