/* tests/test_layers.c — the layers of weft/layers.h: each made with its
 * parameters drawn as PyTorch's layer draws them (range, mean and spread over
 * thousands of values), applied as the op they stand for (against the sum
 * written out), refused with the store's message on a duplicate name, and a
 * classifier built from them learning. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

/* mean and standard deviation of n floats, in double */
static void moments(const float *x, size_t n, double *mean, double *sd)
{
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++) ss += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(ss / (double)n);
}

/* nn.Linear(in, out): weight and bias uniform in [-1/sqrt(in), 1/sqrt(in)): every value in
 * range, mean 0 and standard deviation bound/sqrt(3) within 3% over 16384 values; the bias
 * drawn too (not left at zero) */
static void linear_is_initialised_as_pytorch(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    enum { IN = 64, OUT = 256 };
    weft_linear_layer l = weft_linear_layer_new(s, "fc", IN, OUT, true, &rng);
    assert_non_null(l.weight);
    assert_non_null(l.bias);
    assert_ptr_equal(weft_params_find(s, "fc.weight"), l.weight);
    assert_ptr_equal(weft_params_find(s, "fc.bias"), l.bias);
    assert_int_equal(l.weight->value.shape[0], OUT);
    assert_int_equal(l.weight->value.shape[1], IN);
    double bound = 1.0 / sqrt(IN), mean, sd;
    const float *w = l.weight->value.data;
    for (int i = 0; i < IN * OUT; i++) assert_true(fabs(w[i]) <= bound);
    moments(w, IN * OUT, &mean, &sd);
    assert_true(fabs(mean) < 0.03 * bound);
    assert_true(fabs(sd - bound / sqrt(3.0)) < 0.03 * bound / sqrt(3.0));
    int nonzero = 0;
    for (int i = 0; i < OUT; i++) {
        assert_true(fabs(l.bias->value.data[i]) <= bound);
        nonzero += l.bias->value.data[i] != 0.0f;
    }
    assert_int_equal(nonzero, OUT);

    /* without a bias: no fc2.bias in the store */
    weft_linear_layer l2 = weft_linear_layer_new(s, "fc2", 3, 2, false, &rng);
    assert_non_null(l2.weight);
    assert_null(l2.bias);
    assert_null(weft_params_find(s, "fc2.bias"));
    /* a name taken: not made, and the store says why */
    weft_linear_layer dup = weft_linear_layer_new(s, "fc", 2, 2, true, &rng);
    assert_null(dup.weight);
    assert_non_null(weft_params_error(s));
    assert_non_null(strstr(weft_params_error(s), "fc.weight"));
    weft_params_free(s);
}

/* apply: y = x Wᵀ + b, against the sums written out */
static void linear_applies_x_wt_plus_b(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 2);
    weft_linear_layer l = weft_linear_layer_new(s, "fc", 5, 3, true, &rng);
    weft_graph *g = weft_graph_new();
    weft_var *x = weft_input_zeros(g, 2, (int[]){ 4, 5 }, "x", false);
    weft_rng_fill_uniform(&rng, &x->value, -1.0f, 1.0f);
    weft_var *y = weft_linear_layer_apply(&l, g, x);
    assert_false(weft_graph_failed(g));
    for (int r = 0; r < 4; r++)
        for (int o = 0; o < 3; o++) {
            double want = l.bias->value.data[o];
            for (int i = 0; i < 5; i++)
                want += (double)x->value.data[r * 5 + i] * l.weight->value.data[o * 5 + i];
            assert_float_equal(weft_value(y)->data[r * 3 + o], want, 1e-5);
        }
    /* a width the layer does not take: the graph fails */
    weft_var *bad = weft_input_zeros(g, 2, (int[]){ 4, 6 }, "bad", false);
    assert_null(weft_linear_layer_apply(&l, g, bad));
    assert_true(weft_graph_failed(g));
    /* a layer that was not made: a message, not a crash */
    weft_graph_reset(g);
    weft_linear_layer none = { 0 };
    assert_null(weft_linear_layer_apply(&none, g, x));
    assert_non_null(strstr(weft_graph_error(g), "not made"));
    weft_graph_free(g);
    weft_params_free(s);
}

/* nn.Embedding: N(0, 1) (mean within 0.03, sd within 3% over 16384 values); with a range,
 * uniform within it; apply gives the rows of the ids, and an id out of range fails naming it */
static void embedding_init_and_lookup(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    weft_embedding_layer e = weft_embedding_layer_new(s, "emb", 512, 32, 0.0f, &rng);
    assert_non_null(e.weight);
    assert_ptr_equal(weft_params_find(s, "emb.weight"), e.weight);
    double mean, sd;
    moments(e.weight->value.data, 512 * 32, &mean, &sd);
    assert_true(fabs(mean) < 0.03);
    assert_true(fabs(sd - 1.0) < 0.03);

    weft_embedding_layer u = weft_embedding_layer_new(s, "enc", 100, 8, 0.1f, &rng);
    assert_non_null(u.weight);
    float lo = 1, hi = -1;
    for (int i = 0; i < 800; i++) {
        float v = u.weight->value.data[i];
        assert_true(v >= -0.1f && v < 0.1f);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(lo < -0.09f && hi > 0.09f);

    weft_graph *g = weft_graph_new();
    int ids[3] = { 7, 0, 99 };
    weft_var *rows = weft_embedding_layer_apply(&u, g, ids, 3);
    assert_false(weft_graph_failed(g));
    for (int k = 0; k < 3; k++)
        assert_memory_equal(weft_value(rows)->data + k * 8, u.weight->value.data + ids[k] * 8,
                            8 * sizeof(float));
    int bad[2] = { 3, 100 };
    assert_null(weft_embedding_layer_apply(&u, g, bad, 2));
    assert_non_null(strstr(weft_graph_error(g), "100"));
    weft_graph_free(g);
    weft_params_free(s);
}

/* weft_rnn_new_init: every parameter drawn in the cell's ±1/sqrt(H), none left at zero */
static void rnn_new_init_draws_every_parameter(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 4);
    char err[256];
    weft_rnn_config cfg = { .cell = weft_cell_find("gru"), .input_size = 3, .hidden_size = 16,
                            .num_layers = 2, .prefix = "rnn." };
    weft_rnn *r = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(weft_params_count(s), 8);
    for (int i = 0; i < weft_params_count(s); i++) {
        const weft_param *p = weft_params_at(s, i);
        size_t n = p->value.size, zeros = 0;
        for (size_t k = 0; k < n; k++) {
            assert_true(fabsf(p->value.data[k]) <= 0.25f);
            zeros += p->value.data[k] == 0.0f;
        }
        assert_true(zeros < n / 100 + 1);
    }
    weft_rnn_free(r);
    /* a bad configuration: NULL and a message */
    cfg.num_layers = 0;
    assert_null(weft_rnn_new_init(s, &cfg, &rng, err, sizeof err));
    assert_true(strlen(err) > 0);
    weft_params_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_is_initialised_as_pytorch),
        cmocka_unit_test(linear_applies_x_wt_plus_b),
        cmocka_unit_test(embedding_init_and_lookup),
        cmocka_unit_test(rnn_new_init_draws_every_parameter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
