/* tests/test_low_memory.c — a low-memory graph (weft_graph_set_low_memory)
 * against the same graph kept whole: the same outputs and the same gradients
 * bit for bit (inputs, initial states, every parameter), through weft_unroll
 * of every fused cell (one layer; two bidirectional layers over a ragged
 * batch) and of a composed cell, on 1 and 2 threads, in less arena memory;
 * and what it refuses: an intermediate's gradient, a second backward. And
 * the language model's recomputation in segments (weft_lm_segments_*):
 * the gradients of the whole window to 1e-6, in less memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/weft.h"

#include "tests/rel_diff.h"

enum { T = 7, B = 5, I = 6, H = 16 };

static weft_var *leaf(weft_graph *g, weft_rng *r, const char *name, int rank, const int *shape)
{
    weft_var *v = weft_input_zeros(g, rank, shape, name, true);
    assert_non_null(v);
    weft_rng_fill_uniform(r, &v->value, -1.0f, 1.0f);
    return v;
}

/* sum(y ⊙ w) for a random w: every element of y gets its own gradient */
static weft_var *weighted_sum(weft_graph *g, weft_rng *r, weft_var *y)
{
    weft_var *w = weft_input_zeros(g, y->value.rank, y->value.shape, "w", false);
    assert_non_null(w);
    weft_rng_fill_uniform(r, &w->value, -1.0f, 1.0f);
    return weft_sum(g, weft_mul(g, y, w));
}

/* What one unroll leaves, in one malloc'd buffer: the outputs, the final
 * states, and the gradients of the input, the initial states and the
 * parameters; and the arena bytes it took. */
typedef struct run {
    float *all;
    size_t n;
    size_t arena;
} run;

static void push(run *o, const float *x, size_t n)
{
    o->all = realloc(o->all, (o->n + n) * sizeof(float));
    assert_non_null(o->all);
    memcpy(o->all + o->n, x, n * sizeof(float));
    o->n += n;
}

static run unroll_once(weft_rnn *rnn, weft_params *ps, const int *lengths, bool low)
{
    run o = { 0 };
    const weft_rnn_config *cfg = weft_rnn_get_config(rnn);
    int n_states = weft_rnn_num_states(rnn);
    weft_graph *g = weft_graph_new();
    assert_non_null(g);
    weft_graph_set_low_memory(g, low);
    weft_rng r;
    weft_rng_seed(&r, 5);
    weft_var *xs = leaf(g, &r, "xs", 3, (int[]){ T, B, cfg->input_size });
    weft_var *init[16];
    for (int i = 0; i < n_states; i++) init[i] = leaf(g, &r, "s0", 2, (int[]){ B, H });
    weft_rnn_out out;
    weft_unroll_opts opts = { .lengths = lengths, .init_vars = init };
    if (weft_unroll(g, rnn, xs, &opts, &out)) fail_msg("unroll: %s", weft_graph_error(g));
    weft_var *loss = weighted_sum(g, &r, out.seq);
    for (int i = 0; i < out.n_final; i++) loss = weft_add(g, loss, weighted_sum(g, &r, out.final[i]));
    assert_null(weft_graph_error(g));
    weft_params_zero_grad(ps);
    if (weft_backward(g, loss)) fail_msg("backward: %s", weft_graph_error(g));
    push(&o, out.seq->value.data, out.seq->value.size);
    for (int i = 0; i < out.n_final; i++) push(&o, out.final[i]->value.data, (size_t)B * H);
    push(&o, weft_grad_of(g, xs)->data, xs->value.size);
    for (int i = 0; i < n_states; i++) push(&o, weft_grad_of(g, init[i])->data, (size_t)B * H);
    push(&o, weft_params_grads(ps), weft_params_span(ps));
    o.arena = weft_graph_arena_used(g);
    if (low) {
        /* an intermediate's gradient is gone, and says so */
        assert_null(weft_grad_of(g, out.seq));
        assert_non_null(strstr(weft_graph_error(g), "low-memory"));
    }
    weft_graph_free(g);
    return o;
}

