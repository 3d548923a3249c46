/* src/buckets.c — length-bucketed batches (weft/buckets.h). */
#include "weft/buckets.h"

#include "src/internal.h"

#include <stdlib.h>

typedef struct keyed {
    int length, pos;
} keyed;

/* Longest first; equal lengths keep their order (qsort is not stable: the
 * position breaks ties, so the result is the same on every C library). */
static int longest_first(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->length != y->length) return y->length - x->length;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

static void shuffle(int *a, int n, weft_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {   /* Fisher-Yates */
        int j = (int)weft_rng_below(rng, (uint32_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int weft_buckets_make(const int *lengths, int n, int batch, int pool, weft_rng *rng,
                      weft_buckets *out, char *err, size_t errsize)
{
    *out = (weft_buckets){ 0 };
    if (n < 1 || batch < 1 || pool < 1) {
        weft_say(err, errsize, "buckets: %d examples, batch %d, pool %d: each must be >= 1", n,
                 batch, pool);
        return -1;
    }
    /* a pool: `pool` batches when training, everything when evaluating */
    int pool_size = rng && (long)batch * pool < n ? batch * pool : n;
    keyed *k = malloc((size_t)n * sizeof *k);
    int *order = malloc((size_t)n * sizeof *order);
    int *sorted = malloc((size_t)n * sizeof *sorted);
    int *starts = malloc((size_t)(n + 1) * sizeof *starts);   /* at most n batches */
    int *perm = malloc((size_t)n * sizeof *perm);
    out->start = malloc((size_t)(n + 1) * sizeof *out->start);
    out->index = malloc((size_t)n * sizeof *out->index);
    int rc = -1;
    if (!k || !order || !sorted || !starts || !perm || !out->start || !out->index) {
        weft_say(err, errsize, "buckets: out of memory for %d examples", n);
        weft_buckets_free(out);
        goto done;
    }
    for (int i = 0; i < n; i++) order[i] = i;
    if (rng) shuffle(order, n, rng);
    /* sort each pool longest first and cut it into batches (its last may be short) */
    int count = 0;
    for (int p0 = 0; p0 < n; p0 += pool_size) {
        int m = n - p0 < pool_size ? n - p0 : pool_size;
        for (int i = 0; i < m; i++) k[i] = (keyed){ lengths[order[p0 + i]], i };
        qsort(k, (size_t)m, sizeof *k, longest_first);
        for (int i = 0; i < m; i++) sorted[p0 + i] = order[p0 + k[i].pos];
        for (int s = 0; s < m; s += batch) starts[count++] = p0 + s;
    }
    starts[count] = n;
    /* the batches in shuffled order (training) */
    for (int i = 0; i < count; i++) perm[i] = i;
    if (rng) shuffle(perm, count, rng);
    int at = 0;
    for (int i = 0; i < count; i++) {
        int b = perm[i];
        out->start[i] = at;
        for (int s = starts[b]; s < starts[b + 1]; s++) out->index[at++] = sorted[s];
    }
    out->start[count] = at;
    out->n_batches = count;
    rc = 0;
done:
    free(k);
    free(order);
    free(sorted);
    free(starts);
    free(perm);
    return rc;
}

void weft_buckets_free(weft_buckets *b)
{
    if (!b) return;
    free(b->start);
    free(b->index);
    *b = (weft_buckets){ 0 };
}
