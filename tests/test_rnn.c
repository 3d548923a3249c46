/* tests/test_rnn.c — layers and unrolling: PyTorch's numbers (golden files),
 * a padded batch against its sequences one by one, BPTT's sum over steps,
 * truncated BPTT carry, fast path against composed steps, dropout, residual
 * connections, node labels, and bad input. */
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

static const char *golden_dir = "tests/golden";

/* --- helpers ----------------------------------------------------------------------- */

typedef struct model {
    weft_params *params;
    weft_rnn *rnn;
} model;

static model make_model(const weft_cell_type *type, int I, int H, int layers, bool bidir,
                        uint64_t seed)
{
    char err[256];
    model m = { weft_params_new(), NULL };
    m.rnn = weft_rnn_new(m.params, &(weft_rnn_config){ .cell = type, .input_size = I,
        .hidden_size = H, .num_layers = layers, .bidirectional = bidir }, err, sizeof err);
    if (!m.rnn) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_rnn_reset_parameters(m.rnn, &rng);
    return m;
}

static void free_model(model *m)
{
    weft_rnn_free(m->rnn);
    weft_params_free(m->params);
}

/* Copy every parameter value of a into b (same names). */
static void copy_params(const weft_params *a, weft_params *b)
{
    for (int i = 0; i < weft_params_count(b); i++) {
        weft_param *pb = weft_params_at(b, i);
        weft_param *pa = weft_params_find(a, pb->name);
        assert_non_null(pa);
        assert_int_equal(weft_tensor_copy(&pb->value, &pa->value), 0);
    }
}

static weft_tensor random_tensor(weft_rng *rng, int rank, const int *shape)
{
    weft_tensor t = weft_tensor_alloc(rank, shape);
    weft_rng_fill_uniform(rng, &t, -1, 1);
    return t;
}

/* |a - b| <= tol * max(1, |b|) elementwise, or fail naming what and where. */
static void assert_close(const float *a, const float *b, size_t n, double tol, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), scale = fmax(1.0, fabs((double)b[i]));
        if (!(d <= tol * scale))
            fail_msg("%s[%zu]: %.9g vs %.9g (difference %.3g, tolerance %.1g)", what, i,
                     (double)a[i], (double)b[i], d, tol);
    }
}

/* --- golden files from PyTorch ------------------------------------------------------- */

#define GOLDEN_MAX 64

typedef struct golden {
    char mode[16];
    int I, H, L, bidir, T, B;
    int n;
    char name[GOLDEN_MAX][64];
    weft_tensor t[GOLDEN_MAX];
} golden;

static void golden_load(golden *gd, const char *mode)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rnn_golden_%s.txt", golden_dir, mode);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open %s (run tests/golden/make_rnn_golden.py)", path);
    memset(gd, 0, sizeof *gd);
    assert_int_equal(fscanf(f, "config %15s %d %d %d %d %d %d", gd->mode, &gd->I, &gd->H, &gd->L,
                            &gd->bidir, &gd->T, &gd->B), 7);
    char name[64];
    int rank;
    while (fscanf(f, " tensor %63s %d", name, &rank) == 2) {
        assert_true(gd->n < GOLDEN_MAX && rank >= 1 && rank <= 4);
        int shape[4];
        for (int d = 0; d < rank; d++) assert_int_equal(fscanf(f, "%d", &shape[d]), 1);
        weft_tensor t = weft_tensor_alloc(rank, shape);
        for (size_t i = 0; i < t.size; i++) assert_int_equal(fscanf(f, "%f", &t.data[i]), 1);
        snprintf(gd->name[gd->n], sizeof gd->name[0], "%s", name);
        gd->t[gd->n++] = t;
    }
    fclose(f);
}

static const weft_tensor *golden_get(const golden *gd, const char *name)
{
    for (int i = 0; i < gd->n; i++)
        if (strcmp(gd->name[i], name) == 0) return &gd->t[i];
    fail_msg("golden file %s: no tensor '%s'", gd->mode, name);
    return NULL;
}

static void golden_free(golden *gd)
{
    for (int i = 0; i < gd->n; i++) weft_tensor_release(&gd->t[i]);
}

/* Run weft on PyTorch's weights and input; compare outputs, final states, the
 * loss and every gradient at 1e-5. */
