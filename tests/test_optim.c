/* tests/test_optim.c — initialisation, optimizers against torch.optim, clipping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "weft/optim.h"

static char err[512];

/* --- optimizers against torch.optim ----------------------------------------- */

/* written by tests/golden/make_optim_ref.py (torch 1.13.0a0) */
static const float ref_sgd[3][8] = {
    { 0.49000001f, -0.230000004f, 0.969999969f, -1.5f, -0.150000006f, 0.754999995f, 0.0500000007f, -0.100000001f },
    { 0.520000041f, -0.24000001f, 0.949999988f, -1.5f, -0.100000009f, 0.714999974f, 0.0250000004f, -0.112500004f },
    { 0.515000045f, -0.245000005f, 1.00999999f, -1.5f, -0.300000012f, 0.713999987f, 0.100000001f, -0.142500013f },
};
static const float ref_sgd_wd[3][8] = {
    { 0.489499986f, -0.229749992f, 0.968999982f, -1.49849999f, -0.150000006f, 0.75424999f, 0.0499000028f, -0.0998000056f },
    { 0.519010484f, -0.239520237f, 0.948031008f, -1.49700153f, -0.0998500064f, 0.713495731f, 0.0248501021f, -0.112200208f },
    { 0.513491452f, -0.244280711f, 1.00708294f, -1.4955045f, -0.299750149f, 0.711782217f, 0.0998252556f, -0.142088011f },
};
static const float ref_momentum[3][8] = {
    { 0.49000001f, -0.230000004f, 0.969999969f, -1.5f, -0.150000006f, 0.754999995f, 0.0500000007f, -0.100000001f },
    { 0.511000037f, -0.222000003f, 0.922999978f, -1.5f, -0.234999999f, 0.719500005f, -0.0199999996f, -0.0225000028f },
    { 0.524900019f, -0.21980001f, 0.940699995f, -1.5f, -0.511500001f, 0.686550021f, -0.00799999852f, 0.0172499903f },
};
static const float ref_momentum_dampening[3][8] = {
    { 0.49000001f, -0.230000004f, 0.969999969f, -1.5f, -0.150000006f, 0.754999995f, 0.0500000007f, -0.100000001f },
    { 0.496000022f, -0.217000008f, 0.932999969f, -1.5f, -0.25999999f, 0.739499986f, -0.0074999989f, -0.0162500031f },
    { 0.498900026f, -0.207800001f, 0.929699957f, -1.5f, -0.458999991f, 0.725049973f, -0.0217499975f, 0.0441249982f },
};
static const float ref_nesterov_wd[3][8] = {
    { 0.480049998f, -0.211524993f, 0.941100001f, -1.49714994f, -0.284999996f, 0.758074999f, 0.00481000543f, -0.00962001085f },
    { 0.527632892f, -0.21372059f, 0.876201928f, -1.49309039f, -0.310958475f, 0.684077144f, -0.0832801387f, 0.0478102639f },
    { 0.533387065f, -0.215980932f, 0.948975861f, -1.48794734f, -0.758986831f, 0.650961578f, 0.0026012985f, 0.0536480136f },
};
static const float ref_adam[3][8] = {
    { 0.49000001f, -0.239999995f, 0.99000001f, -1.5f, -0.0100000007f, 0.75999999f, 0.0900000036f, -0.189999998f },
    { 0.49494192f, -0.237336621f, 0.980296493f, -1.5f, -0.0140021872f, 0.753446698f, 0.0806782097f, -0.184274659f },
    { 0.497716904f, -0.236722738f, 0.981912136f, -1.5f, -0.0209327936f, 0.74822408f, 0.0814979747f, -0.181857511f },
};
static const float ref_adam_wd[3][8] = {
    { 0.490000069f, -0.240000039f, 0.99000001f, -1.49000001f, -0.00999999512f, 0.740000427f, 0.0900000185f, -0.190000013f },
    { 0.49351576f, -0.236552581f, 0.980254769f, -1.48000371f, -0.013479651f, 0.731843948f, 0.08082477f, -0.184546977f },
    { 0.493641078f, -0.234856084f, 0.980322599f, -1.47001338f, -0.0205941983f, 0.724797904f, 0.0824006349f, -0.182626665f },
};
static const float ref_adamw[3][8] = {
    { 0.489500016f, -0.239749998f, 0.989000022f, -1.49849999f, -0.0100000007f, 0.759249985f, 0.0899000019f, -0.189799994f },
    { 0.493952423f, -0.236846879f, 0.978307545f, -1.49700153f, -0.0139921876f, 0.751937449f, 0.0804883093f, -0.183884859f },
    { 0.496233463f, -0.235996157f, 0.978944898f, -1.4955045f, -0.0209088027f, 0.745962918f, 0.0812275857f, -0.181283832f },
};

