/* weft/buckets.h — batches of variable-length examples bucketed by length.
 *
 * Training: the examples are shuffled, cut into pools of `pool` batches,
 * each pool sorted by length (longest first), cut into batches of `batch`
 * examples, and the order of all the batches shuffled. Examples of similar
 * length share a batch (little padding), yet the batches and their order
 * change every epoch. Evaluation (no generator): the examples sorted by
 * length, longest first, cut into batches in that order. Either way every
 * example is in exactly one batch, and within a batch the examples run from
 * longest to shortest (what a packed, ragged recurrent layer wants: at step t
 * the sequences still running are the first rows).
 */
#ifndef WEFT_BUCKETS_H
#define WEFT_BUCKETS_H

#include "weft/rng.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_buckets {
    int n_batches;
    int *start;     /* n_batches + 1: batch k is index[start[k] .. start[k + 1]) */
    int *index;     /* every example once, batch after batch */
} weft_buckets;

/* Bucket n examples of the given lengths (borrowed) into batches of at most
 * `batch`, pools of `pool` batches (>= 1); rng NULL: the evaluation order
 * above. Returns 0 (out owned by the caller: weft_buckets_free), or -1 with
 * a message when n < 1, batch < 1 or pool < 1, or memory runs out. */
int weft_buckets_make(const int *lengths, int n, int batch, int pool, weft_rng *rng,
                      weft_buckets *out, char *err, size_t errsize);
void weft_buckets_free(weft_buckets *b);

#ifdef __cplusplus
}
#endif

#endif