static void check_golden(const char *mode, const weft_cell_type *type, bool composed)
{
    golden gd;
    golden_load(&gd, mode);
    model m = make_model(type, gd.I, gd.H, gd.L, gd.bidir, 1);
    for (int i = 0; i < weft_params_count(m.params); i++) {
        weft_param *p = weft_params_at(m.params, i);
        const weft_tensor *ref = golden_get(&gd, p->name);
        assert_true(weft_tensor_same_shape(&p->value, ref));
        weft_tensor_copy(&p->value, ref);
    }
    int D = gd.bidir ? 2 : 1, S = type->n_states, B = gd.B, H = gd.H;
    int lengths[16];
    const weft_tensor *len = golden_get(&gd, "lengths");
    for (int b = 0; b < B; b++) lengths[b] = (int)len->data[b];

    weft_graph *g = weft_graph_new();
    weft_var *xs = weft_input(g, golden_get(&gd, "x"), "x", true);
    weft_rnn_out out;
    if (weft_unroll(g, m.rnn, xs, &(weft_unroll_opts){ .lengths = lengths, .composed = composed },
                    &out))
        fail_msg("%s", weft_graph_error(g));
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, golden_get(&gd, "w_out"),
                                                                 "w_out", false)));
    const char *wname[2] = { "w_h", "w_c" }, *refname[2] = { "h_n", "c_n" };
    for (int k = 0; k < S; k++) {
        const weft_tensor *w = golden_get(&gd, wname[k]), *ref = golden_get(&gd, refname[k]);
        for (int ld = 0; ld < gd.L * D; ld++) {
            weft_var *fin = out.final[ld * S + k];
            weft_tensor wl = weft_tensor_wrap(w->data + (size_t)ld * B * H, 2, (int[]){ B, H });
            loss = weft_add(g, loss, weft_sum(g, weft_mul(g, fin, weft_input(g, &wl, "w",
                                                                             false))));
            char what[64];
            snprintf(what, sizeof what, "%s %s[%d]", mode, refname[k], ld);
            assert_close(fin->value.data, ref->data + (size_t)ld * B * H, (size_t)B * H, 1e-5,
                         what);
        }
    }
    assert_close(out.seq->value.data, golden_get(&gd, "out")->data, out.seq->value.size, 1e-5,
                 "out");
    assert_close(&loss->value.data[0], golden_get(&gd, "loss")->data, 1, 1e-5, "loss");

    weft_params_zero_grad(m.params);
    assert_int_equal(weft_backward(g, loss), 0);
    for (int i = 0; i < weft_params_count(m.params); i++) {
        weft_param *p = weft_params_at(m.params, i);
        char gname[128];
        snprintf(gname, sizeof gname, "grad.%s", p->name);
        assert_close(p->grad.data, golden_get(&gd, gname)->data, p->grad.size, 1e-5, gname);
    }
    assert_close(weft_grad_of(g, xs)->data, golden_get(&gd, "grad.x")->data,
                 xs->value.size, 1e-5, "grad.x");
    weft_graph_free(g);
    free_model(&m);
    golden_free(&gd);
}

static void test_golden_rnn(void **state)
{
    (void)state;
    check_golden("rnn", &weft_cell_rnn_tanh, false);
    check_golden("rnn", &weft_cell_rnn_tanh, true);
}

static void test_golden_gru(void **state)
{
    (void)state;
    check_golden("gru", &weft_cell_gru, false);
    check_golden("gru", &weft_cell_gru, true);
}

static void test_golden_lstm(void **state)
{
    (void)state;
    check_golden("lstm", &weft_cell_lstm, false);
    check_golden("lstm", &weft_cell_lstm, true);
}

/* --- a padded batch is its sequences one by one ------------------------------------------- */

/* Loss weights: per step and sequence for the outputs, per state and sequence
 * for the final states, so the batch loss is the sum of per-sequence losses. */