static const float W0[6] = { 0.5f, -0.25f, 1.0f, -1.5f, 0.0f, 0.75f };
static const float B0[2] = { 0.1f, -0.2f };
static const float GRADS[3][8] = {
    { 0.1f, -0.2f, 0.3f, 0.0f, 1.5f, -0.05f, 0.5f, -1.0f },
    { -0.3f, 0.1f, 0.2f, 0.0f, -0.5f, 0.4f, 0.25f, 0.125f },
    { 0.05f, 0.05f, -0.6f, 0.0f, 2.0f, 0.01f, -0.75f, 0.3f },
};

/* The store of make_optim_ref.py: w [2, 3] and b [2]. */
static weft_params *tiny_store(void)
{
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "w", 2, (int[]){ 2, 3 });
    weft_param *b = weft_params_add(s, "b", 1, (int[]){ 2 });
    assert_non_null(w);
    assert_non_null(b);
    memcpy(w->value.data, W0, sizeof W0);
    memcpy(b->value.data, B0, sizeof B0);
    return s;
}

static void run_against(weft_optim opt, const float ref[3][8])
{
    weft_params *s = tiny_store();
    weft_param *w = weft_params_find(s, "w"), *b = weft_params_find(s, "b");
    for (int t = 0; t < 3; t++) {
        memcpy(w->grad.data, GRADS[t], 6 * sizeof(float));
        memcpy(b->grad.data, GRADS[t] + 6, 2 * sizeof(float));
        assert_int_equal(weft_optim_step(&opt, s), 0);
        assert_int_equal(opt.step, t + 1);
        for (int i = 0; i < 8; i++) {
            float got = i < 6 ? w->value.data[i] : b->value.data[i - 6];
            float want = ref[t][i];
            if (fabsf(got - want) > 1e-6f * fmaxf(1.0f, fabsf(want))) {
                print_error("step %d element %d: weft %.9g, torch %.9g\n", t + 1, i, got, want);
                fail();
            }
        }
    }
    weft_params_free(s);
}

static void sgd_matches_torch(void **state)
{
    (void)state;
    run_against(weft_optim_sgd(0.1), ref_sgd);
    weft_optim o = weft_optim_sgd(0.1);
    o.weight_decay = 0.01;
    run_against(o, ref_sgd_wd);
}

static void sgd_momentum_matches_torch(void **state)
{
    (void)state;
    run_against(weft_optim_sgd_momentum(0.1, 0.9), ref_momentum);
    weft_optim o = weft_optim_sgd_momentum(0.1, 0.9);
    o.dampening = 0.5;
    run_against(o, ref_momentum_dampening);
    o = weft_optim_sgd_momentum(0.1, 0.9);
    o.nesterov = true;
    o.weight_decay = 0.01;
    run_against(o, ref_nesterov_wd);
}

static void adam_matches_torch(void **state)
{
    (void)state;
    run_against(weft_optim_adam(0.01), ref_adam);
    weft_optim o = weft_optim_adam(0.01);
    o.beta1 = 0.8;
    o.beta2 = 0.99;
    o.eps = 1e-6;
    o.weight_decay = 0.1;
    run_against(o, ref_adam_wd);
}

static void adamw_matches_torch(void **state)
{
    (void)state;
    run_against(weft_optim_adamw(0.01, 0.1), ref_adamw);
}

static void sgd_step_is_plain_sgd(void **state)
{
    (void)state;
    weft_params *s = tiny_store();
    weft_param *w = weft_params_find(s, "w"), *b = weft_params_find(s, "b");
    memcpy(w->grad.data, GRADS[0], 6 * sizeof(float));
    memcpy(b->grad.data, GRADS[0] + 6, 2 * sizeof(float));
    weft_sgd_step(s, 0.1f);
    for (int i = 0; i < 6; i++) assert_float_equal(w->value.data[i], ref_sgd[0][i], 1e-7);
    for (int i = 0; i < 2; i++) assert_float_equal(b->value.data[i], ref_sgd[0][6 + i], 1e-7);
    weft_params_free(s);
}

static void lr_step_decay_schedule(void **state)
{
    (void)state;
    /* Zaremba et al. small: lr 1, halved every epoch from epoch 5 */
    const double want[8] = { 1, 1, 1, 1, 0.5, 0.25, 0.125, 0.0625 };
    for (int e = 1; e <= 8; e++)
        assert_float_equal(weft_lr_step_decay(1.0, 0.5, 5, e), want[e - 1], 1e-12);
    assert_float_equal(weft_lr_step_decay(20.0, 0.25, 1, 1), 5.0, 1e-12);
}

/* --- clipping ------------------------------------------------------------------- */

