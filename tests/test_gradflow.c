/* tests/test_gradflow.c — the norm of dJ_T/dh_t over time (weft/gradflow.h):
 * its numbers against the gradients backward computes and against the
 * Elman recurrence's backward written out by hand, and the vanishing
 * gradient of the Elman RNN against the LSTM's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/weft.h"
#include "weft/gradflow.h"

enum { T = 12, B = 3, I = 4, H = 5, C = 6 };

static double norm2(const float *x, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s);
}

/* Sample 0 of weft_gradflow for the Elman cell, rebuilt from the draw order
 * weft/gradflow.h documents; dJ/dh_t then comes two ways: weft_grad_of on
 * every step's h_t, and by hand from dJ/dh_{T-1} down the recurrence
 * h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh):
 *     dJ/dh_{t-1} = (dJ/dh_t ⊙ (1 - h_t²)) W_hh. */
static void elman_norms_equal_backward_and_the_recurrence_by_hand(void **state)
{
    (void)state;
    weft_gradflow_opts o = { .steps = T, .hidden = H, .input = I, .batch = B, .samples = 1,
                             .classes = C, .seed = 42 };
    double norms[T];
    char err[256];
    assert_int_equal(weft_gradflow(&weft_cell_rnn_tanh, &o, norms, err, sizeof err), 0);

    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = &weft_cell_rnn_tanh, .input_size = I, .hidden_size = H,
                            .num_layers = 1, .prefix = "rnn." };
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    assert_non_null(rnn);
    weft_param *readout = weft_params_add(ps, "readout.weight", 2, (int[]){ C, H });
    assert_non_null(readout);
    weft_rng rng;
    weft_rng_seed(&rng, 42);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &rng), 0);
    float r = 1.0f / sqrtf((float)H);
    weft_rng_fill_uniform(&rng, &readout->value, -r, r);
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_rng_fill_normal(&rng, &x, 0.0f, 1.0f);
    int targets[B];
    for (int b = 0; b < B; b++) targets[b] = (int)weft_rng_below(&rng, C);

    weft_graph *g = weft_graph_new();
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, rnn, weft_input(g, &x, "x", false), NULL, &out), 0);
    weft_var *loss = weft_cross_entropy(g, weft_linear(g, out.steps[T - 1],
                                                       weft_param_var(g, readout), NULL),
                                        targets, NULL);
    assert_int_equal(weft_backward(g, loss), 0);

    const weft_param *whh = weft_cell_param_ptr(weft_rnn_cell(rnn, 0, 0), "weight_hh");
    assert_non_null(whh);
    float gh[B * H], da[B * H];
    memcpy(gh, weft_grad_of(g, out.steps[T - 1])->data, sizeof gh);
    for (int t = T - 1; t >= 0; t--) {
        const weft_tensor *bw = weft_grad_of(g, out.steps[t]);
        assert_non_null(bw);
        double want = norm2(gh, B * H);
        /* weft_gradflow's number is the norm of what backward computed ... */
        assert_true(fabs(norms[T - 1 - t] - norm2(bw->data, B * H)) <= 1e-9 * want + 1e-30);
        /* ... which the recurrence by hand reproduces, element by element */
        for (int i = 0; i < B * H; i++)
            assert_true(fabsf(bw->data[i] - gh[i]) <= 1e-4f * (float)want + 1e-30f);
        const float *h = out.steps[t]->value.data;
        for (int i = 0; i < B * H; i++) da[i] = gh[i] * (1.0f - h[i] * h[i]);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++) {
                double s = 0.0;
                for (int k = 0; k < H; k++) s += (double)da[b * H + k] * whh->value.data[k * H + j];
                gh[b * H + j] = (float)s;
            }
    }
    /* the gradient shrinks going back (tanh' <= 1, small weights) */
    assert_true(norms[T - 1] < norms[0]);

    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_rnn_free(rnn);
    weft_params_free(ps);
}

/* A second sample (the next draws of the same stream) changes the mean; the
 * same options give the same numbers. */
static void more_samples_change_the_mean_and_repeat(void **state)
{
    (void)state;
    weft_gradflow_opts o = { .steps = 6, .hidden = 4, .batch = 2, .samples = 1, .seed = 7 };
    double one[6], two[6];
    char err[256];
    assert_int_equal(weft_gradflow(&weft_cell_gru, &o, one, err, sizeof err), 0);
    o.samples = 2;
    assert_int_equal(weft_gradflow(&weft_cell_gru, &o, two, err, sizeof err), 0);
    /* the second sample differs, so the mean differs from the first sample */
    bool differs = false;
    for (int k = 0; k < 6; k++) differs |= fabs(two[k] - one[k]) > 1e-6 * one[k];
    assert_true(differs);
    /* the same options give the same numbers */
    double again[6];
    assert_int_equal(weft_gradflow(&weft_cell_gru, &o, again, err, sizeof err), 0);
    assert_memory_equal(two, again, sizeof two);
}

/* Over 50 steps at PyTorch's default initialisation the Elman RNN's gradient
 * falls by many orders of magnitude; the LSTM's falls far less, and with its
 * forget-gate bias at 1 (lstm-b) far less again. */
static void elman_vanishes_where_lstm_holds_on(void **state)
{
    (void)state;
    enum { STEPS = 50 };
    weft_gradflow_opts o = { .steps = STEPS, .hidden = 8, .batch = 4, .samples = 3, .seed = 1 };
    double rnn[STEPS], lstm[STEPS], lstm_b[STEPS];
    char err[256];
    assert_int_equal(weft_gradflow(&weft_cell_rnn_tanh, &o, rnn, err, sizeof err), 0);
    assert_int_equal(weft_gradflow(&weft_cell_lstm, &o, lstm, err, sizeof err), 0);
    assert_int_equal(weft_gradflow(&weft_cell_lstm_b, &o, lstm_b, err, sizeof err), 0);
    double r_rnn = rnn[STEPS - 1] / rnn[0], r_lstm = lstm[STEPS - 1] / lstm[0],
           r_lstm_b = lstm_b[STEPS - 1] / lstm_b[0];
    print_message("ratio |dJ/dh| at distance 49 / distance 0: rnn %.3e, lstm %.3e, lstm-b %.3e\n",
                  r_rnn, r_lstm, r_lstm_b);
    assert_true(r_rnn < 1e-10);                /* measured 2.3e-14 */
    assert_true(r_lstm > 100.0 * r_rnn);       /* measured 1.4e-11 */
    assert_true(r_lstm_b > 1e-8);              /* measured 2.4e-6 */
    /* the Elman curve falls at every step */
    for (int k = 1; k < STEPS; k++) assert_true(rnn[k] < rnn[k - 1]);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    double norms[4];
    char err[256] = "";
    weft_gradflow_opts o = { .steps = 0, .hidden = 4 };
    assert_int_equal(weft_gradflow(&weft_cell_lstm, &o, norms, err, sizeof err), -1);
    assert_non_null(strstr(err, "steps 0"));
    o = (weft_gradflow_opts){ .steps = 4, .hidden = 4, .samples = -1 };
    assert_int_equal(weft_gradflow(&weft_cell_lstm, &o, norms, err, sizeof err), -1);
    assert_non_null(strstr(err, "samples -1"));
    assert_int_equal(weft_gradflow(NULL, &o, norms, err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elman_norms_equal_backward_and_the_recurrence_by_hand),
        cmocka_unit_test(more_samples_change_the_mean_and_repeat),
        cmocka_unit_test(elman_vanishes_where_lstm_holds_on),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
