/* tests/test_cells.c — gradient checks of every built-in cell and of the
 * example cell (examples/mgu.c), through weft_unroll: 1 and 2 layers, one and
 * two directions, full and ragged batches, a non-zero initial state that
 * wants a gradient too. Plus the registry, parameter layouts and counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "weft/weft.h"

extern const weft_cell_type mgu_cell;   /* examples/mgu.c */

enum { T = 3, B = 3, I = 3, H = 2 };

/* A loss that weighs every output and every final state with its own random
 * number, so that errors in any of them cannot cancel. */
static weft_var *generic_loss(weft_graph *g, const weft_rnn_out *out, weft_rng *rng)
{
    weft_tensor w = weft_tensor_alloc(3, (int[]){ out->T, out->B, out->width });
    weft_rng_fill_uniform(rng, &w, -1, 1);
    weft_var *loss = weft_sum(g, weft_mul(g, out->seq, weft_input(g, &w, "w", false)));
    weft_tensor_release(&w);
    for (int i = 0; i < out->n_final; i++) {
        weft_tensor ws = weft_tensor_alloc2(out->B, weft_value(out->final[i])->shape[1]);
        weft_rng_fill_uniform(rng, &ws, -1, 1);
        loss = weft_add(g, loss, weft_sum(g, weft_mul(g, out->final[i],
                                                      weft_input(g, &ws, "w", false))));
        weft_tensor_release(&ws);
    }
    return loss;
}

/* Build the model, unroll it over random inputs with random initial states,
 * and check every gradient (parameters, inputs, initial states). */
static void check_cell(const weft_cell_type *type, int input, int layers, bool bidir, bool ragged,
                       bool composed)
{
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 42);
    weft_params *params = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(params, &(weft_rnn_config){ .cell = type, .input_size = input,
        .hidden_size = H, .num_layers = layers, .bidirectional = bidir, .prefix = "m." },
        err, sizeof err);
    if (!rnn) fail_msg("%s: %s", type->name, err);
    assert_int_equal(weft_rnn_reset_parameters(rnn, &rng), 0);

    weft_graph *g = weft_graph_new();
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, input });
    weft_rng_fill_uniform(&rng, &x, -1, 1);
    weft_var *xs = weft_input(g, &x, "x", true);
    int n = weft_rnn_num_states(rnn);
    weft_var *init[64];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++) {
        weft_tensor s = weft_tensor_alloc2(B, H);
        weft_rng_fill_uniform(&rng, &s, -0.5f, 0.5f);
        init[i] = weft_state_leaf(g, &s, "s0", true);
        weft_tensor_release(&s);
    }
    int lengths[B] = { 3, 1, 2 };
    weft_rnn_out out;
    int rc = weft_unroll(g, rnn, xs, &(weft_unroll_opts){ .lengths = ragged ? lengths : NULL,
                         .init_vars = init, .composed = composed }, &out);
    if (rc) fail_msg("%s: %s", type->name, weft_graph_error(g));
    weft_var *loss = generic_loss(g, &out, &rng);

    /* relu has a kink at 0: a smaller step keeps the differences off it, and
     * float32 noise then calls for a looser bound (a kink still fails it) */
    bool relu = type == &weft_cell_rnn_relu;
    float eps = relu ? 3e-3f : 1e-2f, tolerance = relu ? 2e-2f : 1e-2f;
    weft_gradcheck_result res;
    assert_int_equal(weft_gradcheck(g, loss, &(weft_gradcheck_opts){ .eps = eps,
                                    .tolerance = tolerance }, &res), 0);
    if (!res.passed) {
        weft_var *w = weft_graph_node(g, res.worst_node);
        fail_msg("%s layers %d %s %s%s: max relative error %.3g at %s[%d] (analytic %.6g, "
                 "numeric %.6g)", type->name, layers, bidir ? "bidirectional" : "forward",
                 ragged ? "ragged" : "full", composed ? " composed" : "", res.max_rel_error,
                 w->name ? w->name : "?", res.worst_index, res.worst_analytic,
                 res.worst_numeric);
    }
    /* every parameter, the input and every initial state were checked */
    assert_int_equal(res.leaves, weft_params_count(params) + 1 + n);

    weft_tensor_release(&x);
    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(params);
}

static void check_all_shapes(const weft_cell_type *type)
{
    for (int layers = 1; layers <= 2; layers++)
        for (int bidir = 0; bidir <= 1; bidir++)
            for (int ragged = 0; ragged <= 1; ragged++)
                check_cell(type, I, layers, bidir, ragged, false);
    if (weft_cell_type_has_fast_path(type)) check_cell(type, I, 2, true, true, true);
}

static void test_gradcheck_rnn(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_rnn_tanh);
}

static void test_gradcheck_rnn_relu(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_rnn_relu);
}

static void test_gradcheck_rnn_sigmoid(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_rnn_sigmoid);
}

static void test_gradcheck_lstm(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm);
}