static void clip_by_global_norm(void **state)
{
    (void)state;
    weft_params *s = tiny_store();
    weft_param *w = weft_params_find(s, "w"), *b = weft_params_find(s, "b");
    /* gradients 3, 4 (in w) and 12 (in b): norm 13 */
    w->grad.data[1] = 3;
    w->grad.data[5] = -4;
    b->grad.data[0] = 12;
    assert_float_equal(weft_grad_norm(s), 13.0, 1e-6);
    /* below the threshold: unchanged */
    assert_float_equal(weft_clip_grad_norm(s, 20.0f), 13.0, 1e-6);
    assert_float_equal(w->grad.data[1], 3.0, 0);
    /* above: scaled to norm 6.5, and the norm before clipping returned */
    assert_float_equal(weft_clip_grad_norm(s, 6.5f), 13.0, 1e-6);
    assert_float_equal(w->grad.data[1], 1.5, 1e-6);
    assert_float_equal(w->grad.data[5], -2.0, 1e-6);
    assert_float_equal(b->grad.data[0], 6.0, 1e-6);
    assert_float_equal(weft_grad_norm(s), 6.5, 1e-5);
    /* a non-finite norm is reported and the gradients left alone */
    b->grad.data[1] = INFINITY;
    assert_true(isinf(weft_clip_grad_norm(s, 1.0f)));
    assert_float_equal(w->grad.data[1], 1.5, 1e-6);
    weft_params_free(s);
}

static void grad_norm_of_a_large_store_in_double(void **state)
{
    (void)state;
    /* 2^20 gradients of 1e-3 (not exact in float): a float accumulator drifts,
       a double one does not; the span also crosses many blocks and the parallel
       threshold */
    weft_params *s = weft_params_new();
    weft_param *p = weft_params_add(s, "big", 2, (int[]){ 1024, 1024 });
    weft_tensor_fill(&p->grad, 1e-3f);
    double want = sqrt(1048576.0 * (double)1e-3f * (double)1e-3f);
    assert_float_equal(weft_grad_norm(s), want, want * 1e-6);
    weft_params_free(s);
}

static void clip_by_value(void **state)
{
    (void)state;
    weft_params *s = tiny_store();
    weft_param *w = weft_params_find(s, "w");
    memcpy(w->grad.data, (float[]){ -3, 0.5f, 2, -0.25f, 1, 7 }, 6 * sizeof(float));
    weft_clip_grad_value(s, 1.0f);
    const float want[6] = { -1, 0.5f, 1, -0.25f, 1, 1 };
    for (int i = 0; i < 6; i++) assert_float_equal(w->grad.data[i], want[i], 0);
    weft_params_free(s);
}

/* --- initialisation ------------------------------------------------------------- */

/* max |(QᵀQ - I)_ij| for the rows x cols block q (rows >= cols), or of QQᵀ when
   rows < cols */
static double orthogonality_error(const float *q, int rows, int cols)
{
    int n = rows >= cols ? cols : rows;
    double worst = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            double dot = 0;
            if (rows >= cols)
                for (int i = 0; i < rows; i++) dot += (double)q[i * cols + a] * q[i * cols + b];
            else
                for (int j = 0; j < cols; j++) dot += (double)q[a * cols + j] * q[b * cols + j];
            worst = fmax(worst, fabs(dot - (a == b)));
        }
    return worst;
}

static void orthogonal_init_per_gate_block(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    const int H = 24;
    weft_param *whh = weft_params_add(s, "rnn.weight_hh_l0", 2, (int[]){ 4 * H, H });
    weft_rng r;
    weft_rng_seed(&r, 7);
    assert_int_equal(weft_init_orthogonal(whh, &r, 4, 1.0f, err, sizeof err), 0);
    for (int b = 0; b < 4; b++) {
        double e = orthogonality_error(whh->value.data + (size_t)b * H * H, H, H);
        if (e > 1e-5) {
            print_error("gate block %d: max |QtQ - I| = %g\n", b, e);
            fail();
        }
    }
    /* the blocks differ (each its own draw), and the whole is not orthogonal */
    assert_true(orthogonality_error(whh->value.data, 4 * H, H) > 0.5);
    weft_params_free(s);
}

static void orthogonal_init_rectangular_and_gain(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_param *tall = weft_params_add(s, "tall", 2, (int[]){ 10, 4 });
    weft_param *wide = weft_params_add(s, "wide", 2, (int[]){ 3, 8 });
    weft_rng r;
    weft_rng_seed(&r, 1);
    assert_int_equal(weft_init_orthogonal(tall, &r, 1, 1.0f, err, sizeof err), 0);
    assert_true(orthogonality_error(tall->value.data, 10, 4) < 1e-5);
    assert_int_equal(weft_init_orthogonal(wide, &r, 1, 2.0f, err, sizeof err), 0);
    for (int i = 0; i < 24; i++) wide->value.data[i] *= 0.5f;   /* undo the gain */
    assert_true(orthogonality_error(wide->value.data, 3, 8) < 1e-5);
    /* rows not a multiple of the blocks: an error naming the parameter */
    weft_tensor_fill(&tall->value, 9.0f);
    assert_int_equal(weft_init_orthogonal(tall, &r, 3, 1.0f, err, sizeof err), -1);
    assert_non_null(strstr(err, "tall"));
    assert_non_null(strstr(err, "10 rows"));
    assert_float_equal(tall->value.data[0], 9.0, 0);
    weft_params_free(s);
}