static void check_padded(const weft_cell_type *type)
{
    enum { T = 5, B = 3, I = 3, H = 4, L = 2 };
    const int lengths[B] = { 3, 5, 1 };
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    model batch = make_model(type, I, H, L, true, 11);
    model alone = make_model(type, I, H, L, true, 12);
    copy_params(batch.params, alone.params);
    int n_states = weft_rnn_num_states(batch.rnn), W = 2 * H;
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_tensor wout = random_tensor(&rng, 3, (int[]){ T, B, W });
    weft_tensor wfin = random_tensor(&rng, 3, (int[]){ n_states, B, H });

    weft_graph *g = weft_graph_new();
    weft_var *xs = weft_input(g, &x, "x", true);
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, batch.rnn, xs, &(weft_unroll_opts){ .lengths = lengths },
                                 &out), 0);
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &wout, "w", false)));
    for (int i = 0; i < n_states; i++) {
        weft_tensor w = weft_tensor_wrap(wfin.data + (size_t)i * B * H, 2, (int[]){ B, H });
        loss = weft_add(g, loss, weft_sum(g, weft_mul(g, out.final[i], weft_input(g, &w, "w",
                                                                                  false))));
    }
    weft_params_zero_grad(batch.params);
    assert_int_equal(weft_backward(g, loss), 0);
    const weft_tensor *gx = weft_grad_of(g, xs);

    weft_params_zero_grad(alone.params);
    weft_graph *g1 = weft_graph_new();
    for (int b = 0; b < B; b++) {
        int Tb = lengths[b];
        weft_graph_reset(g1);
        weft_tensor xb = weft_tensor_alloc(3, (int[]){ Tb, 1, I });
        weft_tensor wb = weft_tensor_alloc(3, (int[]){ Tb, 1, W });
        for (int t = 0; t < Tb; t++) {
            memcpy(xb.data + (size_t)t * I, x.data + ((size_t)t * B + b) * I, I * sizeof(float));
            memcpy(wb.data + (size_t)t * W, wout.data + ((size_t)t * B + b) * W,
                   W * sizeof(float));
        }
        weft_var *x1 = weft_input(g1, &xb, "x", true);
        weft_rnn_out o1;
        assert_int_equal(weft_unroll(g1, alone.rnn, x1, NULL, &o1), 0);
        weft_var *l1 = weft_sum(g1, weft_mul(g1, o1.seq, weft_input(g1, &wb, "w", false)));
        for (int i = 0; i < n_states; i++) {
            weft_tensor w = weft_tensor_wrap(wfin.data + ((size_t)i * B + b) * H, 2,
                                             (int[]){ 1, H });
            l1 = weft_add(g1, l1, weft_sum(g1, weft_mul(g1, o1.final[i],
                                                        weft_input(g1, &w, "w", false))));
            assert_close(o1.final[i]->value.data, out.final[i]->value.data + (size_t)b * H, H,
                         1e-5, "final state");
        }
        for (int t = 0; t < T; t++) {
            const float *yb = out.seq->value.data + ((size_t)t * B + b) * W;
            if (t < Tb) {
                assert_close(o1.seq->value.data + (size_t)t * W, yb, W, 1e-5, "output");
            } else {
                for (int j = 0; j < W; j++) assert_true(yb[j] == 0.0f);   /* padding */
            }
        }
        assert_int_equal(weft_backward(g1, l1), 0);   /* parameter gradients add up over b */
        const weft_tensor *gx1 = weft_grad_of(g1, x1);
        for (int t = 0; t < T; t++) {
            const float *gb = gx->data + ((size_t)t * B + b) * I;
            if (t < Tb) assert_close(gx1->data + (size_t)t * I, gb, I, 1e-5, "input gradient");
            else for (int j = 0; j < I; j++) assert_true(gb[j] == 0.0f);
        }
        weft_tensor_release(&xb);
        weft_tensor_release(&wb);
    }
    for (int i = 0; i < weft_params_count(batch.params); i++) {
        weft_param *pa = weft_params_at(batch.params, i), *pb = weft_params_at(alone.params, i);
        assert_close(pb->grad.data, pa->grad.data, pa->grad.size, 1e-5, pa->name);
    }
    weft_graph_free(g1);
    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_tensor_release(&wout);
    weft_tensor_release(&wfin);
    free_model(&batch);
    free_model(&alone);
}

static void test_padded_equals_alone(void **state)
{
    (void)state;
    check_padded(&weft_cell_rnn_tanh);
    check_padded(&weft_cell_lstm);
    check_padded(&weft_cell_gru);
    check_padded(&weft_cell_mut3);
}

/* --- BPTT: a shared weight's gradient is the sum over steps --------------------------------- */

/* Unroll an LSTM by hand with T copies of its parameters, one per step: the
 * gradient of each copy is that step's contribution, and their sum must be the
 * gradient of the shared weights that weft_unroll computes. */
