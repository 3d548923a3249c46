/* tests/test_core.c — the engine: tensors, the parameter store, the random
 * stream, the arena over many graph builds, the memory limit, gradient
 * access, the NaN/Inf check, and results that do not depend on threads. */
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

#define ALIGNED(p) (((uintptr_t)(p) % WEFT_ALIGN) == 0)

static void assert_contains(const char *text, const char *want)
{
    if (!text || !strstr(text, want)) fail_msg("\"%s\" lacks \"%s\"", text ? text : "(null)", want);
}

/* --- tensors ------------------------------------------------------------------------------- */

static void test_tensor_basics(void **state)
{
    (void)state;
    weft_tensor t = weft_tensor_alloc(3, (int[]){ 4, 3, 5 });
    assert_non_null(t.data);
    assert_true(ALIGNED(t.data));
    assert_int_equal(t.rank, 3);
    assert_int_equal(t.size, 60);
    assert_int_equal(weft_tensor_cols(&t), 5);
    assert_int_equal(weft_tensor_rows(&t), 12);
    for (size_t i = 0; i < t.size; i++) assert_true(t.data[i] == 0.0f);   /* zero-filled */
    for (int k = 0; k < 20; k++) {   /* every size comes back aligned */
        weft_tensor s = weft_tensor_alloc1(1 + 7 * k);
        assert_true(ALIGNED(s.data));
        weft_tensor_release(&s);
        assert_null(s.data);
    }
    /* from 4 MB on, whole 2 MB pages (transparent huge pages where Linux has
     * them); below, 64 bytes */
    for (size_t bytes = ((size_t)4 << 20) - 64; bytes <= ((size_t)4 << 20) + 64; bytes += 64) {
        char *p = weft_aligned_alloc(bytes);
        assert_non_null(p);
        uintptr_t want = bytes >= ((size_t)4 << 20) ? (uintptr_t)2 << 20 : 64;
        assert_int_equal((uintptr_t)p % want, 0);
        memset(p, 1, bytes);   /* all of it is usable */
        weft_aligned_free(p);
    }

    for (size_t i = 0; i < t.size; i++) t.data[i] = (float)i;
    weft_tensor v = weft_tensor_view_rows(&t, 1, 2);   /* steps 1 and 2 of 4 */
    assert_ptr_equal(v.data, t.data + 15);
    assert_int_equal(v.shape[0], 2);
    assert_int_equal(v.shape[1], 3);
    assert_int_equal(v.size, 30);
    assert_true(v.data[0] == 15.0f && v.data[29] == 44.0f);
    assert_null(weft_tensor_view_rows(&t, 3, 2).data);    /* past the end */
    assert_null(weft_tensor_view_rows(&t, -1, 1).data);

    weft_tensor c = weft_tensor_alloc2(12, 5);
    assert_int_equal(weft_tensor_copy(&c, &t), 0);       /* same count, other shape */
    assert_true(c.data[59] == 59.0f);
    weft_tensor small = weft_tensor_alloc1(7);
    assert_int_equal(weft_tensor_copy(&small, &t), -1);  /* different sizes: nothing copied */
    assert_true(small.data[0] == 0.0f);
    weft_tensor_fill(&small, 2.5f);
    for (int i = 0; i < 7; i++) assert_true(small.data[i] == 2.5f);

    char buf[64];
    assert_string_equal(weft_shape_str(&t, buf, sizeof buf), "[4, 3, 5]");
    assert_false(weft_tensor_same_shape(&t, &c));
    assert_null(weft_tensor_alloc(5, (int[]){ 1, 1, 1, 1, 1 }).data);   /* rank > 4 */
    assert_null(weft_tensor_alloc(2, (int[]){ 3, 0 }).data);            /* empty dimension */

    float mem[6] = { 1, 2, 3, 4, 5, 6 };
    weft_tensor w = weft_tensor_wrap(mem, 2, (int[]){ 2, 3 });
    assert_ptr_equal(w.data, mem);
    assert_int_equal(w.size, 6);

    weft_tensor_release(&t);
    weft_tensor_release(&c);
    weft_tensor_release(&small);
}

/* --- the parameter store ---------------------------------------------------------------------- */

