/* bench/fused_vs_composed.c — one recurrent layer, forward + backward, the
 * fused fast path against the composed path, interleaved in one run.
 *
 *     meson setup build-bench -Dbench=true && ninja -C build-bench
 *     WEFT_NUM_THREADS=2 ./build-bench/bench/fused_vs_composed [cell] [T] [B] [H] [reps] [which]
 *
 * Defaults: lstm, T = 50, B = 64, input = hidden = 512, 10 repetitions of
 * each path (after one warm-up of each), which = both (or fused, composed:
 * only that path, for a profiler). Prints the median wall time of each path,
 * the median CPU time of the process (all threads; on a busy machine the
 * steadier of the two for one thread) and their ratio. A sanity check, not
 * the benchmark suite.
 *
 * For lstm, gru and the Elman cells it also prints GFLOP/s, counting
 * 2·M·N·K per product: the layer does 6·T·B·G·H·(I + H) (the input and the
 * recurrent products, each forward, dX and dW), and the same figure for a
 * plain sgemm of the projection's shape [T·B, I] x [I, G·H] measured right
 * after, on the same threads: the ceiling.
 *
 * Last, the graph memory one more step costs (arena bytes after forward +
 * backward at T + 10 steps less those at T, over 10), beside what the
 * saved activations strictly need. */
#include <blis.h>
#include "weft/weft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b);

/* GFLOP/s of C[m, n] = A[m, k] B[k, n] through BLIS (median of reps, after a
 * warm-up), by wall time and by CPU time. */
static void sgemm_ceiling(int m, int n, int k, int reps, double *wall, double *cpu)
{
    float *A = calloc((size_t)m * k, sizeof(float)), *B = calloc((size_t)k * n, sizeof(float));
    float *C = calloc((size_t)m * n, sizeof(float));
    float one = 1.0f, zero = 0.0f;
    for (size_t i = 0; i < (size_t)m * k; i++) A[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * n; i++) B[i] = (float)(i % 5) * 0.1f;
    double *w = calloc((size_t)reps, sizeof(double)), *c = calloc((size_t)reps, sizeof(double));
    for (int r = -1; r < reps; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, m, n, k, &one, A, k, 1, B, n, 1, &zero, C,
                  n, 1);
        if (r >= 0) w[r] = now_ms() - t0, c[r] = cpu_ms() - c0;
    }
    qsort(w, (size_t)reps, sizeof(double), cmp_double);
    qsort(c, (size_t)reps, sizeof(double), cmp_double);
    double flop = 2.0 * m * n * k;
    *wall = flop / (w[reps / 2] * 1e6);
    *cpu = flop / (c[reps / 2] * 1e6);
    free(A);
    free(B);
    free(C);
    free(w);
    free(c);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One forward + backward of the layer over xs; returns the milliseconds,
 * and the process's CPU milliseconds in *cpu. */
static double run_once(weft_graph *g, const weft_rnn *rnn, weft_params *ps, const weft_tensor *xs,
                       bool composed, double *cpu)
{
    double t0 = now_ms(), c0 = cpu_ms();
    weft_graph_reset(g);
    weft_params_zero_grad(ps);
    weft_var *x = weft_input(g, xs, "xs", false);
    weft_rnn_out out;
    weft_unroll_opts opts = { .composed = composed };
    if (weft_unroll(g, rnn, x, &opts, &out) || weft_backward(g, weft_sum(g, out.seq))) {
        fprintf(stderr, "fused_vs_composed: %s\n", weft_graph_error(g));
        exit(1);
    }
    *cpu = cpu_ms() - c0;
    return now_ms() - t0;
}

/* Arena bytes after forward + backward over the first `steps` steps of xs. */
static size_t arena_after(const weft_rnn *rnn, weft_params *ps, const weft_tensor *xs, int steps,
                          bool composed)
{
    weft_tensor part = weft_tensor_view_rows(xs, 0, steps);
    weft_graph *g = weft_graph_new();
    double ignore;
    run_once(g, rnn, ps, &part, composed, &ignore);
    size_t used = weft_graph_arena_used(g);
    weft_graph_free(g);
    return used;
}