static void test_shared_weight_sum(void **state)
{
    (void)state;
    enum { T = 4, B = 2, I = 3, H = 3 };
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 9);
    model m = make_model(&weft_cell_lstm, I, H, 1, false, 3);
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_tensor w = random_tensor(&rng, 3, (int[]){ T, B, H });

    /* a non-zero initial state, so that every step adds to weight_hh */
    weft_state init = { 2, (weft_tensor[]){ random_tensor(&rng, 2, (int[]){ B, H }),
                                             random_tensor(&rng, 2, (int[]){ B, H }) } };
    weft_graph *g = weft_graph_new();
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, m.rnn, weft_input(g, &x, "x", false),
                                 &(weft_unroll_opts){ .init = &init }, &out), 0);
    weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
    weft_params_zero_grad(m.params);
    assert_int_equal(weft_backward(g, loss), 0);

    weft_params *copies = weft_params_new();
    weft_cell cells[T];
    for (int t = 0; t < T; t++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "t%d.", t);
        assert_int_equal(weft_cell_bind(&cells[t], &weft_cell_lstm, I, H, copies, prefix, "_l0",
                                        err, sizeof err), 0);
    }
    for (int t = 0; t < T; t++)
        for (int k = 0; k < cells[t].n_params; k++)
            weft_tensor_copy(&cells[t].params[k]->value,
                             &weft_rnn_cell(m.rnn, 0, 0)->params[k]->value);
    weft_graph *g2 = weft_graph_new();
    weft_var *xs = weft_input(g2, &x, "x", false);
    weft_var *prev[2] = { weft_state_leaf(g2, &init.t[0], "h0", false),
                          weft_state_leaf(g2, &init.t[1], "c0", false) };
    weft_var *l2 = NULL;
    for (int t = 0; t < T; t++) {
        weft_var *next[2];
        assert_int_equal(weft_cell_step(&cells[t], g2, weft_narrow(g2, xs, t, 1), prev, next), 0);
        weft_tensor wt = weft_tensor_wrap(w.data + (size_t)t * B * H, 2, (int[]){ B, H });
        weft_var *lt = weft_sum(g2, weft_mul(g2, next[0], weft_input(g2, &wt, "w", false)));
        l2 = l2 ? weft_add(g2, l2, lt) : lt;
        prev[0] = next[0];
        prev[1] = next[1];
    }
    assert_close(&l2->value.data[0], &loss->value.data[0], 1, 1e-5, "loss");
    weft_params_zero_grad(copies);
    assert_int_equal(weft_backward(g2, l2), 0);
    const weft_cell *shared = weft_rnn_cell(m.rnn, 0, 0);
    for (int k = 0; k < shared->n_params; k++) {
        const weft_tensor *gs = &shared->params[k]->grad;
        float *sum = calloc(gs->size, sizeof(float));
        bool every_step_counts = true;
        for (int t = 0; t < T; t++) {
            const weft_tensor *gt = &cells[t].params[k]->grad;
            double norm = 0;
            for (size_t i = 0; i < gt->size; i++) {
                sum[i] += gt->data[i];
                norm += fabs(gt->data[i]);
            }
            if (norm == 0) every_step_counts = false;
        }
        assert_true(every_step_counts);
        assert_close(sum, gs->data, gs->size, 1e-5, shared->params[k]->name);
        free(sum);
    }
    weft_graph_free(g2);
    weft_params_free(copies);
    weft_tensor_release(&init.t[0]);
    weft_tensor_release(&init.t[1]);
    weft_graph_free(g);
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    free_model(&m);
}

/* --- truncated BPTT ------------------------------------------------------------------------ */

/* Two windows of 3 and 2 steps with the state carried == one window of 5. */
static void test_tbptt_carry(void **state)
{
    (void)state;
    enum { T = 5, T1 = 3, B = 2, I = 3, H = 4 };
    weft_rng rng;
    weft_rng_seed(&rng, 17);
    model m = make_model(&weft_cell_lstm, I, H, 2, false, 4);
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_graph *g = weft_graph_new();
    weft_rnn_out whole;
    assert_int_equal(weft_unroll(g, m.rnn, weft_input(g, &x, "x", false), NULL, &whole), 0);

    weft_graph *gw = weft_graph_new();
    weft_state carry = { 0 };
    int start = 0;
    for (int win = 0; win < 2; win++) {
        int len = win == 0 ? T1 : T - T1;
        weft_graph_reset(gw);   /* the carry is owned: it outlives the window's graph */
        weft_tensor xv = weft_tensor_view_rows(&x, start, len);
        weft_rnn_out out;
        assert_int_equal(weft_unroll(gw, m.rnn, weft_input(gw, &xv, "x", false),
                                     &(weft_unroll_opts){ .init = win ? &carry : NULL }, &out), 0);
        assert_close(out.seq->value.data, whole.seq->value.data + (size_t)start * B * H,
                     (size_t)len * B * H, 1e-6, "window output");
        assert_int_equal(weft_state_detach(&out, &carry), 0);
        assert_int_equal(carry.n, 4);
        start += len;
    }
    for (int i = 0; i < carry.n; i++)
        assert_close(carry.t[i].data, whole.final[i]->value.data, (size_t)B * H, 1e-6, "final");
    /* the carried state enters the second window as a state leaf */
    bool found = false;
    for (int i = 0; i < weft_graph_size(gw); i++)
        if (weft_graph_node(gw, i)->kind == WEFT_NODE_STATE) found = true;
    assert_true(found);
    weft_state_free(&carry);
    weft_graph_free(gw);
    weft_graph_free(g);
    weft_tensor_release(&x);
    free_model(&m);
}