static void test_params_store(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_param *a = weft_params_add(s, "a", 2, (int[]){ 3, 5 });
    weft_param *b = weft_params_add(s, "b", 1, (int[]){ 7 });
    assert_non_null(a);
    assert_non_null(b);
    /* contiguity: views into one buffer, each starting on 64 bytes */
    float *values = weft_params_values(s), *grads = weft_params_grads(s);
    assert_true(ALIGNED(values) && ALIGNED(grads));
    assert_ptr_equal(a->value.data, values + a->offset);
    assert_ptr_equal(b->value.data, values + b->offset);
    assert_ptr_equal(b->grad.data, grads + b->offset);
    assert_true(ALIGNED(a->value.data) && ALIGNED(b->value.data) && ALIGNED(b->grad.data));
    assert_true(b->offset >= a->offset + 15);
    assert_int_equal(weft_params_numel(s), 22);
    assert_true(weft_params_span(s) >= 22);
    assert_int_equal(weft_params_count(s), 2);
    assert_ptr_equal(weft_params_find(s, "b"), b);
    assert_ptr_equal(weft_params_at(s, 0), a);
    assert_null(weft_params_find(s, "c"));

    for (int i = 0; i < 15; i++) a->value.data[i] = (float)i;
    for (int i = 0; i < 7; i++) b->value.data[i] = 100.0f + (float)i;
    b->grad.data[3] = 9.0f;
    float *m = weft_params_state(s, 0);
    assert_non_null(m);
    m[b->offset + 2] = 4.0f;

    /* growth: add enough to move the buffers; values, gradients and
     * optimizer state keep their numbers, and every parameter is repointed */
    for (int k = 0; k < 40; k++) {
        char name[32];
        snprintf(name, sizeof name, "big%d", k);
        weft_param *p = weft_params_add(s, name, 2, (int[]){ 33, 17 });
        assert_non_null(p);
        assert_true(ALIGNED(p->value.data));
    }
    assert_ptr_not_equal(weft_params_values(s), values);   /* it did move */
    assert_ptr_equal(a->value.data, weft_params_values(s) + a->offset);
    assert_ptr_equal(b->grad.data, weft_params_grads(s) + b->offset);
    for (int i = 0; i < 15; i++) assert_true(a->value.data[i] == (float)i);
    for (int i = 0; i < 7; i++) assert_true(b->value.data[i] == 100.0f + (float)i);
    assert_true(b->grad.data[3] == 9.0f);
    assert_true(weft_params_state(s, 0)[b->offset + 2] == 4.0f);

    /* zeroing is one loop over the whole buffer */
    weft_params_zero_grad(s);
    for (size_t i = 0; i < weft_params_span(s); i++) assert_true(weft_params_grads(s)[i] == 0.0f);

    /* errors */
    assert_null(weft_params_add(s, "a", 1, (int[]){ 2 }));
    assert_contains(weft_params_error(s), "'a' already exists");
    assert_null(weft_params_add(s, "bad", 2, (int[]){ 2, 0 }));
    assert_contains(weft_params_error(s), "'bad' has a bad shape");
    assert_null(weft_params_add(s, "", 1, (int[]){ 2 }));
    assert_int_equal(weft_params_count(s), 42);
    weft_params_free(s);
}

/* --- the random stream ------------------------------------------------------------------------ */

static void test_rng_reproducible(void **state)
{
    (void)state;
    weft_rng a, b, c;
    weft_rng_seed(&a, 42);
    weft_rng_seed(&b, 42);
    weft_rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint32_t x = weft_rng_u32(&a);
        assert_int_equal(x, weft_rng_u32(&b));
        differ += x != weft_rng_u32(&c);
    }
    assert_true(differ > 990);
    double mean = 0.0, sq = 0.0;
    for (int i = 0; i < 20000; i++) {
        float u = weft_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        assert_true(weft_rng_below(&a, 7) < 7);
        float z = weft_rng_normal(&a);
        mean += z;
        sq += (double)z * z;
    }
    mean /= 20000;
    assert_true(fabs(mean) < 0.05);
    assert_true(fabs(sq / 20000 - 1.0) < 0.05);
    /* the fill functions draw from the same stream */
    weft_tensor t1 = weft_tensor_alloc1(5), t2 = weft_tensor_alloc1(5);
    weft_rng_seed(&a, 9);
    weft_rng_seed(&b, 9);
    weft_rng_fill_normal(&a, &t1, 1.0f, 2.0f);
    weft_rng_fill_normal(&b, &t2, 1.0f, 2.0f);
    assert_memory_equal(t1.data, t2.data, 5 * sizeof(float));
    weft_tensor_release(&t1);
    weft_tensor_release(&t2);
}

/* --- the arena ---------------------------------------------------------------------------------- */

