/* bench/onednn_lstm.c — one LSTM layer, forward + backward, with oneDNN's
 * LSTM primitive: the record weft's fused LSTM is measured against.
 *
 *     OMP_NUM_THREADS=2 build/bench/onednn_lstm --steps 50 --batch 64 --hidden 512
 *
 * The workload of `weft bench layer --cell lstm --backward`: random input
 * [T, B, I], zero initial state, forward training (with its workspace), then
 * backward from a gradient of ones on every output (the gradient of the sum).
 * A repetition also reorders the weights into the layout backward wants when
 * it differs from forward's, as a training step must. Threads: oneDNN's
 * OpenMP, from OMP_NUM_THREADS. Prints GFLOP/s (2*M*N*K per product,
 * backward twice forward) and ends with 'median ms: X'. Built only with
 * -Dbench=true and Debian's libdnnl-dev; not part of weft. */
#include <oneapi/dnnl/dnnl.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                                         \
    do {                                                                                    \
        dnnl_status_t st_ = (call);                                                         \
        if (st_ != dnnl_success) {                                                          \
            fprintf(stderr, "onednn_lstm: %s failed (status %d) at line %d\n", #call,       \
                    (int)st_, __LINE__);                                                    \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static dnnl_engine_t engine;
static dnnl_stream_t stream;

/* A memory of descriptor md, filled with uniform values in [-scale, scale)
 * (scale 0: zeros) — only for plain layouts. */
static dnnl_memory_t make_mem(const dnnl_memory_desc_t *md, float scale, uint64_t *seed)
{
    dnnl_memory_t m;
    CHECK(dnnl_memory_create(&m, md, engine, DNNL_MEMORY_ALLOCATE));
    void *p;
    CHECK(dnnl_memory_get_data_handle(m, &p));
    size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
    float *f = p;
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = scale * ((float)(*seed >> 40) / (float)(1u << 24) * 2.0f - 1.0f);
    }
    return m;
}

/* A reorder primitive from src's layout to dst's. */
static dnnl_primitive_t make_reorder(const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst)
{
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    CHECK(dnnl_reorder_primitive_desc_create(&pd, src, engine, dst, engine, NULL));
    CHECK(dnnl_primitive_create(&p, pd));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static void reorder(dnnl_primitive_t r, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    CHECK(dnnl_primitive_execute(r, stream, 2, args));
}

int main(int argc, char **argv)
{
    int T = 50, B = 64, I = 0, H = 512, repeat = 10, warmup = 2;
    for (int i = 1; i < argc; i++) {
        int *dst = NULL;
        if (strcmp(argv[i], "--steps") == 0) dst = &T;
        else if (strcmp(argv[i], "--batch") == 0) dst = &B;
        else if (strcmp(argv[i], "--input") == 0) dst = &I;
        else if (strcmp(argv[i], "--hidden") == 0) dst = &H;
        else if (strcmp(argv[i], "--repeat") == 0) dst = &repeat;
        else if (strcmp(argv[i], "--warmup") == 0) dst = &warmup;
        if (!dst || i + 1 >= argc || (*dst = atoi(argv[++i])) < (dst == &warmup ? 0 : 1)) {
            fprintf(stderr, "usage: onednn_lstm [--steps T] [--batch B] [--input I] "
                    "[--hidden H] [--repeat R] [--warmup W]\n");
            return 2;
        }
    }
    if (I == 0) I = H;
    CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));

    /* one layer, one direction, four gates */
    dnnl_dims_t d_src = { T, B, I }, d_dst = { T, B, H }, d_iter = { 1, 1, B, H },
                d_wl = { 1, 1, I, 4, H }, d_wi = { 1, 1, H, 4, H }, d_bias = { 1, 1, 4, H };
    dnnl_memory_desc_t src_md, dst_md, iter_md, wl_user, wi_user, wl_any, wi_any, bias_md;
    CHECK(dnnl_memory_desc_init_by_tag(&src_md, 3, d_src, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 3, d_dst, dnnl_f32, dnnl_tnc));
    CHECK(dnnl_memory_desc_init_by_tag(&iter_md, 4, d_iter, dnnl_f32, dnnl_ldnc));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_user, 5, d_wl, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_user, 5, d_wi, dnnl_f32, dnnl_ldigo));
    CHECK(dnnl_memory_desc_init_by_tag(&wl_any, 5, d_wl, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&wi_any, 5, d_wi, dnnl_f32, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 4, d_bias, dnnl_f32, dnnl_ldgo));

    dnnl_rnn_desc_t fwd_d, bwd_d;
    CHECK(dnnl_lstm_forward_desc_init(&fwd_d, dnnl_forward_training,
                                      dnnl_unidirectional_left2right, &src_md, &iter_md,
                                      &iter_md, &wl_any, &wi_any, &bias_md, &dst_md, &iter_md,
                                      &iter_md, 0));
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    CHECK(dnnl_primitive_desc_create(&fwd_pd, &fwd_d, NULL, engine, NULL));
    CHECK(dnnl_lstm_backward_desc_init(&bwd_d, dnnl_backward, dnnl_unidirectional_left2right,
                                       &src_md, &iter_md, &iter_md, &wl_any, &wi_any, &bias_md,
                                       &dst_md, &iter_md, &iter_md, &src_md, &iter_md, &iter_md,
                                       &wl_any, &wi_any, &bias_md, &dst_md, &iter_md, &iter_md,
                                       0));
    CHECK(dnnl_primitive_desc_create(&bwd_pd, &bwd_d, NULL, engine, fwd_pd));

    const dnnl_memory_desc_t *f_wl = dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *f_wi = dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_weights_md, 1);
    const dnnl_memory_desc_t *b_wl = dnnl_primitive_desc_query_md(bwd_pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *b_wi = dnnl_primitive_desc_query_md(bwd_pd, dnnl_query_weights_md, 1);
    const dnnl_memory_desc_t *db_wl = dnnl_primitive_desc_query_md(bwd_pd,
                                                                   dnnl_query_diff_weights_md, 0);
    const dnnl_memory_desc_t *db_wi = dnnl_primitive_desc_query_md(bwd_pd,
                                                                   dnnl_query_diff_weights_md, 1);
    const dnnl_memory_desc_t *ws_md = dnnl_primitive_desc_query_md(fwd_pd, dnnl_query_workspace_md, 0);

    uint64_t seed = 1;
    dnnl_memory_t src = make_mem(&src_md, 1.0f, &seed), dst = make_mem(&dst_md, 0, &seed);
    dnnl_memory_t h0 = make_mem(&iter_md, 0, &seed), c0 = make_mem(&iter_md, 0, &seed);
    dnnl_memory_t hT = make_mem(&iter_md, 0, &seed), cT = make_mem(&iter_md, 0, &seed);
    dnnl_memory_t wl_u = make_mem(&wl_user, 0.04f, &seed), wi_u = make_mem(&wi_user, 0.04f, &seed);
    dnnl_memory_t bias = make_mem(&bias_md, 0.04f, &seed);
    dnnl_memory_t wl_f, wi_f, wl_b, wi_b, dwl, dwi, ws;
    CHECK(dnnl_memory_create(&wl_f, f_wl, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&wi_f, f_wi, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&wl_b, b_wl, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&wi_b, b_wi, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&dwl, db_wl, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&dwi, db_wi, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&ws, ws_md, engine, DNNL_MEMORY_ALLOCATE));
    reorder(make_reorder(&wl_user, f_wl), wl_u, wl_f);
    reorder(make_reorder(&wi_user, f_wi), wi_u, wi_f);
    bool same_wl = dnnl_memory_desc_equal(f_wl, b_wl), same_wi = dnnl_memory_desc_equal(f_wi, b_wi);
    dnnl_primitive_t to_bwd_wl = make_reorder(f_wl, b_wl), to_bwd_wi = make_reorder(f_wi, b_wi);
    dnnl_memory_t dsrc = make_mem(&src_md, 0, &seed), ddst = make_mem(&dst_md, 0, &seed);
    {
        void *p;
        CHECK(dnnl_memory_get_data_handle(ddst, &p));
        for (size_t i = 0; i < (size_t)T * B * H; i++) ((float *)p)[i] = 1.0f;   /* d sum / d y */
    }
    dnnl_memory_t dh0 = make_mem(&iter_md, 0, &seed), dc0 = make_mem(&iter_md, 0, &seed);
    dnnl_memory_t dhT = make_mem(&iter_md, 0, &seed), dcT = make_mem(&iter_md, 0, &seed);
    dnnl_memory_t dbias = make_mem(&bias_md, 0, &seed);

    dnnl_primitive_t fwd, bwd;
    CHECK(dnnl_primitive_create(&fwd, fwd_pd));
    CHECK(dnnl_primitive_create(&bwd, bwd_pd));
    dnnl_exec_arg_t fargs[] = {
        { DNNL_ARG_SRC_LAYER, src }, { DNNL_ARG_SRC_ITER, h0 }, { DNNL_ARG_SRC_ITER_C, c0 },
        { DNNL_ARG_WEIGHTS_LAYER, wl_f }, { DNNL_ARG_WEIGHTS_ITER, wi_f }, { DNNL_ARG_BIAS, bias },
        { DNNL_ARG_DST_LAYER, dst }, { DNNL_ARG_DST_ITER, hT }, { DNNL_ARG_DST_ITER_C, cT },
        { DNNL_ARG_WORKSPACE, ws },
    };
    dnnl_exec_arg_t bargs[] = {
        { DNNL_ARG_SRC_LAYER, src }, { DNNL_ARG_SRC_ITER, h0 }, { DNNL_ARG_SRC_ITER_C, c0 },
        { DNNL_ARG_WEIGHTS_LAYER, same_wl ? wl_f : wl_b },
        { DNNL_ARG_WEIGHTS_ITER, same_wi ? wi_f : wi_b }, { DNNL_ARG_BIAS, bias },
        { DNNL_ARG_DST_LAYER, dst }, { DNNL_ARG_DST_ITER, hT }, { DNNL_ARG_DST_ITER_C, cT },
        { DNNL_ARG_WORKSPACE, ws },
        { DNNL_ARG_DIFF_SRC_LAYER, dsrc }, { DNNL_ARG_DIFF_SRC_ITER, dh0 },
        { DNNL_ARG_DIFF_SRC_ITER_C, dc0 }, { DNNL_ARG_DIFF_WEIGHTS_LAYER, dwl },
        { DNNL_ARG_DIFF_WEIGHTS_ITER, dwi }, { DNNL_ARG_DIFF_BIAS, dbias },
        { DNNL_ARG_DIFF_DST_LAYER, ddst }, { DNNL_ARG_DIFF_DST_ITER, dhT },
        { DNNL_ARG_DIFF_DST_ITER_C, dcT },
    };
    int nf = (int)(sizeof fargs / sizeof fargs[0]), nb = (int)(sizeof bargs / sizeof bargs[0]);

    double *ms = calloc((size_t)repeat, sizeof *ms);
    for (int r = -warmup; r < repeat; r++) {
        double t0 = now_ms();
        CHECK(dnnl_primitive_execute(fwd, stream, nf, fargs));
        if (!same_wl) reorder(to_bwd_wl, wl_f, wl_b);
        if (!same_wi) reorder(to_bwd_wi, wi_f, wi_b);
        CHECK(dnnl_primitive_execute(bwd, stream, nb, bargs));
        CHECK(dnnl_stream_wait(stream));
        if (r >= 0) ms[r] = now_ms() - t0;
    }
    qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
    double med = repeat % 2 ? ms[repeat / 2] : 0.5 * (ms[repeat / 2 - 1] + ms[repeat / 2]);
    double flop = 3.0 * T * 2.0 * B * (double)(I + H) * 4.0 * H;
    printf("onednn lstm: forward+backward, T %d, B %d, I %d, H %d\n", T, B, I, H);
    printf("oneDNN: %d.%d.%d (%s)\n", dnnl_version()->major, dnnl_version()->minor,
           dnnl_version()->patch, dnnl_version()->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP"
                                                                                  : "other runtime");
    printf("weights reordered for backward: %s\n", same_wl && same_wi ? "no (same layout)" : "yes");
    printf("min ms: %.4f\n", ms[0]);
    printf("GFLOP a repetition: %.6g\n", flop * 1e-9);
    printf("GFLOP/s: %.2f\n", flop / (med * 1e6));
    printf("median ms: %.4f\n", med);
    return 0;
}
