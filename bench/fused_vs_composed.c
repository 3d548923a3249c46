/* bench/fused_vs_composed.c — one recurrent layer, forward + backward, the
 * fused fast path against the composed path, interleaved in one run.
 *
 *     meson setup build-bench -Dbench=true && ninja -C build-bench
 *     WEFT_NUM_THREADS=2 ./build-bench/bench/fused_vs_composed [cell] [T] [B] [H] [reps]
 *
 * Defaults: lstm, T = 50, B = 64, input = hidden = 512, 10 repetitions of
 * each path (after one warm-up of each). Prints the median time of each
 * path and their ratio. A sanity check, not the benchmark suite. */
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

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One forward + backward of the layer over xs; returns the milliseconds. */
static double run_once(weft_graph *g, const weft_rnn *rnn, weft_params *ps, const weft_tensor *xs,
                       bool composed)
{
    double t0 = now_ms();
    weft_graph_reset(g);
    weft_params_zero_grad(ps);
    weft_var *x = weft_input(g, xs, "xs", false);
    weft_rnn_out out;
    weft_unroll_opts opts = { .composed = composed };
    if (weft_unroll(g, rnn, x, &opts, &out) || weft_backward(g, weft_sum(g, out.seq))) {
        fprintf(stderr, "fused_vs_composed: %s\n", weft_graph_error(g));
        exit(1);
    }
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    const char *cell = argc > 1 ? argv[1] : "lstm";
    int T = argc > 2 ? atoi(argv[2]) : 50, B = argc > 3 ? atoi(argv[3]) : 64;
    int H = argc > 4 ? atoi(argv[4]) : 512, reps = argc > 5 ? atoi(argv[5]) : 10;
    char err[256];
    if (weft_runtime_init(err, sizeof err)) fprintf(stderr, "%s\n", err);
    weft_print_runtime(stdout);

    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = weft_cell_find(cell), .input_size = H, .hidden_size = H,
                            .num_layers = 1 };
    if (!cfg.cell || T < 1 || B < 1 || H < 1 || reps < 1) {
        fprintf(stderr, "usage: fused_vs_composed [cell] [T] [B] [H] [reps]\n");
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

    double *ms[2] = { calloc((size_t)reps, sizeof(double)), calloc((size_t)reps, sizeof(double)) };
    run_once(g, rnn, ps, &xs, false);   /* warm-up: the arena grows to size once */
    run_once(g, rnn, ps, &xs, true);
    for (int r = 0; r < reps; r++) {     /* A B A B ...: both paths see the same machine */
        ms[0][r] = run_once(g, rnn, ps, &xs, false);
        ms[1][r] = run_once(g, rnn, ps, &xs, true);
    }
    qsort(ms[0], (size_t)reps, sizeof(double), cmp_double);
    qsort(ms[1], (size_t)reps, sizeof(double), cmp_double);
    double fused = ms[0][reps / 2], composed = ms[1][reps / 2];
    printf("%s T=%d B=%d I=H=%d forward+backward, median of %d\n", cell, T, B, H, reps);
    printf("fused    %8.1f ms\n", fused);
    printf("composed %8.1f ms\n", composed);
    printf("composed / fused: %.2f\n", composed / fused);

    free(ms[0]);
    free(ms[1]);
    weft_graph_free(g);
    weft_tensor_release(&xs);
    weft_rnn_free(rnn);
    weft_params_free(ps);
    return 0;
}