static void compare(const char *cell, int layers, bool bidirectional, const int *lengths)
{
    weft_params *ps = weft_params_new();
    char err[256];
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = I, .hidden_size = H,
                            .num_layers = layers, .bidirectional = bidirectional };
    assert_non_null(cfg.cell);
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    if (!rnn) fail_msg("%s: %s", cell, err);
    weft_rng r;
    weft_rng_seed(&r, 11);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &r), 0);
    run whole = unroll_once(rnn, ps, lengths, false);
    run low = unroll_once(rnn, ps, lengths, true);
    assert_int_equal(whole.n, low.n);
    for (size_t k = 0; k < whole.n; k++)
        if (memcmp(&whole.all[k], &low.all[k], sizeof(float)) != 0)
            fail_msg("%s (%d layers%s%s): element %zu of the results differs: %.9g kept, %.9g "
                     "low-memory", cell, layers, bidirectional ? ", bidirectional" : "",
                     lengths ? ", ragged" : "", k, (double)whole.all[k], (double)low.all[k]);
    if (!(low.arena < whole.arena))
        fail_msg("%s: low-memory arena %zu bytes, kept %zu", cell, low.arena, whole.arena);
    free(whole.all);
    free(low.all);
    weft_rnn_free(rnn);
    weft_params_free(ps);
}

/* Every fused cell and a composed one (lstm-peephole: its per-step products
 * defer their weight gradients, which keeps their gradients to the end). */
static void same_results_bit_for_bit(void **state)
{
    (void)state;
    static const int ragged[B] = { 7, 3, 6, 1, 4 };
    static const char *const cells[] = { "rnn", "rnn-relu", "lstm", "lstm-b", "gru",
                                         "lstm-peephole" };
    for (int threads = 1; threads <= 2; threads++) {
        weft_set_num_threads(threads);
        for (size_t k = 0; k < sizeof cells / sizeof cells[0]; k++) {
            compare(cells[k], 1, false, NULL);
            compare(cells[k], 2, true, ragged);
        }
    }
    weft_set_num_threads(1);
}

/* The LSTM layer keeps its activations in its projection's memory, which
 * its backward turns into gradients: a second backward refuses, until the
 * forward has run again (then the same gradients). */
static void a_second_backward_needs_the_forward_again(void **state)
{
    (void)state;
    weft_params *ps = weft_params_new();
    char err[256];
    weft_rnn_config cfg = { .cell = weft_cell_find("lstm"), .input_size = I, .hidden_size = H,
                            .num_layers = 1 };
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    assert_non_null(rnn);
    weft_rng r;
    weft_rng_seed(&r, 3);
    weft_rnn_reset_parameters(rnn, &r);
    weft_graph *g = weft_graph_new();
    weft_graph_set_low_memory(g, true);
    weft_var *xs = leaf(g, &r, "xs", 3, (int[]){ T, B, I });
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, rnn, xs, NULL, &out), 0);
    weft_var *loss = weighted_sum(g, &r, out.seq);
    weft_params_zero_grad(ps);
    assert_int_equal(weft_backward(g, loss), 0);
    float *first = malloc(weft_params_span(ps) * sizeof(float));
    memcpy(first, weft_params_grads(ps), weft_params_span(ps) * sizeof(float));
    assert_int_equal(weft_backward(g, loss), -1);
    assert_non_null(strstr(weft_graph_error(g), "second backward"));

    /* the forward again (weft_graph_recompute), then the same gradients */
    weft_graph_reset(g);
    xs = leaf(g, &r, "xs", 3, (int[]){ T, B, I });
    assert_int_equal(weft_unroll(g, rnn, xs, NULL, &out), 0);
    loss = weighted_sum(g, &r, out.seq);
    weft_params_zero_grad(ps);
    assert_int_equal(weft_backward(g, loss), 0);
    memcpy(first, weft_params_grads(ps), weft_params_span(ps) * sizeof(float));
    weft_graph_recompute(g, 0);
    weft_params_zero_grad(ps);
    assert_int_equal(weft_backward(g, loss), 0);
    assert_memory_equal(first, weft_params_grads(ps), weft_params_span(ps) * sizeof(float));
    free(first);

    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(ps);
}

/* A character model over the letters a..l, 2 layers of `cell`. */
static weft_lm *tiny_lm(const char *cell, float dropout, bool variational)
{
    char err[256];
    const char *text = "abcdefghijkl";
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(text, strlen(text), "test", WEFT_TEXT_CHARS, &t,
                                             err, sizeof err), 0);
    weft_vocab *v = weft_vocab_build(&t, 1, 0, err, sizeof err);
    assert_non_null(v);
    weft_tokens_free(&t);
    weft_lm_config cfg = { .level = WEFT_TEXT_CHARS, .layers = 2, .hidden = 9, .embed = 7,
                           .dropout = dropout, .variational = variational };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    weft_lm *m = weft_lm_new(&cfg, v, err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, 8);
    assert_int_equal(weft_lm_init(m, &rng, 0.5f), 0);
    return m;
}