/* --- fast path == composed ------------------------------------------------------------------ */

/* What one run of a model leaves: its outputs, every parameter's gradient
 * and one input's gradient, copied out of the graph. */
typedef struct captured {
    float *values, *grads, *grad_in;
    size_t n_values, n_grads, n_in;
} captured;

/* Backward from loss (the parameters' gradients zeroed first) and copy what
 * a comparison needs; the graph may be freed afterwards. */
static captured capture(weft_graph *g, weft_var *loss, const weft_var *out, weft_params *params,
                        weft_var *in)
{
    weft_params_zero_grad(params);
    assert_int_equal(weft_backward(g, loss), 0);
    captured c = { .n_values = out->value.size, .n_grads = weft_params_span(params),
                   .n_in = in->value.size };
    c.values = malloc(c.n_values * sizeof(float));
    c.grads = malloc(c.n_grads * sizeof(float));
    c.grad_in = malloc(c.n_in * sizeof(float));
    assert_true(c.values && c.grads && c.grad_in);
    memcpy(c.values, out->value.data, c.n_values * sizeof(float));
    memcpy(c.grads, weft_params_grads(params), c.n_grads * sizeof(float));
    memcpy(c.grad_in, weft_grad_of(g, in)->data, c.n_in * sizeof(float));
    return c;
}

/* got and want agree to 1e-5 in all three, and are freed. */
static void assert_same_run(captured got, captured want, const char *input_name)
{
    assert_int_equal(got.n_values, want.n_values);
    assert_close(got.values, want.values, want.n_values, 1e-5, "outputs");
    assert_close(got.grads, want.grads, want.n_grads, 1e-5, "parameter gradients");
    assert_close(got.grad_in, want.grad_in, want.n_in, 1e-5, input_name);
    for (int k = 0; k < 2; k++) {
        captured *c = k ? &got : &want;
        free(c->values);
        free(c->grads);
        free(c->grad_in);
    }
}

static void check_fast_path(const weft_cell_type *type)
{
    enum { T = 4, B = 3, I = 3, H = 4 };
    const int lengths[B] = { 4, 2, 3 };
    weft_rng rng;
    weft_rng_seed(&rng, 21);
    model m = make_model(type, I, H, 2, true, 8);
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_tensor w = random_tensor(&rng, 3, (int[]){ T, B, 2 * H });
    captured run[2];
    for (int composed = 0; composed <= 1; composed++) {
        weft_graph *g = weft_graph_new();
        weft_var *xs = weft_input(g, &x, "x", true);
        weft_rnn_out out;
        assert_int_equal(weft_unroll(g, m.rnn, xs, &(weft_unroll_opts){ .lengths = lengths,
                                     .composed = composed }, &out), 0);
        weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
        run[composed] = capture(g, loss, out.seq, m.params, xs);
        weft_graph_free(g);
    }
    assert_same_run(run[0], run[1], "input gradient");
    weft_tensor_release(&x);
    weft_tensor_release(&w);
    free_model(&m);
}

static void test_fast_path_equals_composed(void **state)
{
    (void)state;
    int n;
    const weft_cell_type *const *all = weft_cell_types(&n);
    int with_fast_path = 0;
    for (int i = 0; i < n; i++) {
        if (!weft_cell_type_has_fast_path(all[i])) continue;
        check_fast_path(all[i]);
        with_fast_path++;
    }
    assert_int_equal(with_fast_path, 11);   /* rnn, rnn-relu, rnn-sigmoid, 7 LSTMs, gru */
}

/* --- the first layer projected through an embedding table ---------------------------------- */

/* xs = rows ids of a table [V, I] with V < T·B: weft_unroll with input_table
 * projects the table's V rows and looks them up; outputs, parameter gradients
 * and the table's gradient match the plain projection of xs's T·B rows. */