/* One training-like step: a two-layer net over a batch, cross-entropy,
 * backward. Returns the loss. */
static float build_step(weft_graph *g, weft_params *ps, const weft_tensor *x, const int *targets)
{
    weft_var *in = weft_input(g, x, "x", false);
    weft_var *h = weft_tanh(g, weft_linear(g, in, weft_param_var(g, weft_params_find(ps, "W1")),
                                           weft_param_var(g, weft_params_find(ps, "b1"))));
    weft_var *logits = weft_linear(g, h, weft_param_var(g, weft_params_find(ps, "W2")), NULL);
    weft_var *loss = weft_cross_entropy(g, logits, targets, NULL);
    assert_int_equal(weft_backward(g, loss), 0);
    return weft_scalar(loss);
}

static void test_arena_reused_without_growth(void **state)
{
    (void)state;
    weft_rng r;
    weft_rng_seed(&r, 1);
    weft_params *ps = weft_params_new();
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "W1", 2, (int[]){ 9, 6 })->value, -0.5f, 0.5f);
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "b1", 1, (int[]){ 9 })->value, -0.5f, 0.5f);
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "W2", 2, (int[]){ 5, 9 })->value, -0.5f, 0.5f);
    weft_tensor x = weft_tensor_alloc2(4, 6);
    weft_rng_fill_uniform(&r, &x, -1.0f, 1.0f);
    const int targets[4] = { 0, 3, 4, 1 };

    weft_graph *g = weft_graph_new();
    float first = build_step(g, ps, &x, targets);
    size_t capacity = weft_graph_arena_capacity(g), used = weft_graph_arena_used(g);
    assert_true(capacity > 0 && used > 0 && used <= capacity);
    for (int i = 1; i < 10000; i++) {
        weft_graph_reset(g);
        assert_int_equal(weft_graph_arena_used(g), 0);
        assert_int_equal(weft_graph_size(g), 0);
        float loss = build_step(g, ps, &x, targets);
        assert_true(loss == first);   /* same inputs, same numbers */
        if (weft_graph_arena_capacity(g) != capacity || weft_graph_arena_used(g) != used)
            fail_msg("build %d: arena capacity %zu (first %zu), used %zu (first %zu)", i,
                     weft_graph_arena_capacity(g), capacity, weft_graph_arena_used(g), used);
    }
    /* the parameters' gradients added up over all 10,000 backwards */
    weft_params_zero_grad(ps);
    weft_graph_free(g);
    weft_params_free(ps);
    weft_tensor_release(&x);
}

/* A build bigger than the first chunk makes the arena grow in chunks, and a
 * reset then serves the same build from them without growing again. */
static void test_arena_grows_in_chunks(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    size_t capacity = 0;
    for (int round = 0; round < 3; round++) {
        weft_graph_reset(g);
        for (int k = 0; k < 40; k++) {
            weft_var *v = weft_input_zeros(g, 2, (int[]){ 256, 257 }, "big", false);
            assert_non_null(v);
            assert_true(ALIGNED(v->value.data));
        }
        if (round == 0) capacity = weft_graph_arena_capacity(g);
        assert_int_equal(weft_graph_arena_capacity(g), capacity);
        assert_true(capacity >= 40u * 256 * 257 * sizeof(float));
    }
    weft_graph_free(g);
}

static void test_memory_limit(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_graph_set_memory_limit(g, 3u << 20);   /* 3 MiB */
    assert_non_null(weft_input_zeros(g, 2, (int[]){ 256, 256 }, "small", false));   /* 256 KiB */
    /* 1000 x 1000 floats: 4,000,000 bytes, past the limit */
    weft_var *big = weft_input_zeros(g, 2, (int[]){ 1000, 1000 }, "big", false);
    assert_null(big);
    assert_contains(weft_graph_error(g), "4000000 bytes");
    assert_contains(weft_graph_error(g), "limit");
    assert_true(weft_graph_arena_capacity(g) <= 3u << 20);
    /* what fits still fits after a reset */
    weft_graph_reset(g);
    assert_non_null(weft_input_zeros(g, 2, (int[]){ 500, 1000 }, "half", false));
    assert_false(weft_graph_failed(g));
    weft_graph_free(g);
}

/* --- gradients: access, reachability, NaN check --------------------------------------------------- */

