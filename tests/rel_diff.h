/* tests/rel_diff.h — how the suites compare two computations of the same
 * floats (fused against composed, deferred against immediate, chained against
 * single steps). */
#ifndef WEFT_TESTS_REL_DIFF_H
#define WEFT_TESTS_REL_DIFF_H

#include <math.h>
#include <stddef.h>

/* The relative difference in the max norm: max |a - b| over max(|a|, |b|).
 * (An element near zero next to large ones is measured against the scale of
 * the whole, where float rounding of the large ones lives; a wrong result is
 * off by its own size.) A NaN anywhere gives infinity. */
static inline double rel_diff(const float *a, const float *b, size_t n)
{
    double big = 1e-30, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        big = fmax(big, fmax(fabs((double)a[i]), fabs((double)b[i])));
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
    }
    return worst / big;
}

#endif
