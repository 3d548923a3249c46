/* weft/rng.h — the seeded random stream.
 *
 * One generator per run (or per thread): the same seed gives the same numbers
 * on every machine. The generator is xoshiro128** seeded through splitmix64.
 */
#ifndef WEFT_RNG_H
#define WEFT_RNG_H

#include <stdint.h>
#include "weft/tensor.h"

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
/* Fill t with normal values of the given mean and standard deviation. */
void weft_rng_fill_normal(weft_rng *r, weft_tensor *t, float mean, float std);

#endif