static void test_grad_of_refuses_missing_gradients(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    float data[6] = { 0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f };
    weft_tensor t = weft_tensor_wrap(data, 2, (int[]){ 2, 3 });
    weft_var *x = weft_input(g, &t, "x", true);
    weft_var *c = weft_input(g, &t, "constant", false);
    weft_var *unused = weft_input(g, &t, "unused", true);
    weft_var *y = weft_tanh(g, weft_mul(g, x, c));
    weft_var *loss = weft_sum(g, y);

    /* before backward: no gradient anywhere */
    assert_null(weft_grad_of(g, x));
    assert_contains(weft_graph_error(g), "'x'");
    assert_contains(weft_graph_error(g), "backward has not reached it");
    weft_graph_reset(g);

    x = weft_input(g, &t, "x", true);
    c = weft_input(g, &t, "constant", false);
    unused = weft_input(g, &t, "unused", true);
    weft_var *d = weft_detach(g, unused);
    y = weft_tanh(g, weft_mul(g, weft_mul(g, x, c), d));
    loss = weft_sum(g, y);
    assert_int_equal(weft_backward(g, loss), 0);
    assert_non_null(weft_grad_of(g, x));
    assert_non_null(weft_grad_of(g, y));
    assert_false(weft_graph_failed(g));

    /* a node that needs no gradient */
    assert_null(weft_grad_of(g, c));
    assert_contains(weft_graph_error(g), "'constant'");
    assert_contains(weft_graph_error(g), "needs no gradient");
    weft_graph_reset(g);

    /* a leaf the loss reaches only through detach: never computed */
    x = weft_input(g, &t, "x", true);
    unused = weft_input(g, &t, "unused", true);
    loss = weft_sum(g, weft_mul(g, x, weft_detach(g, unused)));
    assert_int_equal(weft_backward(g, loss), 0);
    assert_null(weft_grad_of(g, unused));
    assert_contains(weft_graph_error(g), "#1 'unused'");
    weft_graph_reset(g);

    /* a node made after the backward */
    x = weft_input(g, &t, "x", true);
    loss = weft_sum(g, x);
    assert_int_equal(weft_backward(g, loss), 0);
    weft_var *later = weft_exp(g, x);
    assert_null(weft_grad_of(g, later));
    assert_contains(weft_graph_error(g), "(exp)");
    weft_graph_free(g);
}

/* dL/dx through detach is zero: x's gradient is exactly the other path's. */
static void test_detach_stops_the_gradient(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    float data[3] = { 0.5f, -1.0f, 2.0f };
    weft_tensor t = weft_tensor_wrap(data, 1, (int[]){ 3 });
    weft_var *x = weft_input(g, &t, "x", true);
    /* L = Σ x ⊙ detach(x): with detach a constant, dL/dx = x (not 2x) */
    weft_var *loss = weft_sum(g, weft_mul(g, x, weft_detach(g, x)));
    assert_int_equal(weft_backward(g, loss), 0);
    const weft_tensor *gx = weft_grad_of(g, x);
    for (int i = 0; i < 3; i++) assert_true(gx->data[i] == data[i]);
    weft_graph_free(g);
}

static void test_nonfinite_gradient_names_the_node(void **state)
{
    (void)state;
    float data[3] = { 1.0f, 0.0f, 2.0f };
    weft_tensor t = weft_tensor_wrap(data, 1, (int[]){ 3 });
    for (int on = 0; on <= 1; on++) {
        weft_graph *g = weft_graph_new();
        weft_graph_check_finite(g, on);
        weft_var *x = weft_input(g, &t, "x", true);
        weft_var *l = weft_log(g, x);                 /* log 0 = -inf */
        weft_graph_set_scope(g, (weft_scope){ 4, 1, 0, NULL });
        weft_var *sq = weft_mul(g, l, l);             /* d(l²)/dl = 2l = -inf */
        weft_graph_set_scope(g, WEFT_NO_SCOPE);
        weft_var *loss = weft_sum(g, weft_scale(g, sq, 0.5f));
        int rc = weft_backward(g, loss);
        if (!on) {
            assert_int_equal(rc, 0);   /* off by default: no check */
        } else {
            assert_int_equal(rc, -1);
            /* the first one from the loss is the mul (its input l gets -inf) ... */
            const char *err = weft_graph_error(g);
            assert_contains(err, "non-finite gradient");
            assert_contains(err, "(log)");
            assert_contains(err, "#1");
            (void)sq;
        }
        weft_graph_free(g);
    }
}

/* --- threads ------------------------------------------------------------------------------------ */

/* A graph with tensors far past the parallel threshold and GEMMs big enough
 * for BLIS to split: returns the loss and copies the parameters' gradients. */
