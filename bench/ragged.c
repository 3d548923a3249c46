/* bench/ragged.c — what a ragged batch costs: a bidirectional LSTM layer,
 * forward and backward, over B sequences of lengths spread evenly over
 * 1..T, three ways in interleaved rounds:
 *
 *   padded     weft_unroll with lengths: every step runs all B rows (masked)
 *   by length  weft_unroll_opts.by_length: groups of similar length
 *   ideal      the same number of tokens as a full batch (B sequences of the
 *              mean length): what the sum of the lengths costs
 *
 *     WEFT_NUM_THREADS=1 build/bench/ragged [T B I H ROUNDS]   (defaults 64 64 128 128 5)
 *
 * Prints the median time of each and the ratios to the ideal. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft/weft.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One forward and backward of r over T x B inputs with these lengths (NULL:
 * all T); returns seconds. */
static double run(weft_graph *g, weft_rnn *r, weft_params *ps, const weft_tensor *x, int T, int B,
                  const int *len, bool by_length)
{
    double t0 = now();
    weft_graph_reset(g);
    weft_params_zero_grad(ps);
    weft_tensor view = weft_tensor_wrap(x->data, 3, (int[]){ T, B, x->shape[2] });
    weft_var *xs = weft_input(g, &view, "x", false);
    weft_rnn_out out;
    weft_unroll_opts o = { .lengths = len, .by_length = by_length };
    if (weft_unroll(g, r, xs, &o, &out) || weft_backward(g, weft_sum(g, out.seq))) {
        fprintf(stderr, "%s\n", weft_graph_error(g));
        exit(1);
    }
    return now() - t0;
}

static int by_time(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int T = argc > 1 ? atoi(argv[1]) : 64, B = argc > 2 ? atoi(argv[2]) : 64;
    int I = argc > 3 ? atoi(argv[3]) : 128, H = argc > 4 ? atoi(argv[4]) : 128;
    int rounds = argc > 5 ? atoi(argv[5]) : 5;
    if (T < 1 || B < 1 || I < 1 || H < 1 || rounds < 1 || rounds > 100) return 2;
    char env_err[256];
    if (weft_runtime_init(env_err, sizeof env_err)) fprintf(stderr, "%s\n", env_err);
    weft_print_runtime(stderr);
    weft_params *ps = weft_params_new();
    weft_rnn_config cfg = { .cell = weft_cell_find("lstm"), .input_size = I, .hidden_size = H,
                            .num_layers = 1, .bidirectional = true };
    char err[256];
    weft_rnn *r = weft_rnn_new(ps, &cfg, err, sizeof err);
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_rnn_reset_parameters(r, &rng);
    weft_tensor x = weft_tensor_alloc(3, (int[]){ T, B, I });
    weft_rng_fill_uniform(&rng, &x, -1.0f, 1.0f);
    int *len = malloc((size_t)B * sizeof *len);
    long tokens = 0;
    for (int b = 0; b < B; b++) {
        len[b] = 1 + (int)((long)(B - 1 - b) * (T - 1) / (B > 1 ? B - 1 : 1));   /* T .. 1 */
        tokens += len[b];
    }
    int Tm = (int)((tokens + B / 2) / B);   /* the ideal: B sequences of the mean length */
    weft_graph *g = weft_graph_new();
    double *t[3];
    for (int k = 0; k < 3; k++) t[k] = malloc((size_t)rounds * sizeof(double));
    run(g, r, ps, &x, T, B, len, false);   /* warm the arena */
    for (int i = 0; i < rounds; i++) {
        t[0][i] = run(g, r, ps, &x, T, B, len, false);
        t[1][i] = run(g, r, ps, &x, T, B, len, true);
        t[2][i] = run(g, r, ps, &x, Tm, B, NULL, false);
    }
    for (int k = 0; k < 3; k++) qsort(t[k], (size_t)rounds, sizeof(double), by_time);
    double padded = t[0][rounds / 2], grouped = t[1][rounds / 2], ideal = t[2][rounds / 2];
    printf("bidirectional LSTM, I %d, H %d, B %d, lengths %d..1 (%ld tokens; padded %d); "
           "forward + backward, median of %d rounds\n", I, H, B, T, tokens, T * B, rounds);
    printf("padded (masked)   %8.2f ms   %.2fx the ideal\n", 1e3 * padded, padded / ideal);
    printf("by length         %8.2f ms   %.2fx the ideal\n", 1e3 * grouped, grouped / ideal);
    printf("ideal (%d x %d)   %8.2f ms\n", Tm, B, 1e3 * ideal);
    return 0;
}
