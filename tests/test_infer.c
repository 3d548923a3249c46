/* tests/test_infer.c — the inference path (weft_graph_set_forward_only) and
 * the draw (weft_lm_draw, weft_lm_distribution).
 *
 *   - a forward-only unroll (the whole sequence, as weft eval runs) and
 *     weft_rnn_step one step at a time (as generation runs) give the taped
 *     unroll's outputs and final states, for every built-in cell and the mgu
 *     plugin (argv[1]), 2 layers; over more rows than the in-place products
 *     take (the chained path) too;
 *   - B streams in one step give each stream's numbers alone, bit for bit;
 *   - a forward-only graph keeps no gradients and refuses backward;
 *   - top-k, top-p and temperature against distributions computed by hand,
 *     ties broken by the lower id, the nucleus of a 10,000-token row against
 *     a full sort, and draws that follow the distribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"
#include "rel_diff.h"

static const char *mgu_path;
static char err[1024];

/* --- forward-only against the tape ----------------------------------------------------------- */

/* Unroll r over x [T, B, I] from zeros in g (forward-only or not); the
 * outputs [T, B, H] into out and the final states (n_final x [B, H]) into fin. */
static void unroll_into(weft_graph *g, const weft_rnn *r, const float *x, int T, int B, int I,
                        float *out, float *fin, int *n_final)
{
    weft_var *xs = weft_input_zeros(g, 3, (int[]){ T, B, I }, "x", false);
    assert_non_null(xs);
    memcpy(xs->value.data, x, (size_t)T * B * I * sizeof *x);
    weft_rnn_out o;
    if (weft_unroll(g, r, xs, NULL, &o)) fail_msg("%s", weft_graph_error(g));
    memcpy(out, weft_value(o.seq)->data, (size_t)T * B * o.width * sizeof *out);
    for (int i = 0; i < o.n_final; i++)
        memcpy(fin + (size_t)i * B * o.width, weft_value(o.final[i])->data,
               (size_t)B * o.width * sizeof *fin);
    *n_final = o.n_final;
}

/* One cell: taped unroll, forward-only unroll, forward-only steps; and B
 * rows in one step against each row alone. */