static void check_table_projection(const weft_cell_type *type, int layers, bool bidir)
{
    enum { T = 4, B = 3, I = 3, H = 4, V = 5 };
    const int ids[T * B] = { 0, 3, 3, 1, 4, 0, 2, 2, 3, 0, 1, 4 };
    const int lengths[B] = { 4, 2, 3 };
    int D = bidir ? 2 : 1;
    weft_rng rng;
    weft_rng_seed(&rng, 5);
    model m = make_model(type, I, H, layers, bidir, 9);
    weft_tensor table = random_tensor(&rng, 2, (int[]){ V, I });
    weft_tensor w = random_tensor(&rng, 3, (int[]){ T, B, D * H });
    captured run[2];
    for (int by_table = 0; by_table <= 1; by_table++) {
        weft_graph *g = weft_graph_new();
        weft_var *tab = weft_input(g, &table, "table", true);
        weft_var *xs = weft_reshape(g, weft_embedding(g, tab, ids, T * B), 3, (int[]){ T, B, I });
        weft_rnn_out out;
        weft_unroll_opts o = { .lengths = lengths };
        if (by_table) o.input_table = tab, o.input_ids = ids;
        assert_int_equal(weft_unroll(g, m.rnn, xs, &o, &out), 0);
        weft_var *loss = weft_sum(g, weft_mul(g, out.seq, weft_input(g, &w, "w", false)));
        /* the table path made the projection of V rows, [V, 1, P] */
        bool small_projection = false;
        for (int i = 0; i <= loss->id; i++) {
            const weft_tensor *v = &weft_graph_node(g, i)->value;
            if (v->rank == 3 && v->shape[0] == V && v->shape[1] == 1 && v->shape[2] > I)
                small_projection = true;
        }
        assert_int_equal(small_projection, by_table);
        run[by_table] = capture(g, loss, out.seq, m.params, tab);
        weft_graph_free(g);
    }
    assert_same_run(run[1], run[0], "table gradient");
    weft_tensor_release(&table);
    weft_tensor_release(&w);
    free_model(&m);
}

static void test_table_projection_equals_rows(void **state)
{
    (void)state;
    int n;
    const weft_cell_type *const *all = weft_cell_types(&n);
    for (int i = 0; i < n; i++)
        if (weft_cell_type_has_fast_path(all[i])) check_table_projection(all[i], 1, false);
    check_table_projection(&weft_cell_lstm, 2, true);
    check_table_projection(&weft_cell_gru, 2, false);
}

/* --- dropout between layers and residual connections ----------------------------------------- */

static void test_dropout_and_residual(void **state)
{
    (void)state;
    enum { T = 3, B = 2, I = 3, H = 2 };
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 2);
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_params *p = weft_params_new();
    weft_rnn *plain = weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_gru, .input_size = I,
        .hidden_size = H, .num_layers = 2, .dropout = 0.5f, .prefix = "a." }, err, sizeof err);
    weft_rnn *res = weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_gru, .input_size = I,
        .hidden_size = H, .num_layers = 2, .residual = true, .prefix = "b." }, err, sizeof err);
    weft_rnn *one = weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_gru, .input_size = I,
        .hidden_size = H, .num_layers = 1, .prefix = "c." }, err, sizeof err);
    assert_non_null(plain);
    assert_non_null(res);
    assert_non_null(one);
    weft_rnn_reset_parameters(plain, &rng);
    /* b. and c. get a.'s values */
    for (int i = 0; i < weft_params_count(p); i++) {
        weft_param *q = weft_params_at(p, i);
        if (q->name[0] == 'a') continue;
        char src[96];
        snprintf(src, sizeof src, "a.%s", q->name + 2);
        weft_tensor_copy(&q->value, &weft_params_find(p, src)->value);
    }
    weft_graph *g = weft_graph_new();
    weft_var *xs = weft_input(g, &x, "x", true);
    weft_rnn_out no_drop, ones, zeros, r, l0;
    weft_tensor one_t = weft_tensor_alloc1(H), zero_t = weft_tensor_alloc1(H);
    weft_tensor_fill(&one_t, 1.0f);
    weft_var *m1 = weft_input(g, &one_t, "mask", false), *m0 = weft_input(g, &zero_t, "mask", false);
    assert_int_equal(weft_unroll(g, plain, xs, NULL, &no_drop), 0);
    assert_int_equal(weft_unroll(g, plain, xs, &(weft_unroll_opts){ .dropout_masks = &m1 }, &ones), 0);
    assert_int_equal(weft_unroll(g, plain, xs, &(weft_unroll_opts){ .dropout_masks = &m0 }, &zeros), 0);
    assert_int_equal(weft_unroll(g, res, xs, NULL, &r), 0);
    assert_int_equal(weft_unroll(g, one, xs, NULL, &l0), 0);
    size_t n = (size_t)T * B * H;
    /* a mask of ones changes nothing */
    assert_close(ones.seq->value.data, no_drop.seq->value.data, n, 0, "mask of ones");
    /* residual: layer 1's output + its input (layer 0's output) */
    float *sum = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) sum[i] = no_drop.seq->value.data[i] + l0.seq->value.data[i];
    assert_close(r.seq->value.data, sum, n, 1e-6, "residual");
    free(sum);
    /* a mask of zeros cuts layer 1 off from the input: no gradient reaches x */
    weft_var *loss = weft_sum(g, zeros.seq);
    assert_int_equal(weft_backward(g, loss), 0);
    const weft_tensor *gx = weft_grad_of(g, xs);
    for (size_t i = 0; i < gx->size; i++) assert_true(gx->data[i] == 0.0f);
    /* with a generator: fresh masks per step, reproducible from the seed */
    weft_rnn_out d1, d2;
    weft_rng r1, r2;
    weft_rng_seed(&r1, 99);
    weft_rng_seed(&r2, 99);
    assert_int_equal(weft_unroll(g, plain, xs, &(weft_unroll_opts){ .dropout_rng = &r1 }, &d1), 0);
    assert_int_equal(weft_unroll(g, plain, xs, &(weft_unroll_opts){ .dropout_rng = &r2 }, &d2), 0);
    assert_close(d1.seq->value.data, d2.seq->value.data, n, 0, "same seed");
    assert_memory_not_equal(d1.seq->value.data, no_drop.seq->value.data, n * sizeof(float));
    weft_tensor_release(&one_t);
    weft_tensor_release(&zero_t);
    weft_graph_free(g);
    weft_rnn_free(plain);
    weft_rnn_free(res);
    weft_rnn_free(one);
    weft_params_free(p);
    weft_tensor_release(&x);
}

