/* models/layers/dropout.c — dropout masks of weft/dropout.h: standard, variational
 * (one mask per sequence, Gal & Ghahramani 2016) and embedding dropout (whole
 * rows of the embedding matrix). */
#include "weft/dropout.h"

#include "weft/ops.h"

weft_var *weft_dropout_mask(weft_graph *g, weft_rng *rng, float p, int rank, const int *shape)
{
    if (!(p >= 0.0f && p < 1.0f))
        return weft_graph_fail(g, "dropout mask: p %g is not in [0, 1)", (double)p);
    if (!rng) return weft_graph_fail(g, "dropout mask: no random generator");
    weft_var *mask = weft_input_zeros(g, rank, shape, "dropout mask", false);
    if (!mask) return NULL;
    /* inverted dropout: kept elements are scaled so that E[mask] = 1; the
     * uniforms drawn in blocks that threads share (weft_rng_fill_uniform_blocks) */
    float keep = 1.0f / (1.0f - p);
    float *d = mask->value.data;
    size_t n = mask->value.size;
    weft_rng_fill_uniform_blocks(rng, d, n);
    #pragma omp parallel for simd if (n > 4 * WEFT_RNG_BLOCK)
    for (size_t i = 0; i < n; i++) d[i] = d[i] < p ? 0.0f : keep;
    return mask;
}

weft_var *weft_variational_mask(weft_graph *g, weft_rng *rng, float p, int B, int F)
{
    if (B < 1 || F < 1)
        return weft_graph_fail(g, "variational mask: shape [%d, %d], expected both >= 1", B, F);
    return weft_dropout_mask(g, rng, p, 2, (int[]){ B, F });
}

weft_var *weft_embedding_dropout(weft_graph *g, weft_var *weight, weft_rng *rng, float p)
{
    if (!weight) return weft_graph_fail(g, "embedding dropout: no weight (an op before failed)");
    if (weight->value.rank != 2) {
        char s[64];
        return weft_graph_fail(g, "embedding dropout: weight is %s, expected [V, E]",
                               weft_shape_str(&weight->value, s, sizeof s));
    }
    if (p == 0.0f) return weight;
    /* one draw per word type: row v is dropped wherever word v occurs */
    weft_var *rows = weft_dropout_mask(g, rng, p, 2, (int[]){ weight->value.shape[0], 1 });
    if (!rows) return NULL;
    return weft_mul(g, weight, rows);
}