static void test_gradcheck_lstm_f(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_f);
}

static void test_gradcheck_lstm_i(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_i);
}

static void test_gradcheck_lstm_o(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_o);
}

static void test_gradcheck_lstm_b(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_b);
}

static void test_gradcheck_lstm_peephole(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_peephole);
}

static void test_gradcheck_lstm_coupled(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_lstm_coupled);
}

static void test_gradcheck_gru(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_gru);
}

static void test_gradcheck_mut1(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_mut1);
}

static void test_gradcheck_mut2(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_mut2);
}

static void test_gradcheck_mut3(void **state)
{
    (void)state;
    check_all_shapes(&weft_cell_mut3);
}

static void test_gradcheck_mgu(void **state)
{
    (void)state;
    check_all_shapes(&mgu_cell);
}

/* MUT1 and MUT2 at I == H: no input projection, still correct gradients. */
static void test_gradcheck_mut_square(void **state)
{
    (void)state;
    check_cell(&weft_cell_mut1, H, 1, false, true, false);
    check_cell(&weft_cell_mut2, H, 2, true, false, false);
}

static void test_registry(void **state)
{
    (void)state;
    const char *names[] = { "rnn", "rnn-relu", "rnn-sigmoid", "lstm", "lstm-f", "lstm-i", "lstm-o", "lstm-b",
                            "lstm-peephole", "lstm-coupled", "gru", "mut1", "mut2", "mut3" };
    int n;
    const weft_cell_type *const *all = weft_cell_types(&n);
    assert_int_equal(n, 14);
    for (int i = 0; i < n; i++) {
        assert_string_equal(all[i]->name, names[i]);
        assert_ptr_equal(weft_cell_find(names[i]), all[i]);
        assert_non_null(all[i]->description);
        assert_non_null(all[i]->param_formula);
    }
    assert_null(weft_cell_find("lstm-x"));
    assert_null(weft_cell_find(NULL));
}

/* Parameter counts against each cell's formula, at I = 3, H = 2 and I = H = 2. */
static void test_param_counts(void **state)
{
    (void)state;
    struct { const weft_cell_type *t; size_t at_3_2, at_2_2; } want[] = {
        { &weft_cell_rnn_tanh, 2 * 5 + 4, 2 * 4 + 4 },           /* H(I+H) + 2H */
        { &weft_cell_rnn_relu, 2 * 5 + 4, 2 * 4 + 4 },
        { &weft_cell_rnn_sigmoid, 2 * 5 + 4, 2 * 4 + 4 },
        { &weft_cell_lstm, 8 * 5 + 16, 8 * 4 + 16 },             /* 4H(I+H) + 8H */
        { &weft_cell_lstm_b, 8 * 5 + 16, 8 * 4 + 16 },
        { &weft_cell_lstm_f, 6 * 5 + 12, 6 * 4 + 12 },           /* 3H(I+H) + 6H */
        { &weft_cell_lstm_i, 6 * 5 + 12, 6 * 4 + 12 },
        { &weft_cell_lstm_o, 6 * 5 + 12, 6 * 4 + 12 },
        { &weft_cell_lstm_coupled, 6 * 5 + 12, 6 * 4 + 12 },
        { &weft_cell_lstm_peephole, 8 * 5 + 22, 8 * 4 + 22 },    /* 4H(I+H) + 11H */
        { &weft_cell_gru, 6 * 5 + 12, 6 * 4 + 12 },              /* 3H(I+H) + 6H */
        { &weft_cell_mut1, 4 * 5 + 6 + 6, 4 * 4 + 6 },           /* 2H(I+H) + 3H (+HI) */
        { &weft_cell_mut2, 12 + 12 + 6 + 6, 8 + 12 + 6 },        /* 2HI + 3H² + 3H (+HI) */
        { &weft_cell_mut3, 6 * 5 + 6, 6 * 4 + 6 },               /* 3H(I+H) + 3H */
        { &mgu_cell, 4 * 5 + 4, 4 * 4 + 4 },                     /* 2H(I+H) + 2H */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (weft_cell_type_numel(want[i].t, 3, 2) != want[i].at_3_2 ||
            weft_cell_type_numel(want[i].t, 2, 2) != want[i].at_2_2)
            fail_msg("%s: %zu and %zu parameters, expected %zu and %zu", want[i].t->name,
                     weft_cell_type_numel(want[i].t, 3, 2), weft_cell_type_numel(want[i].t, 2, 2),
                     want[i].at_3_2, want[i].at_2_2);
    }
}