/* --- labels ------------------------------------------------------------------------------- */

/* Every (time, layer, direction) of a 2-layer bidirectional unroll has nodes
 * labelled with the cell's name. */
static void test_scopes(void **state)
{
    (void)state;
    enum { T = 3, B = 2, I = 2, H = 2, L = 2 };
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    model m = make_model(&weft_cell_lstm, I, H, L, true, 1);
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_graph *g = weft_graph_new();
    for (int composed = 0; composed <= 1; composed++) {
        weft_graph_reset(g);
        weft_rnn_out out;
        assert_int_equal(weft_unroll(g, m.rnn, weft_input(g, &x, "x", false),
                                     &(weft_unroll_opts){ .composed = composed }, &out), 0);
        int seen[T][L][2] = { 0 };
        for (int i = 0; i < weft_graph_size(g); i++) {
            weft_scope s = weft_graph_node(g, i)->scope;
            if (s.cell && s.time >= 0) {
                assert_string_equal(s.cell, "lstm");
                assert_true(s.time < T && s.layer >= 0 && s.layer < L && s.dir >= 0 && s.dir < 2);
                seen[s.time][s.layer][s.dir]++;
            }
        }
        /* a composed LSTM step is more than ten nodes; a fused one may be one */
        for (int t = 0; t < T; t++)
            for (int l = 0; l < L; l++)
                for (int d = 0; d < 2; d++)
                    if (seen[t][l][d] < (composed ? 10 : 1))
                        fail_msg("step %d, layer %d, dir %d: %d labelled nodes", t, l, d,
                                 seen[t][l][d]);
        assert_int_equal(weft_graph_scope(g).time, -1);   /* the scope is put back */
    }
    weft_graph_free(g);
    weft_tensor_release(&x);
    free_model(&m);
}

/* --- bad input ------------------------------------------------------------------------------ */

static void expect_error(weft_graph *g, const weft_rnn *rnn, const weft_tensor *x,
                         const weft_unroll_opts *o, const char *needle)
{
    weft_graph_reset(g);
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, rnn, weft_input(g, x, "x", false), o, &out), -1);
    const char *e = weft_graph_error(g);
    assert_non_null(e);
    if (!strstr(e, needle)) fail_msg("error '%s' does not say '%s'", e, needle);
}

/* A cell whose step makes a state of the wrong width. */
static int bad_step(const weft_cell *c, weft_graph *g, weft_var *x, weft_var *const *prev,
                    weft_var **next)
{
    (void)prev;
    next[0] = weft_tanh(g, weft_linear(g, x, weft_cell_param(c, g, "W"), NULL));
    return weft_graph_status(g);
}

static int bad_declare(const weft_cell_type *t, int I, int H, weft_cell_param_spec *s,
                       char *err, size_t errsize)
{
    (void)t, (void)H, (void)err, (void)errsize;
    s[0] = weft_cell_matrix("W", I + 1, I);
    return 1;
}