int main(int argc, char **argv)
{
    const char *cell = argc > 1 ? argv[1] : "lstm";
    int T = argc > 2 ? atoi(argv[2]) : 50, B = argc > 3 ? atoi(argv[3]) : 64;
    int H = argc > 4 ? atoi(argv[4]) : 512, reps = argc > 5 ? atoi(argv[5]) : 10;
    const char *which = argc > 6 ? argv[6] : "both";
    bool run[2] = { strcmp(which, "composed") != 0, strcmp(which, "fused") != 0 };
    char err[256];
    if (weft_runtime_init(err, sizeof err)) fprintf(stderr, "%s\n", err);
    weft_print_runtime(stdout);

    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = H, .hidden_size = H,
                            .num_layers = 1 };
    if (!cfg.cell || T < 1 || B < 1 || H < 1 || reps < 1 || (!run[0] && !run[1]) ||
        (strcmp(which, "both") && strcmp(which, "fused") && strcmp(which, "composed"))) {
        fprintf(stderr, "usage: fused_vs_composed [cell] [T] [B] [H] [reps] "
                "[both|fused|composed]\n");
        return 2;
    }
    weft_rnn *rnn = weft_rnn_new(ps, &cfg, err, sizeof err);
    if (!rnn) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_rnn_reset_parameters(rnn, &rng);
    weft_tensor xs = weft_tensor_alloc(3, (int[]){ T, B, H });
    weft_rng_fill_uniform(&rng, &xs, -1.0f, 1.0f);
    weft_graph *g = weft_graph_new();

    double *ms[4];
    for (int k = 0; k < 4; k++) ms[k] = calloc((size_t)reps, sizeof(double));
    double ignore;
    for (int p = 0; p < 2; p++)          /* warm-up: the arena grows to size once */
        if (run[p]) run_once(g, rnn, ps, &xs, p == 1, &ignore);
    for (int r = 0; r < reps; r++)       /* A B A B ...: both paths see the same machine */
        for (int p = 0; p < 2; p++)
            if (run[p]) ms[p][r] = run_once(g, rnn, ps, &xs, p == 1, &ms[2 + p][r]);
    for (int k = 0; k < 4; k++) qsort(ms[k], (size_t)reps, sizeof(double), cmp_double);
    printf("%s T=%d B=%d I=H=%d forward+backward, median of %d\n", cell, T, B, H, reps);
    static const char *names[2] = { "fused   ", "composed" };
    for (int p = 0; p < 2; p++)
        if (run[p]) printf("%s %8.1f ms  (cpu %8.1f ms)\n", names[p], ms[p][reps / 2],
                           ms[2 + p][reps / 2]);
    if (run[0] && run[1])
        printf("composed / fused: %.2f  (cpu %.2f)\n", ms[1][reps / 2] / ms[0][reps / 2],
               ms[3][reps / 2] / ms[2][reps / 2]);
    int G = !strcmp(cell, "lstm") || !strcmp(cell, "lstm-b") ? 4 : !strcmp(cell, "gru") ? 3
          : !strcmp(cell, "rnn") || !strcmp(cell, "rnn-relu") ? 1 : 0;
    if (G) {
        double flop = 6.0 * T * B * G * H * (2.0 * H), cw, cc;
        sgemm_ceiling(T * B, G * H, H, reps, &cw, &cc);
        printf("sgemm [%d, %d] x [%d, %d]: %.1f GFLOP/s (cpu %.1f)\n", T * B, H, H, G * H, cw, cc);
        for (int p = 0; p < 2; p++) {
            if (!run[p]) continue;
            double gw = flop / (ms[p][reps / 2] * 1e6), gc = flop / (ms[2 + p][reps / 2] * 1e6);
            printf("%s %.1f GFLOP/s = %.0f%% of sgemm (cpu %.1f = %.0f%%)\n", names[p], gw,
                   100.0 * gw / cw, gc, 100.0 * gc / cc);
        }
    }

    if (T > 10) {
        for (int p = 0; p < 2; p++) {
            if (!run[p]) continue;
            size_t a = arena_after(rnn, ps, &xs, T - 10, p == 1), b = arena_after(rnn, ps, &xs, T, p == 1);
            printf("%s graph memory per step: %.1f KB\n", names[p], (double)(b - a) / 10 / 1024);
        }
        /* what backward needs kept per step: the gates' activations and c (LSTM: i f g o,
         * c_{t-1}, tanh c_t; GRU: r z n, u_n; Elman: h_t), each B x H floats */
        int need = !strcmp(cell, "lstm") || !strcmp(cell, "lstm-b") ? 6 : G == 3 ? 4 : 1;
        printf("saved activations need: %.1f KB per step (%d x B x H floats)\n",
               (double)need * B * H * 4 / 1024, need);
    }

    for (int k = 2; k < 4; k++) free(ms[k]);
    free(ms[0]);
    free(ms[1]);
    weft_graph_free(g);
    weft_tensor_release(&xs);
    weft_rnn_free(rnn);
    weft_params_free(ps);
    return 0;
}