/* nn.LSTM's names and layout, in a 2-layer bidirectional model. */
static void test_lstm_layout(void **state)
{
    (void)state;
    char err[256];
    weft_params *p = weft_params_new();
    weft_rnn *rnn = weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_lstm, .input_size = 5,
        .hidden_size = 4, .num_layers = 2, .bidirectional = true, .prefix = "rnn." },
        err, sizeof err);
    assert_non_null(rnn);
    const char *names[] = { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                            "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
                            "bias_hh_l0_reverse", "weight_ih_l1", "weight_hh_l1", "bias_ih_l1",
                            "bias_hh_l1", "weight_ih_l1_reverse", "weight_hh_l1_reverse",
                            "bias_ih_l1_reverse", "bias_hh_l1_reverse" };
    assert_int_equal(weft_params_count(p), 16);
    for (int i = 0; i < 16; i++) {
        char full[96];
        snprintf(full, sizeof full, "rnn.%s", names[i]);
        assert_string_equal(weft_params_at(p, i)->name, full);
    }
    const weft_param *w = weft_params_find(p, "rnn.weight_ih_l1_reverse");
    assert_int_equal(w->value.shape[0], 16);   /* 4H */
    assert_int_equal(w->value.shape[1], 8);    /* layer 1 reads H * 2 */
    assert_int_equal(weft_rnn_num_states(rnn), 8);
    assert_int_equal(weft_rnn_output_size(rnn), 8);
    weft_rnn_free(rnn);
    weft_params_free(p);
}

/* Default initialisation is uniform(-1/sqrt(H), 1/sqrt(H)); LSTM-b's forget
 * gate starts with bias 1 (bias_ih's f rows 1, bias_hh's 0). */
static void test_init(void **state)
{
    (void)state;
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 7);
    weft_params *p = weft_params_new();
    weft_cell c;
    int Hh = 16;
    assert_int_equal(weft_cell_bind(&c, &weft_cell_lstm_b, 4, Hh, p, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(weft_cell_reset_parameters(&c, &rng), 0);
    const float *w = weft_cell_param_ptr(&c, "weight_hh")->value.data;
    float k = 0.25f, lo = 1, hi = -1;
    for (int i = 0; i < 4 * Hh * Hh; i++) {
        lo = w[i] < lo ? w[i] : lo;
        hi = w[i] > hi ? w[i] : hi;
    }
    assert_true(lo >= -k && hi <= k && lo < -0.2f && hi > 0.2f);
    const float *bih = weft_cell_param_ptr(&c, "bias_ih")->value.data;
    const float *bhh = weft_cell_param_ptr(&c, "bias_hh")->value.data;
    for (int j = 0; j < Hh; j++) {
        assert_true(bih[Hh + j] == 1.0f && bhh[Hh + j] == 0.0f);   /* f */
        assert_true(bih[j] != 1.0f && bih[2 * Hh + j] != 1.0f);    /* i, g untouched */
    }
    weft_params_free(p);
}

/* A type that is not complete, or that refuses its sizes, is refused with a
 * message naming it; weft_cell_param names the parameters a cell has. */
static void test_bad_cells(void **state)
{
    (void)state;
    char err[256];
    weft_params *p = weft_params_new();
    weft_cell c;
    weft_cell_type broken = mgu_cell;
    broken.step = NULL;
    assert_int_equal(weft_cell_bind(&c, &broken, 3, 2, p, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "step function"));
    broken = mgu_cell;
    broken.n_states = 0;
    assert_int_equal(weft_cell_bind(&c, &broken, 3, 2, p, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "n_states"));
    assert_int_equal(weft_cell_bind(&c, &mgu_cell, 0, 2, p, NULL, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "input size 0"));

    assert_int_equal(weft_cell_bind(&c, &mgu_cell, 3, 2, p, "a.", NULL, err, sizeof err), 0);
    weft_cell again;
    assert_int_equal(weft_cell_bind(&again, &mgu_cell, 3, 2, p, "a.", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "a.W_f"));

    weft_graph *g = weft_graph_new();
    assert_null(weft_cell_param(&c, g, "W_z"));
    assert_non_null(strstr(weft_graph_error(g), "no parameter named 'W_z'"));
    assert_non_null(strstr(weft_graph_error(g), "W_f, U_f, b_f, W, U, b"));
    weft_graph_free(g);
    weft_params_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_lstm_layout),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_bad_cells),
        cmocka_unit_test(test_gradcheck_rnn),
        cmocka_unit_test(test_gradcheck_rnn_relu),
        cmocka_unit_test(test_gradcheck_rnn_sigmoid),
        cmocka_unit_test(test_gradcheck_lstm),
        cmocka_unit_test(test_gradcheck_lstm_f),
        cmocka_unit_test(test_gradcheck_lstm_i),
        cmocka_unit_test(test_gradcheck_lstm_o),
        cmocka_unit_test(test_gradcheck_lstm_b),
        cmocka_unit_test(test_gradcheck_lstm_peephole),
        cmocka_unit_test(test_gradcheck_lstm_coupled),
        cmocka_unit_test(test_gradcheck_gru),
        cmocka_unit_test(test_gradcheck_mut1),
        cmocka_unit_test(test_gradcheck_mut2),
        cmocka_unit_test(test_gradcheck_mut3),
        cmocka_unit_test(test_gradcheck_mut_square),
        cmocka_unit_test(test_gradcheck_mgu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