static void test_bad_input(void **state)
{
    (void)state;
    enum { T = 3, B = 2, I = 3, H = 2 };
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    model m = make_model(&weft_cell_lstm, I, H, 2, true, 1);
    weft_graph *g = weft_graph_new();
    weft_tensor x = random_tensor(&rng, 3, (int[]){ T, B, I });
    weft_tensor x4 = random_tensor(&rng, 3, (int[]){ T, B, I + 1 });
    weft_tensor x2 = random_tensor(&rng, 2, (int[]){ T * B, I });
    expect_error(g, m.rnn, &x4, NULL, "input is [3, 2, 4], expected [T, B, 3]");
    expect_error(g, m.rnn, &x2, NULL, "expected [T, B, 3]");
    expect_error(g, m.rnn, &x, &(weft_unroll_opts){ .lengths = (int[]){ 3, 0 } },
                 "lengths[1] = 0 is not in [1, 3]");
    expect_error(g, m.rnn, &x, &(weft_unroll_opts){ .lengths = (int[]){ 4, 1 } },
                 "lengths[0] = 4 is not in [1, 3]");
    /* a table as wide as the input, and only with its ids */
    weft_tensor tab4 = random_tensor(&rng, 2, (int[]){ 5, I + 1 });
    weft_graph_reset(g);
    weft_rnn_out tout;
    weft_var *tab4_var = weft_input(g, &tab4, "table", false);
    assert_int_equal(weft_unroll(g, m.rnn, weft_input(g, &x, "x", false), &(weft_unroll_opts){
                         .input_table = tab4_var, .input_ids = (int[]){ 0, 1, 2, 3, 4, 0 } },
                     &tout), -1);
    assert_non_null(strstr(weft_graph_error(g), "input_table is [5, 4], expected [V, 3]"));
    weft_tensor_release(&tab4);
    expect_error(g, m.rnn, &x, &(weft_unroll_opts){ .input_ids = (int[]){ 0 } },
                 "input_table and input_ids go together");
    weft_state wrong = { 0 };
    expect_error(g, m.rnn, &x, &(weft_unroll_opts){ .init = &wrong },
                 "initial state has 0 tensors, the model carries 8");
    weft_graph_reset(g);
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, m.rnn, weft_input(g, &x, "x", false), NULL, &out), 0);
    assert_int_equal(weft_state_detach(&out, &wrong), 0);
    weft_tensor xb = random_tensor(&rng, 3, (int[]){ T, B + 1, I });
    expect_error(g, m.rnn, &xb, &(weft_unroll_opts){ .init = &wrong },
                 "initial state 0 is [2, 2], expected [3, 2]");
    weft_state_free(&wrong);

    weft_cell_type bad = { .name = "bad", .n_states = 1, .declare = bad_declare,
                           .step = bad_step };
    weft_params *p = weft_params_new();
    weft_rnn *rb = weft_rnn_new(p, &(weft_rnn_config){ .cell = &bad, .input_size = I,
        .hidden_size = H, .num_layers = 1 }, err, sizeof err);
    assert_non_null(rb);
    expect_error(g, rb, &x, NULL, "cell 'bad': its step made state 0 of shape [2, 4], "
                 "expected [2, 2]");
    weft_rnn_free(rb);
    weft_params_free(p);

    p = weft_params_new();
    assert_null(weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_gru, .input_size = I,
        .hidden_size = H, .num_layers = 0 }, err, sizeof err));
    assert_non_null(strstr(err, "layers 0"));
    assert_null(weft_rnn_new(p, &(weft_rnn_config){ .cell = &weft_cell_gru, .input_size = I,
        .hidden_size = H, .num_layers = 1, .dropout = 1.0f }, err, sizeof err));
    assert_non_null(strstr(err, "dropout 1 is not in [0, 1)"));
    weft_params_free(p);

    weft_tensor_release(&x);
    weft_tensor_release(&x4);
    weft_tensor_release(&x2);
    weft_tensor_release(&xb);
    weft_graph_free(g);
    free_model(&m);
}

int main(int argc, char **argv)
{
    if (argc > 1) golden_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_rnn),
        cmocka_unit_test(test_golden_gru),
        cmocka_unit_test(test_golden_lstm),
        cmocka_unit_test(test_padded_equals_alone),
        cmocka_unit_test(test_shared_weight_sum),
        cmocka_unit_test(test_tbptt_carry),
        cmocka_unit_test(test_fast_path_equals_composed),
        cmocka_unit_test(test_table_projection_equals_rows),
        cmocka_unit_test(test_dropout_and_residual),
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