static void check_cell(const weft_cell_type *cell, int B)
{
    enum { T = 5, I = 6, H = 7 };
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    weft_rnn_config cfg = { .cell = cell, .input_size = I, .hidden_size = H, .num_layers = 2,
                            .prefix = "rnn." };
    weft_rnn *r = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
    if (!r) fail_msg("%s: %s", cell->name, err);
    size_t nx = (size_t)T * B * I, ny = (size_t)T * B * H;
    int n_states = weft_rnn_num_states(r);
    float *x = malloc(nx * sizeof *x);
    float *taped = malloc(ny * sizeof *taped), *fwd = malloc(ny * sizeof *fwd);
    float *fin_taped = malloc((size_t)n_states * B * H * sizeof(float));
    float *fin_fwd = malloc((size_t)n_states * B * H * sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = weft_rng_normal(&rng);

    weft_graph *g = weft_graph_new();
    int n_final;
    unroll_into(g, r, x, T, B, I, taped, fin_taped, &n_final);
    assert_int_equal(n_final, n_states);
    weft_graph_reset(g);
    weft_graph_set_forward_only(g, true);
    unroll_into(g, r, x, T, B, I, fwd, fin_fwd, &n_final);
    double d = rel_diff(taped, fwd, ny), df = rel_diff(fin_taped, fin_fwd, (size_t)n_states * B * H);
    if (d > 1e-5 || df > 1e-5)
        fail_msg("%s, B %d: forward-only unroll differs from the taped one by %g (outputs), "
                 "%g (final states)", cell->name, B, d, df);

    /* one step at a time (weft_rnn_step: forward-only, the state carried) */
    weft_state h = { 0 };
    float *out = malloc((size_t)B * H * sizeof *out);
    for (int t = 0; t < T; t++) {
        if (weft_rnn_step(r, g, x + (size_t)t * B * I, B, &h, out, err, sizeof err))
            fail_msg("%s: %s", cell->name, err);
        d = rel_diff(out, taped + (size_t)t * B * H, (size_t)B * H);
        if (d > 1e-5) fail_msg("%s, B %d: step %d differs from the taped unroll by %g", cell->name,
                               B, t, d);
    }
    for (int i = 0; i < n_states; i++) {
        d = rel_diff(h.t[i].data, fin_taped + (size_t)i * B * H, (size_t)B * H);
        if (d > 1e-5) fail_msg("%s: final state %d differs by %g", cell->name, i, d);
    }

    /* each row alone gives the bits it gets among the B (the first step) */
    weft_state one = { 0 };
    weft_state_free(&h);
    assert_int_equal(weft_rnn_step(r, g, x, B, &h, out, err, sizeof err), 0);
    float alone[H];
    for (int b = 0; b < B; b++) {
        weft_state_free(&one);
        assert_int_equal(weft_rnn_step(r, g, x + (size_t)b * I, 1, &one, alone, err, sizeof err), 0);
        if (memcmp(alone, out + (size_t)b * H, sizeof alone) != 0)
            fail_msg("%s: row %d of %d differs from the row alone", cell->name, b, B);
    }
    weft_state_free(&one);
    weft_state_free(&h);
    free(out);
    weft_graph_free(g);
    free(x);
    free(taped);
    free(fwd);
    free(fin_taped);
    free(fin_fwd);
    weft_rnn_free(r);
    weft_params_free(s);
}

static void every_cell_forward_only_equals_taped(void **state)
{
    (void)state;
    int n;
    const weft_cell_type *const *types = weft_cell_types(&n);
    assert_int_equal(n, 14);   /* every cell of docs/cells.md */
    for (int k = 0; k < n; k++) check_cell(types[k], 3);
    void *handle = NULL;
    const weft_cell_type *mgu = weft_cell_plugin_open(mgu_path, &handle, err, sizeof err);
    if (!mgu) fail_msg("%s", err);
    check_cell(mgu, 3);
    weft_cell_plugin_close(handle);
}

/* More rows than the in-place products take (WEFT_ROWS_PRODUCT_MAX = 64):
 * forward-only steps then chain as taped ones do, with the same values (the
 * bits of a row alone are promised up to 64 rows only). */
static void many_rows_forward_only_equals_taped(void **state)
{
    (void)state;
    enum { T = 4, B = 70, I = 6, H = 8 };
    const char *cells[] = { "lstm", "gru", "rnn" };
    for (int k = 0; k < 3; k++) {
        weft_params *s = weft_params_new();
        weft_rng rng;
        weft_rng_seed(&rng, 5);
        weft_rnn_config cfg = { .cell = weft_cell_find(cells[k]), .input_size = I,
                                .hidden_size = H, .num_layers = 2, .prefix = "rnn." };
        weft_rnn *r = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
        assert_non_null(r);
        static float x[T * B * I], taped[T * B * H], fwd[T * B * H], f1[4 * B * H], f2[4 * B * H];
        for (int i = 0; i < T * B * I; i++) x[i] = weft_rng_normal(&rng);
        weft_graph *g = weft_graph_new();
        int n_final;
        unroll_into(g, r, x, T, B, I, taped, f1, &n_final);
        weft_graph_reset(g);
        weft_graph_set_forward_only(g, true);
        unroll_into(g, r, x, T, B, I, fwd, f2, &n_final);
        double d = rel_diff(taped, fwd, (size_t)T * B * H);
        if (d > 1e-5) fail_msg("%s, %d rows: forward-only differs by %g", cells[k], B, d);
        weft_graph_free(g);
        weft_rnn_free(r);
        weft_params_free(s);
    }
}

/* No gradient anywhere, and backward refused with a message saying why. */
static void forward_only_refuses_backward(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_param *W = weft_params_add(s, "W", 2, (int[]){ 3, 4 });
    assert_non_null(W);
    weft_graph *g = weft_graph_new();
    weft_graph_set_forward_only(g, true);
    assert_true(weft_graph_is_forward_only(g));
    weft_var *x = weft_input_zeros(g, 2, (int[]){ 2, 4 }, "x", true);
    weft_var *y = weft_sum(g, weft_linear(g, x, weft_param_var(g, W), NULL));
    assert_non_null(y);
    assert_false(x->requires_grad);
    assert_false(y->requires_grad);
    assert_int_equal(weft_backward(g, y), -1);
    assert_non_null(strstr(weft_graph_error(g), "forward-only"));
    /* the mode outlives a reset; turned off, the same graph trains */
    weft_graph_reset(g);
    assert_true(weft_graph_is_forward_only(g));
    weft_graph_set_forward_only(g, false);
    x = weft_input_zeros(g, 2, (int[]){ 2, 4 }, "x", true);
    y = weft_sum(g, weft_linear(g, x, weft_param_var(g, W), NULL));
    assert_int_equal(weft_backward(g, y), 0);
    weft_graph_free(g);
    weft_params_free(s);
}

/* --- the draw --------------------------------------------------------------------------------- */

static weft_lm_scored buf[10000];

/* probs from weft_lm_distribution against want[], to 1e-6. */
static void check_distribution(const float *logits, int V, weft_lm_sampling how,
                               const double *want)
{
    float probs[16];
    weft_lm_distribution(logits, V, &how, probs, buf);
    for (int c = 0; c < V; c++)
        if (fabs(probs[c] - want[c]) > 1e-6)
            fail_msg("temperature %g, top-k %d, top-p %g: p[%d] = %.7f, by hand %.7f",
                     (double)how.temperature, how.top_k, (double)how.top_p, c,
                     (double)probs[c], want[c]);
}

/* logits = ln p for p = .05 .30 .10 .40 .15 (ids 0..4, out of order). */
static void top_p_and_top_k_by_hand(void **state)
{
    (void)state;
    const double p[5] = { 0.05, 0.30, 0.10, 0.40, 0.15 };
    float logits[5];
    for (int c = 0; c < 5; c++) logits[c] = (float)log(p[c]);
    /* all: p itself */
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 0, 0.0f }, p);
    /* top-p .65: .40 + .30 = .70 >= .65, .40 alone is not: ids 3 and 1 */
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 0, 0.65f },
                       (double[]){ 0, 0.3 / 0.7, 0, 0.4 / 0.7, 0 });
    /* top-p .75: .70 < .75, the next (.15) makes .85 */
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 0, 0.75f },
                       (double[]){ 0, 0.3 / 0.85, 0, 0.4 / 0.85, 0.15 / 0.85 });
    /* top-p .3: the most likely alone */
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 0, 0.3f },
                       (double[]){ 0, 0, 0, 1, 0 });
    /* top-k 2, then top-p .5 of what is left (.4/.7 = .571 >= .5) */
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 2, 0.0f },
                       (double[]){ 0, 0.3 / 0.7, 0, 0.4 / 0.7, 0 });
    check_distribution(logits, 5, (weft_lm_sampling){ 1.0f, 2, 0.5f },
                       (double[]){ 0, 0, 0, 1, 0 });
    /* temperature 2: p^(1/2), renormalised, then top-k 3 */
    double r[5], sum = 0;
    for (int c = 0; c < 5; c++) sum += r[c] = sqrt(p[c]);
    for (int c = 0; c < 5; c++) r[c] /= sum;
    check_distribution(logits, 5, (weft_lm_sampling){ 2.0f, 0, 0.0f }, r);
    double k3 = sqrt(0.4) + sqrt(0.3) + sqrt(0.15);
    check_distribution(logits, 5, (weft_lm_sampling){ 2.0f, 3, 0.0f },
                       (double[]){ 0, sqrt(0.3) / k3, 0, sqrt(0.4) / k3, sqrt(0.15) / k3 });
    /* temperature 0: the most likely */
    check_distribution(logits, 5, (weft_lm_sampling){ 0.0f, 0, 0.0f }, (double[]){ 0, 0, 0, 1, 0 });
    /* ties: four equal logits, top-k 2 keeps the two lowest ids */
    float tied[6] = { 0.5f, 1.0f, 1.0f, -1.0f, 1.0f, 1.0f };
    check_distribution(tied, 6, (weft_lm_sampling){ 1.0f, 2, 0.0f },
                       (double[]){ 0, 0.5, 0.5, 0, 0, 0 });
}