static float big_step(weft_params *ps, const weft_tensor *x, const int *targets, float *grads)
{
    weft_graph *g = weft_graph_new();
    weft_params_zero_grad(ps);
    weft_var *in = weft_input(g, x, "x", true);
    weft_var *W1 = weft_param_var(g, weft_params_find(ps, "W1"));
    weft_var *b1 = weft_param_var(g, weft_params_find(ps, "b1"));
    weft_var *W2 = weft_param_var(g, weft_params_find(ps, "W2"));
    weft_var *h = weft_tanh(g, weft_linear(g, in, W1, b1));              /* [300, 257] */
    weft_var *gate = weft_sigmoid(g, weft_matmul_ex(g, in, false, W1, true));
    weft_var *mix = weft_add(g, weft_mul(g, gate, h), weft_mul(g, weft_one_minus(g, gate),
                                                               weft_relu(g, h)));
    weft_var *logits = weft_linear(g, weft_exp(g, weft_scale(g, mix, 0.5f)), W2, NULL);
    weft_var *p = weft_log_softmax(g, logits);
    weft_var *loss = weft_add(g, weft_cross_entropy(g, logits, targets, NULL),
                              weft_mean(g, weft_mul(g, weft_softmax(g, p), p)));
    assert_int_equal(weft_backward(g, loss), 0);
    memcpy(grads, weft_params_grads(ps), weft_params_span(ps) * sizeof(float));
    float value = weft_scalar(loss);
    weft_graph_free(g);
    return value;
}

static void test_same_results_for_1_and_2_threads(void **state)
{
    (void)state;
    enum { ROWS = 300, IN = 211, HID = 257, OUT = 129 };
    weft_rng r;
    weft_rng_seed(&r, 5);
    weft_params *ps = weft_params_new();
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "W1", 2, (int[]){ HID, IN })->value, -0.1f, 0.1f);
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "b1", 1, (int[]){ HID })->value, -0.1f, 0.1f);
    weft_rng_fill_uniform(&r, &weft_params_add(ps, "W2", 2, (int[]){ OUT, HID })->value, -0.1f, 0.1f);
    weft_tensor x = weft_tensor_alloc2(ROWS, IN);
    weft_rng_fill_uniform(&r, &x, -1.0f, 1.0f);
    int targets[ROWS];
    for (int i = 0; i < ROWS; i++) targets[i] = (int)weft_rng_below(&r, OUT);
    size_t span = weft_params_span(ps);
    float *g1 = malloc(span * sizeof(float)), *g2 = malloc(span * sizeof(float));

    int before = weft_num_threads();
    weft_set_num_threads(1);
    assert_int_equal(weft_num_threads(), 1);
    float l1 = big_step(ps, &x, targets, g1);
    weft_set_num_threads(2);
    assert_int_equal(weft_num_threads(), 2);
    float l2 = big_step(ps, &x, targets, g2);
    weft_set_num_threads(before);

    assert_true(isfinite(l1));
    assert_true(fabsf(l1 - l2) <= 1e-6f * fabsf(l1));
    double worst = 0.0, norm = 0.0;
    for (size_t i = 0; i < span; i++) {
        double d = fabs((double)g1[i] - g2[i]), scale = fmax(fabs(g1[i]), 1e-30);
        norm += fabs(g1[i]);
        if (d > 1e-6 * scale && d > 1e-12) fail_msg("gradient %zu: %g with 1 thread, %g with 2",
                                                    i, g1[i], g2[i]);
        if (d / scale > worst) worst = d / scale;
    }
    assert_true(norm > 0.0);
    free(g1);
    free(g2);
    weft_tensor_release(&x);
    weft_params_free(ps);
}

/* --- parameters in graphs ------------------------------------------------------------------------- */

static void test_one_leaf_per_parameter(void **state)
{
    (void)state;
    weft_params *ps = weft_params_new();
    weft_param *W = weft_params_add(ps, "W", 2, (int[]){ 3, 2 });
    weft_tensor_fill(&W->value, 0.5f);
    weft_graph *g = weft_graph_new();
    weft_var *a = weft_param_var(g, W), *b = weft_param_var(g, W);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a->value.data, W->value.data);   /* borrowed, not copied */
    float ones[4] = { 1, 1, 1, 1 };
    weft_tensor t = weft_tensor_wrap(ones, 2, (int[]){ 2, 2 });
    weft_var *x = weft_input(g, &t, "x", false);
    /* used at two "steps": the gradient is the sum of both uses */
    weft_var *loss = weft_add(g, weft_sum(g, weft_linear(g, x, a, NULL)),
                              weft_sum(g, weft_linear(g, x, b, NULL)));
    assert_int_equal(weft_backward(g, loss), 0);
    for (int i = 0; i < 6; i++) assert_true(W->grad.data[i] == 4.0f);   /* 2 rows x 2 uses */
    assert_ptr_equal(weft_grad_of(g, a)->data, W->grad.data);
    /* a new graph (or a reset) makes a new leaf for the same parameter */
    weft_graph_reset(g);
    assert_non_null(weft_param_var(g, W));
    assert_int_equal(weft_graph_size(g), 1);
    weft_graph_free(g);
    weft_params_free(ps);
}