/* A window of 23 steps in segments of 5 (the last of 3), from a carried
 * state: the loss, every parameter's gradient and the final state are the
 * whole window's, in less arena; the segments of 23 (one) too. */
static void recomputation_gives_the_whole_windows_gradients(void **state)
{
    (void)state;
    enum { W = 23, R = 3 };   /* steps, streams */
    static const char *const cells[] = { "lstm", "gru", "rnn", "lstm-peephole" };
    for (size_t c = 0; c < sizeof cells / sizeof cells[0]; c++) {
        weft_lm *m = tiny_lm(cells[c], 0.0f, false);
        int V = m->vocab_size, in[W * R], tg[W * R];
        weft_rng r;
        weft_rng_seed(&r, 21);
        for (int i = 0; i < W * R; i++) {
            in[i] = (int)weft_rng_below(&r, (uint32_t)V);
            tg[i] = (int)weft_rng_below(&r, (uint32_t)V);
        }
        weft_graph *g = weft_graph_new();
        weft_graph_set_low_memory(g, true);
        char err[256];
        /* a carried state: the end of a first window */
        weft_state carry = { 0 }, whole_end = { 0 };
        weft_rnn_out out;
        assert_non_null(weft_lm_forward(m, g, in, tg, W, R, NULL, NULL, &out));
        assert_int_equal(weft_state_detach(&out, &carry), 0);

        weft_graph_reset(g);
        weft_params_zero_grad(m->params);
        weft_var *loss = weft_lm_forward(m, g, in, tg, W, R, &carry, NULL, &out);
        assert_non_null(loss);
        float whole_loss = weft_scalar(loss);
        assert_int_equal(weft_backward(g, loss), 0);
        size_t whole_arena = weft_graph_arena_used(g);
        assert_int_equal(weft_state_detach(&out, &whole_end), 0);
        size_t n = weft_params_span(m->params);
        float *whole = malloc(n * sizeof(float));
        memcpy(whole, weft_params_grads(m->params), n * sizeof(float));

        for (int every = 5; every <= W; every += W - 5) {
            weft_lm_segments seg;
            weft_params_zero_grad(m->params);
            if (weft_lm_segments_forward(m, g, in, tg, W, R, &carry, NULL, every, &seg, err,
                                         sizeof err) ||
                weft_lm_segments_backward(m, g, in, tg, W, R, &carry, &seg, 1.0f, err,
                                          sizeof err))
                fail_msg("%s, segments of %d: %s", cells[c], every, err);
            assert_int_equal(seg.n, (W + every - 1) / every);
            if (!(fabs(seg.loss - whole_loss) <= 1e-6 * fabs(whole_loss)))
                fail_msg("%s: loss %.9g in segments of %d, %.9g whole", cells[c], seg.loss,
                         every, (double)whole_loss);
            double d = rel_diff(whole, weft_params_grads(m->params), n);
            if (!(d <= 1e-6))
                fail_msg("%s: gradients in segments of %d differ by %.3g", cells[c], every, d);
            for (int i = 0; i < carry.n; i++)
                assert_memory_equal(seg.start[seg.n].t[i].data, whole_end.t[i].data,
                                    whole_end.t[i].size * sizeof(float));
            if (every < W && !(weft_graph_arena_used(g) < whole_arena / 2))
                fail_msg("%s: a segment's arena %zu bytes, the window's %zu", cells[c],
                         weft_graph_arena_used(g), whole_arena);
            weft_lm_segments_free(&seg);
        }
        free(whole);
        weft_state_free(&carry);
        weft_state_free(&whole_end);
        weft_graph_free(g);
        weft_lm_free(m);
    }
}

/* Variational dropout's masks span the window: refused, by name. */
static void recomputation_refuses_variational_dropout(void **state)
{
    (void)state;
    weft_lm *m = tiny_lm("lstm", 0.3f, true);
    int ids[8] = { 0 };
    weft_graph *g = weft_graph_new();
    weft_rng rng;
    weft_rng_seed(&rng, 2);
    weft_lm_segments seg;
    char err[256];
    assert_int_equal(weft_lm_segments_forward(m, g, ids, ids, 4, 2, NULL, &rng, 2, &seg, err,
                                              sizeof err), -1);
    assert_non_null(strstr(err, "variational"));
    weft_graph_free(g);
    weft_lm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_results_bit_for_bit),
        cmocka_unit_test(a_second_backward_needs_the_forward_again),
        cmocka_unit_test(recomputation_gives_the_whole_windows_gradients),
        cmocka_unit_test(recomputation_refuses_variational_dropout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