static int by_prob_desc(const void *a, const void *b)
{
    const weft_lm_scored *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return x->id - y->id;
}

/* A 10,000-token row: the nucleus and the top-k set against a full sort. */
static void large_row_against_a_sort(void **state)
{
    (void)state;
    enum { V = 10000 };
    static float logits[V], probs[V];
    static weft_lm_scored sorted[V];
    weft_rng rng;
    weft_rng_seed(&rng, 17);
    for (int c = 0; c < V; c++) logits[c] = 3.0f * weft_rng_normal(&rng);
    double z = 0;
    for (int c = 0; c < V; c++) z += exp((double)logits[c]);
    for (int c = 0; c < V; c++) sorted[c] = (weft_lm_scored){ (float)(exp((double)logits[c]) / z), c };
    qsort(sorted, V, sizeof *sorted, by_prob_desc);
    const float ps[] = { 0.1f, 0.5f, 0.9f, 0.99f };
    for (int i = 0; i < 4; i++) {
        int n = 0;
        for (double acc = 0; n < V && acc < ps[i];) acc += sorted[n++].logit;
        weft_lm_distribution(logits, V, &(weft_lm_sampling){ 1.0f, 0, ps[i] }, probs, buf);
        int kept = 0;
        for (int c = 0; c < V; c++) kept += probs[c] > 0;
        if (kept != n) fail_msg("top-p %g: %d tokens kept, the sorted row needs %d",
                                (double)ps[i], kept, n);
        for (int j = 0; j < n; j++) assert_true(probs[sorted[j].id] > 0);
    }
    weft_lm_distribution(logits, V, &(weft_lm_sampling){ 1.0f, 40, 0.0f }, probs, buf);
    for (int j = 0; j < V; j++) assert_true((probs[sorted[j].id] > 0) == (j < 40));
}