static void xavier_bounds(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "w", 2, (int[]){ 30, 50 });
    weft_param *v = weft_params_add(s, "v", 1, (int[]){ 5 });
    weft_rng r;
    weft_rng_seed(&r, 3);
    assert_int_equal(weft_init_xavier_uniform(w, &r, 1.0f, err, sizeof err), 0);
    double a = sqrt(6.0 / (30 + 50)), lo = 0, hi = 0;
    for (int i = 0; i < 1500; i++) {
        assert_true(fabs(w->value.data[i]) <= a);
        lo = fmin(lo, w->value.data[i]);
        hi = fmax(hi, w->value.data[i]);
    }
    /* and the range is actually used */
    assert_true(lo < -0.95 * a && hi > 0.95 * a);
    assert_int_equal(weft_init_xavier_uniform(v, &r, 1.0f, err, sizeof err), -1);
    assert_non_null(strstr(err, "'v'"));
    weft_params_free(s);
}

static void uniform_and_constant(void **state)
{
    (void)state;
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "w", 2, (int[]){ 20, 20 });
    weft_rng r;
    weft_rng_seed(&r, 5);
    weft_init_uniform(w, &r, 0.1f);
    double lo = 0, hi = 0, sum = 0;
    for (int i = 0; i < 400; i++) {
        assert_true(w->value.data[i] >= -0.1f && w->value.data[i] < 0.1f);
        lo = fmin(lo, w->value.data[i]);
        hi = fmax(hi, w->value.data[i]);
        sum += w->value.data[i];
    }
    assert_true(lo < -0.09 && hi > 0.09 && fabs(sum / 400) < 0.01);
    weft_init_constant(w, 1.0f);
    for (int i = 0; i < 400; i++) assert_float_equal(w->value.data[i], 1.0, 0);
    weft_params_free(s);
}

static void same_seed_same_numbers(void **state)
{
    (void)state;
    float first[3][64];
    for (int run = 0; run < 2; run++) {
        weft_params *s = weft_params_new();
        weft_param *a = weft_params_add(s, "a", 2, (int[]){ 8, 8 });
        weft_param *b = weft_params_add(s, "b", 2, (int[]){ 8, 8 });
        weft_param *c = weft_params_add(s, "c", 2, (int[]){ 16, 4 });
        weft_rng r;
        weft_rng_seed(&r, 42);
        weft_init_uniform(a, &r, 0.5f);
        assert_int_equal(weft_init_xavier_uniform(b, &r, 1.0f, err, sizeof err), 0);
        assert_int_equal(weft_init_orthogonal(c, &r, 4, 1.0f, err, sizeof err), 0);
        weft_param *ps[3] = { a, b, c };
        for (int k = 0; k < 3; k++) {
            if (run == 0) memcpy(first[k], ps[k]->value.data, 64 * sizeof(float));
            else assert_memory_equal(first[k], ps[k]->value.data, 64 * sizeof(float));
        }
        weft_params_free(s);
    }
    /* and another seed, other numbers */
    weft_params *s = weft_params_new();
    weft_param *a = weft_params_add(s, "a", 2, (int[]){ 8, 8 });
    weft_rng r;
    weft_rng_seed(&r, 43);
    weft_init_uniform(a, &r, 0.5f);
    assert_true(memcmp(first[0], a->value.data, 64 * sizeof(float)) != 0);
    weft_params_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_matches_torch),
        cmocka_unit_test(sgd_momentum_matches_torch),
        cmocka_unit_test(adam_matches_torch),
        cmocka_unit_test(adamw_matches_torch),
        cmocka_unit_test(sgd_step_is_plain_sgd),
        cmocka_unit_test(lr_step_decay_schedule),
        cmocka_unit_test(clip_by_global_norm),
        cmocka_unit_test(grad_norm_of_a_large_store_in_double),
        cmocka_unit_test(clip_by_value),
        cmocka_unit_test(orthogonal_init_per_gate_block),
        cmocka_unit_test(orthogonal_init_rectangular_and_gain),
        cmocka_unit_test(xavier_bounds),
        cmocka_unit_test(uniform_and_constant),
        cmocka_unit_test(same_seed_same_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