/* The thread tuner (weft/runtime.h) on step times made up for it: two
 * threads twice as slow as one (a busy process on the other core) -> one
 * thread; then the load gone, two twice as fast -> back to two; steady ->
 * stays, trying again after longer; WEFT_ADAPT_THREADS=0 -> never moves. */
static void step_as(weft_thread_tuner *t, double one, double two)
{
    weft_thread_tuner_step(t, weft_num_threads() == 1 ? one : two);
}

static void test_thread_tuner(void **state)
{
    (void)state;
    weft_set_num_threads(2);
    weft_thread_tuner t;
    weft_thread_tuner_init(&t);
    step_as(&t, 9.0, 9.0);   /* warming up: not timed */
    for (int i = 0; i < 2 * WEFT_TUNER_ROUNDS; i++) step_as(&t, 0.5, 1.0);
    assert_int_equal(weft_num_threads(), 1);
    assert_int_equal(t.switches, 1);
    /* two threads lost 0.5 s in each of 4 steps: the next try ten times that
     * (20 s of training) away */
    assert_true(fabs(t.gap - 20.0) < 1e-9);
    for (int i = 0; i < 33; i++) step_as(&t, 0.6, 0.6);
    assert_int_equal(t.phase, 1);
    assert_int_equal(weft_num_threads(), 1);
    step_as(&t, 0.6, 0.6);   /* 20.4 s: trying */
    assert_int_equal(t.phase, 2);
    for (int i = 0; i < 2 * WEFT_TUNER_ROUNDS; i++) step_as(&t, 0.6, 0.3);
    assert_int_equal(weft_num_threads(), 2);
    assert_int_equal(t.switches, 2);
    /* two threads stay ahead: no move, the next try twice as far off, up to
     * WEFT_TUNER_MAX_GAP */
    double gap = t.gap;
    while (t.phase == 1) step_as(&t, 0.6, 0.3);
    for (int i = 0; i < 2 * WEFT_TUNER_ROUNDS; i++) step_as(&t, 0.6, 0.59);   /* within 5% */
    assert_int_equal(weft_num_threads(), 2);
    assert_int_equal(t.switches, 2);
    assert_true(t.gap == (2 * gap < WEFT_TUNER_MAX_GAP ? 2 * gap : WEFT_TUNER_MAX_GAP));
    /* a count five times as slow loses after one step of each */
    while (t.phase == 1) step_as(&t, 0.6, 0.3);
    step_as(&t, 5.0, 1.0);
    step_as(&t, 5.0, 1.0);
    assert_int_equal(t.phase, 1);
    assert_int_equal(weft_num_threads(), 2);
    assert_true(fabs(t.gap - 40.0) < 1e-9);   /* 4 s lost: the next try 40 s away */
    weft_thread_tuner_end(&t);
    assert_int_equal(weft_num_threads(), 2);

    setenv("WEFT_ADAPT_THREADS", "0", 1);
    weft_thread_tuner_init(&t);
    for (int i = 0; i < 40; i++) step_as(&t, 0.1, 1.0);
    assert_int_equal(weft_num_threads(), 2);
    unsetenv("WEFT_ADAPT_THREADS");
    weft_set_num_threads(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_basics),
        cmocka_unit_test(test_params_store),
        cmocka_unit_test(test_rng_reproducible),
        cmocka_unit_test(test_arena_reused_without_growth),
        cmocka_unit_test(test_arena_grows_in_chunks),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_grad_of_refuses_missing_gradients),
        cmocka_unit_test(test_detach_stops_the_gradient),
        cmocka_unit_test(test_nonfinite_gradient_names_the_node),
        cmocka_unit_test(test_same_results_for_1_and_2_threads),
        cmocka_unit_test(test_one_leaf_per_parameter),
        cmocka_unit_test(test_thread_tuner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