/* 40,000 draws: the frequencies follow weft_lm_distribution (within 0.01)
 * and nothing outside the candidates is drawn; the same seed, the same ids. */
static void draws_follow_the_distribution(void **state)
{
    (void)state;
    const float logits[6] = { 0.1f, 2.0f, -1.0f, 1.5f, 1.4f, 0.0f };
    weft_lm_sampling how = { 0.9f, 4, 0.8f };
    float probs[6];
    weft_lm_distribution(logits, 6, &how, probs, buf);
    int count[6] = { 0 }, first[20];
    weft_rng rng;
    weft_rng_seed(&rng, 4);
    enum { N = 40000 };
    for (int k = 0; k < N; k++) {
        int id = weft_lm_draw(logits, 6, &how, buf, &rng);
        if (k < 20) first[k] = id;
        count[id]++;
    }
    for (int c = 0; c < 6; c++) {
        if (probs[c] == 0.0f) assert_int_equal(count[c], 0);
        if (fabs((double)count[c] / N - probs[c]) > 0.01)
            fail_msg("id %d drawn %.4f of the time, p = %.4f", c, (double)count[c] / N,
                     (double)probs[c]);
    }
    weft_rng_seed(&rng, 4);
    for (int k = 0; k < 20; k++) assert_int_equal(weft_lm_draw(logits, 6, &how, buf, &rng), first[k]);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_infer MGU_PLUGIN.so\n");
        return 1;
    }
    mgu_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_cell_forward_only_equals_taped),
        cmocka_unit_test(many_rows_forward_only_equals_taped),
        cmocka_unit_test(forward_only_refuses_backward),
        cmocka_unit_test(top_p_and_top_k_by_hand),
        cmocka_unit_test(large_row_against_a_sort),
        cmocka_unit_test(draws_follow_the_distribution),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
