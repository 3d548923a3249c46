/* weft/rng.h — the seeded random stream.
 *
 * One generator per run (or per thread): the same seed gives the same numbers
 * on every machine. The generator is xoshiro128** seeded through splitmix64.
 */
#ifndef WEFT_RNG_H
#define WEFT_RNG_H

#include <stdint.h>
#include "weft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_rng {
    uint32_t s[4];
} weft_rng;

void weft_rng_seed(weft_rng *r, uint64_t seed);
uint32_t weft_rng_u32(weft_rng *r);
/* Uniform in [0, 1). */
float weft_rng_uniform(weft_rng *r);
/* Uniform integer in [0, n). */
uint32_t weft_rng_below(weft_rng *r, uint32_t n);
/* Standard normal (Box-Muller). */
float weft_rng_normal(weft_rng *r);
/* Fill t with uniform values in [lo, hi). */
void weft_rng_fill_uniform(weft_rng *r, weft_tensor *t, float lo, float hi);
/* Fill dst[n] with uniform values in [0, 1), threads sharing the work: the n
 * numbers come in blocks of WEFT_RNG_BLOCK, block b from a generator of its
 * own seeded by (two draws of r, b). The same numbers for any number of
 * threads (not the numbers weft_rng_uniform would give), and r advances by
 * exactly two draws whatever n is. dst is borrowed. */
#define WEFT_RNG_BLOCK 4096
void weft_rng_fill_uniform_blocks(weft_rng *r, float *dst, size_t n);
/* Fill t with normal values of the given mean and standard deviation. */
void weft_rng_fill_normal(weft_rng *r, weft_tensor *t, float mean, float std);

#ifdef __cplusplus
}
#endif

#endif
