/* src/cli/cmd_bench.c — `weft bench`: time a recurrent layer, a language
 * model's training step, and the sgemm that bounds them both.
 *
 *     weft bench layer --cell lstm --steps 50 --batch 64 --hidden 512 --backward
 *     weft bench lm --config small
 *     weft bench gemm --batch 64 --hidden 512
 *
 * Every command prints "key: value" lines on stdout and ends with the line
 * "median ms: X", which bench/side_by_side.py reads. Times are wall-clock
 * milliseconds of whole repetitions (graph reset to the last backward), after
 * warm-up repetitions that let the graph's arena grow to its size.
 *
 * FLOPs count 2*M*N*K per matrix product weft runs (weft_gemm_flops): a
 * weight matrix [out, in] used once per step on B rows is 2*B*out*in a step
 * (for an LSTM, 2*B*(I+H)*4H); backward adds the weight's gradient and the
 * input's, except where nothing wants it (the first layer's input is data,
 * the zero initial state). Elementwise work is not counted.
 *
 * The sgemm ceiling is measured here, with the same threads: BLIS's sgemm on
 * the per-step shape (B rows times a [N, K] weight, transposed as weft_linear
 * does) and on a large square. It is called through BLIS's own API: the
 * CLI sits above ops/ and may not use its private helpers. */
#include "src/cli/cli.h"

#include "weft/weft.h"

#include <blis.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

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

double weft_cli_median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* The process's peak resident memory so far, in bytes (Linux reports KiB). */
static double peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0.0;
    return (double)ru.ru_maxrss * 1024.0;
}

/* --- the sgemm ceiling ------------------------------------------------------------------- */

/* GFLOP/s of C[M, N] = A[M, K] W[N, K]ᵀ (weft_linear's product), BLIS with
 * the blocking weft's own products use (weft_blis_context): the best
 * of `batches` timed batches, each repeating the product until it has run
 * at least min_ms (and at least once). The best, not the median: on a
 * shared machine interference only ever slows a batch down, and a ceiling
 * is what can be reached. One untimed call first warms up. Returns 0 when
 * memory runs out. */
static double sgemm_gflops(int M, int N, int K, int batches, double min_ms)
{
    float *A = weft_aligned_alloc((size_t)M * K * sizeof(float));
    float *W = weft_aligned_alloc((size_t)N * K * sizeof(float));
    float *C = weft_aligned_alloc((size_t)M * N * sizeof(float));
    double *rate = calloc((size_t)batches, sizeof *rate);
    double result = 0.0;
    if (!A || !W || !C || !rate) goto done;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919u) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) W[i] = (float)((i * 104729u) % 1000) * 1e-3f - 0.5f;
    float one = 1.0f, zero = 0.0f;
    /* row-major: A's rows are K apart, W's rows K apart (read transposed), C's rows N apart */
#define WEFT_BENCH_SGEMM()                                                                    \
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, M, N, K, &one, A, K, 1, W, K, 1, &zero, C, N, \
                 1, weft_blis_context(), NULL)
    WEFT_BENCH_SGEMM();
    double flop = 2.0 * M * N * K;
    for (int b = 0; b < batches; b++) {
        int calls = 0;
        double t0 = now_ms(), t;
        do {
            WEFT_BENCH_SGEMM();
            calls++;
        } while ((t = now_ms() - t0) < min_ms);
        rate[b] = flop * calls / (t * 1e6);
    }
#undef WEFT_BENCH_SGEMM
    for (int b = 0; b < batches; b++) result = rate[b] > result ? rate[b] : result;
done:
    weft_aligned_free(A);
    weft_aligned_free(W);
    weft_aligned_free(C);
    free(rate);
    return result;
}

/* --- weft bench layer ---------------------------------------------------------------------- */

/* FLOPs of one forward step of a cell on B rows: 2*B*out*in per weight matrix. */
static double cell_step_flop(const weft_cell *c, int B)
{
    double flop = 0.0;
    for (int k = 0; k < c->n_params; k++)
        if (c->specs[k].rank == 2) flop += 2.0 * B * c->specs[k].shape[0] * c->specs[k].shape[1];
    return flop;
}

/* Floats per batch row and step that a cell's backward cannot do without
 * (the saved activations): LSTM the four activated gates, c and h (6H);
 * GRU r, z, n, W_hn h + b_hn and h (5H); Elman h (H). 0: not known for this
 * cell. */
static int saved_floats_per_row(const char *cell, int H)
{
    if (strcmp(cell, "lstm") == 0 || strcmp(cell, "lstm-b") == 0) return 6 * H;
    if (strcmp(cell, "gru") == 0) return 5 * H;
    if (strcmp(cell, "rnn") == 0 || strcmp(cell, "rnn-relu") == 0) return H;
    return 0;
}

typedef struct layer_bench {
    weft_graph *g;
    weft_params *ps;
    weft_rnn *rnn;
    weft_tensor xs;
    bool backward, composed;
} layer_bench;

/* One repetition: reset, unroll over xs, sum loss, backward if asked.
 * Returns the milliseconds, or -1 with the graph's error printed. */
static double layer_once(layer_bench *b)
{
    double t0 = now_ms();
    weft_graph_reset(b->g);
    if (b->backward) weft_params_zero_grad(b->ps);
    weft_var *x = weft_input(b->g, &b->xs, "xs", false);
    weft_rnn_out out;
    weft_unroll_opts opts = { .composed = b->composed };
    if (weft_unroll(b->g, b->rnn, x, &opts, &out)) goto fail;
    weft_var *loss = weft_sum(b->g, out.seq);
    if (!loss || weft_graph_failed(b->g)) goto fail;
    if (b->backward && weft_backward(b->g, loss)) goto fail;
    return now_ms() - t0;
fail:
    fprintf(stderr, "weft bench layer: %s\n",
            weft_graph_error(b->g) ? weft_graph_error(b->g) : "the unroll failed");
    return -1.0;
}

/* The model, its input and its graph for the layer bench. -1 with a message
 * in err: a bad configuration (b->rnn NULL) or out of memory. */
static int layer_bench_make(layer_bench *b, const weft_rnn_config *cfg, int T, int B, int seed,
                            char *err, size_t errsize)
{
    b->ps = weft_params_new();
    b->rnn = b->ps ? weft_rnn_new(b->ps, cfg, err, errsize) : NULL;
    if (!b->rnn) {
        if (!b->ps) snprintf(err, errsize, "out of memory");
        return -1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)seed);
    weft_rnn_reset_parameters(b->rnn, &rng);
    b->xs = weft_tensor_alloc(3, (int[]){ T, B, cfg->input_size });
    b->g = weft_graph_new();
    if (!b->xs.data || !b->g) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    weft_graph_set_low_memory(b->g, true);   /* as the trainers run */
    weft_rng_fill_uniform(&rng, &b->xs, -1.0f, 1.0f);
    return 0;
}

static void layer_bench_free(layer_bench *b)
{
    weft_graph_free(b->g);
    weft_tensor_release(&b->xs);
    weft_rnn_free(b->rnn);
    weft_params_free(b->ps);
}

/* What the layer bench measured. */
typedef struct layer_result {
    int T, B, repeat, warmup, gemm_size;
    double min_ms, median_ms;
    double flop;             /* products run, a repetition (weft_gemm_flops) */
    double nominal_flop;     /* the textbook count, backward twice forward */
    size_t arena;            /* arena bytes after a repetition */
    double rss0, rss;        /* peak resident bytes before the model, after the timing */
    int gemm_N, gemm_K;      /* the per-step shape of the first layer's weights */
    double step_gemm, big_gemm;   /* sgemm GFLOP/s at that shape and the square (0: not run) */
} layer_result;

/* The warm-up and timed repetitions, the products they ran and the memory
 * they held. -1 when a repetition failed (its error printed). */
static int layer_time(layer_bench *b, layer_result *r)
{
    double *ms = calloc((size_t)r->repeat, sizeof *ms);
    if (!ms) {
        fprintf(stderr, "weft bench layer: out of memory\n");
        return -1;
    }
    int rc = -1;
    for (int k = 0; k < r->warmup; k++)
        if (layer_once(b) < 0) goto done;
    unsigned long long flops_before = weft_gemm_flops();
    for (int k = 0; k < r->repeat; k++)
        if ((ms[k] = layer_once(b)) < 0) goto done;
    r->arena = weft_graph_arena_used(b->g);
    r->rss = peak_rss_bytes();   /* before the ceiling's own buffers */

    /* The work: the matrix products weft ran (weft_gemm_flops), a repetition.
     * The textbook count, backward twice forward, also has the first layer's
     * input gradient, which nothing asks for here (the input is data): it is
     * printed beside, not used. */
    r->flop = (double)(weft_gemm_flops() - flops_before) / r->repeat;
    const weft_rnn_config *cfg = weft_rnn_get_config(b->rnn);
    double step_flop = 0.0;
    for (int l = 0; l < cfg->num_layers; l++)
        for (int d = 0; d < weft_rnn_dirs(b->rnn); d++)
            step_flop += cell_step_flop(weft_rnn_cell(b->rnn, l, d), r->B);
    r->nominal_flop = step_flop * r->T * (b->backward ? 3.0 : 1.0);
    r->min_ms = ms[0];
    for (int k = 1; k < r->repeat; k++) r->min_ms = ms[k] < r->min_ms ? ms[k] : r->min_ms;
    r->median_ms = weft_cli_median(ms, r->repeat);
    rc = 0;
done:
    free(ms);
    return rc;
}

/* The sgemm ceiling measured here: the per-step shape (the first layer's
 * weight matrices side by side, [N, K] with N the rows of the first; LSTM:
 * 4H x (I + H)) and a gemm_size cube (0: skipped). */
static void layer_ceilings(const layer_bench *b, int gemm_size, layer_result *r)
{
    const weft_cell *c0 = weft_rnn_cell(b->rnn, 0, 0);
    r->gemm_N = 0;
    for (int k = 0; k < c0->n_params && !r->gemm_N; k++)
        if (c0->specs[k].rank == 2) r->gemm_N = c0->specs[k].shape[0];
    r->gemm_K = r->gemm_N ? (int)lround(cell_step_flop(c0, 1) / (2.0 * r->gemm_N)) : 0;
    r->step_gemm = r->gemm_N ? sgemm_gflops(r->B, r->gemm_N, r->gemm_K, 5, 30.0) : 0.0;
    r->big_gemm = gemm_size > 0 ? sgemm_gflops(gemm_size, gemm_size, gemm_size, 3, 100.0) : 0.0;
    r->gemm_size = gemm_size;
}

static void print_layer_result(const layer_bench *b, const weft_rnn_config *cfg,
                               const layer_result *r)
{
    int T = r->T, B = r->B, layers = cfg->num_layers, dirs = weft_rnn_dirs(b->rnn);
    int H = cfg->hidden_size, gemm_size = r->gemm_size;
    double med = r->median_ms, gflops = r->flop / (med * 1e6);
    double step_gemm = r->step_gemm, big_gemm = r->big_gemm;
    printf("bench layer: %s, %d layer%s%s, %s%s, T %d, B %d, I %d, H %d\n", cfg->cell->name,
           layers, layers == 1 ? "" : "s", cfg->bidirectional ? " bidirectional" : "",
           b->backward ? "forward+backward" : "forward", b->composed ? ", composed step" : "", T,
           B, cfg->input_size, H);
    printf("threads: %d\n", weft_num_threads());
    printf("repetitions: %d (after %d warm-up)\n", r->repeat, r->warmup);
    printf("min ms: %.4f\n", r->min_ms);
    printf("throughput: %.1f sequences/s, %.0f steps/s (steps x batch)\n", B * 1e3 / med,
           (double)T * B * 1e3 / med);
    printf("GFLOP a repetition: %.6g (the products run; backward counted as twice forward: "
           "%.6g)\n", r->flop * 1e-9, r->nominal_flop * 1e-9);
    printf("GFLOP/s: %.2f\n", gflops);
    if (r->gemm_N) {
        printf("sgemm per-step shape: %d x %d x %d: %.2f GFLOP/s\n", B, r->gemm_N, r->gemm_K,
               step_gemm);
        printf("fraction of per-step sgemm: %.1f%%\n", step_gemm > 0 ? 100.0 * gflops / step_gemm
                                                                     : 0.0);
    }
    if (gemm_size > 0) {
        printf("sgemm square: %d x %d x %d: %.2f GFLOP/s\n", gemm_size, gemm_size, gemm_size,
               big_gemm);
        printf("fraction of square sgemm: %.1f%%\n", big_gemm > 0 ? 100.0 * gflops / big_gemm
                                                                  : 0.0);
    }
    /* The ceiling is the faster of the two: the fast path does not run the
     * per-step shape alone (its input projection and weight gradients are
     * products over all T x B rows), so that shape can be slower than the
     * layer as a whole. */
    double ceiling = step_gemm > big_gemm ? step_gemm : big_gemm;
    printf("fraction of sgemm ceiling: %.1f%% (of %.2f GFLOP/s, the faster of the two)\n",
           ceiling > 0 ? 100.0 * gflops / ceiling : 0.0, ceiling);
    printf("peak memory: %.1f MB (ru_maxrss; %.1f MB before the model)\n", r->rss / 1e6,
           r->rss0 / 1e6);
    printf("arena bytes: %zu (%s)\n", r->arena, b->backward ? "values, saved buffers and gradients"
                                                           : "values and saved buffers");
    int need = saved_floats_per_row(cfg->cell->name, H);
    double per_step = (double)r->arena / T;
    if (need > 0) {
        double need_step = (double)need * B * layers * dirs * sizeof(float);
        printf("memory per step: %.0f bytes (arena / T); saved activations need %.0f bytes "
               "(x%.2f)\n", per_step, need_step, per_step / need_step);
        printf("memory vs floor: %.2f (arena per step over the saved activations)\n",
               per_step / need_step);
    } else {
        printf("memory per step: %.0f bytes (arena / T)\n", per_step);
    }
    printf("median ms: %.4f\n", med);
    fflush(stdout);
}

static int bench_layer(int argc, char **argv)
{
    const char *cell_name = "lstm";
    int T = 50, B = 64, I = 0, H = 512, layers = 1, repeat = 10, warmup = 2, gemm_size = 2048;
    int seed = 1;
    bool bidirectional = false, backward = false, composed = false;
    const weft_flag flags[] = {
        { "cell", WEFT_FLAG_STRING, &cell_name, "NAME", "the cell (see 'weft cells'), or a plugin FILE.so", 0, 0 },
        { "steps", WEFT_FLAG_INT, &T, "T", "time steps", 1, 100000 },
        { "batch", WEFT_FLAG_INT, &B, "B", "sequences in the batch", 1, 100000 },
        { "input", WEFT_FLAG_INT, &I, "I", "input width (default: H)", 1, 65536 },
        { "hidden", WEFT_FLAG_INT, &H, "H", "hidden width", 1, 65536 },
        { "layers", WEFT_FLAG_INT, &layers, "N", "stacked layers", 1, 64 },
        { "bidirectional", WEFT_FLAG_BOOL, &bidirectional, NULL, "both directions", 0, 0 },
        { "backward", WEFT_FLAG_BOOL, &backward, NULL, "time forward and backward (default: "
          "forward only)", 0, 0 },
        { "composed", WEFT_FLAG_BOOL, &composed, NULL, "the cell's composed step (one op at a "
          "time), not its fast path", 0, 0 },
        { "repeat", WEFT_FLAG_INT, &repeat, "R", "timed repetitions", 1, 100000 },
        { "warmup-runs", WEFT_FLAG_INT, &warmup, "W", "untimed repetitions first", 0, 100000 },
        { "gemm-size", WEFT_FLAG_INT, &gemm_size, "S", "side of the large square sgemm of the "
          "ceiling (0: skip it)", 0, 16384 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the weights and the input", 0, 0 },
    };
    weft_args_spec spec = {
        .prog = "weft bench layer",
        .summary = "Time a recurrent layer (weft_unroll) over random input with a sum loss.",
        .details =
            "Prints the median and minimum time of a repetition, the throughput, GFLOP/s\n"
            "(2*M*N*K per matrix product run, and the textbook count beside), the sgemm\n"
            "ceiling measured here with the same threads (the per-step shape B x N x K of\n"
            "the cell's weights, and an S x S x S square; the ceiling is the faster) and\n"
            "the fraction of each reached, the peak resident memory and the arena bytes\n"
            "per unrolled step against the saved activations backward needs (lstm, gru,\n"
            "rnn). The last line is 'median ms: X'.\n\n"
            "example: weft bench layer --cell lstm --steps 50 --batch 64 --hidden 512 "
            "--backward --threads 2",
        .groups = &(weft_flag_group){ "options", flags, (int)(sizeof flags / sizeof flags[0]) },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (I == 0) I = H;
    char err[1024];
    void *plugin = NULL;   /* a cell from a shared object (FILE.so), closed at the end */
    const weft_cell_type *type = weft_cell_lookup(cell_name, &plugin, err, sizeof err);
    if (!type) {
        fprintf(stderr, "weft bench layer: --cell: %s\n", err);
        return WEFT_EXIT_USAGE;
    }

    double rss0 = peak_rss_bytes();
    layer_bench b = { .backward = backward, .composed = composed };
    weft_rnn_config cfg = { .cell = type, .input_size = I, .hidden_size = H,
                            .num_layers = layers, .bidirectional = bidirectional };
    if (layer_bench_make(&b, &cfg, T, B, seed, err, sizeof err)) {
        fprintf(stderr, "weft bench layer: %s\n", err);
        layer_bench_free(&b);
        weft_cell_plugin_close(plugin);
        return b.rnn ? WEFT_EXIT_FAIL : weft_cli_build_status("weft bench layer", err);
    }
    layer_result res = { .T = T, .B = B, .repeat = repeat, .warmup = warmup, .rss0 = rss0 };
    int status = WEFT_EXIT_FAIL;
    if (layer_time(&b, &res) == 0) {
        layer_ceilings(&b, gemm_size, &res);
        print_layer_result(&b, &cfg, &res);
        status = WEFT_EXIT_OK;
    }
    layer_bench_free(&b);
    weft_cell_plugin_close(plugin);
    return status;
}

/* --- weft bench lm ------------------------------------------------------------------------- */

/* The issue's three language models (Zaremba et al.'s small and medium word
 * models, a character model). */
typedef struct lm_preset {
    const char *name;
    weft_text_level level;
    int vocab, layers, hidden, batch, bptt;
    float dropout;
} lm_preset;

static const lm_preset lm_presets[] = {
    { "small", WEFT_TEXT_WORDS, 10000, 2, 200, 20, 20, 0.0f },
    { "medium", WEFT_TEXT_WORDS, 10000, 2, 650, 20, 35, 0.5f },
    { "char", WEFT_TEXT_CHARS, 65, 2, 512, 50, 100, 0.0f },
};

static int bench_lm(int argc, char **argv)
{
    const char *config = "small", *cell = "lstm";
    int steps = 10, warmup = 2, seed = 1;
    const weft_flag flags[] = {
        { "config", WEFT_FLAG_STRING, &config, "NAME", "small, medium or char", 0, 0 },
        { "cell", WEFT_FLAG_STRING, &cell, "NAME", "the cell (lstm, gru, rnn, ...), or a plugin FILE.so", 0, 0 },
        { "train-steps", WEFT_FLAG_INT, &steps, "N", "timed training steps (windows)", 1,
          100000 },
        { "warmup-runs", WEFT_FLAG_INT, &warmup, "W", "untimed training steps first", 0,
          100000 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the weights and the tokens", 0, 0 },
    };
    weft_args_spec spec = {
        .prog = "weft bench lm",
        .summary = "Time a language model's training step on random tokens.",
        .details =
            "A step is one window of truncated BPTT (weft_lm_train_window): forward,\n"
            "mean cross-entropy, backward, gradient norm clipped to 5, SGD (lr 1), the\n"
            "state carried to the next window. The tokens are random: the cost does not\n"
            "depend on the text.\n\n"
            "configurations:\n"
            "  small    vocabulary 10000, 2 x 200, batch 20, bptt 20\n"
            "  medium   vocabulary 10000, 2 x 650, batch 20, bptt 35, dropout 0.5\n"
            "  char     vocabulary 65, 2 x 512, batch 50, bptt 100\n"
            "(the embedding is as wide as the hidden state). Prints tokens/s, the median\n"
            "and minimum time of a step and the peak resident memory; the last line is\n"
            "'median ms: X'.",
        .groups = &(weft_flag_group){ "options", flags, (int)(sizeof flags / sizeof flags[0]) },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    const lm_preset *p = NULL;
    for (size_t k = 0; k < sizeof lm_presets / sizeof lm_presets[0]; k++)
        if (strcmp(config, lm_presets[k].name) == 0) p = &lm_presets[k];
    if (!p) {
        fprintf(stderr, "weft bench lm: --config '%s': expected small, medium or char\n", config);
        return WEFT_EXIT_USAGE;
    }
    char err[1024];
    void *plugin = NULL;   /* checked here; the model opens the cell again itself */
    if (!weft_cell_lookup(cell, &plugin, err, sizeof err)) {
        fprintf(stderr, "weft bench lm: --cell: %s\n", err);
        return WEFT_EXIT_USAGE;
    }
    weft_cell_plugin_close(plugin);

    double rss0 = peak_rss_bytes();
    weft_vocab *vocab = weft_vocab_new();
    for (int k = 0; vocab && k < p->vocab; k++) {
        char tok[16];
        int len = snprintf(tok, sizeof tok, "w%d", k);
        if (weft_vocab_add(vocab, tok, (size_t)len) < 0) {
            weft_vocab_free(vocab);
            vocab = NULL;
        }
    }
    if (!vocab) {
        fprintf(stderr, "weft bench lm: out of memory\n");
        return WEFT_EXIT_FAIL;
    }
    weft_lm_config cfg = { .level = p->level, .layers = p->layers, .hidden = p->hidden,
                           .embed = p->hidden, .dropout = p->dropout };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    weft_lm *m = weft_lm_new(&cfg, vocab, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft bench lm: %s\n", err);
        weft_vocab_free(vocab);
        return weft_cli_build_status("weft bench lm", err);
    }
    weft_rng rng, drop_rng;
    weft_rng_seed(&rng, (uint64_t)seed);
    weft_rng_seed(&drop_rng, (uint64_t)seed + 1);
    weft_lm_init(m, &rng, 0.0f);

    int T = p->bptt, B = p->batch, status = WEFT_EXIT_FAIL;
    int *inputs = malloc((size_t)T * B * sizeof *inputs);
    int *targets = malloc((size_t)T * B * sizeof *targets);
    double *ms = calloc((size_t)steps, sizeof *ms);
    weft_graph *g = weft_graph_new();
    weft_state carry = { 0 };
    weft_optim opt = weft_optim_sgd(1.0);
    if (!inputs || !targets || !ms || !g) {
        fprintf(stderr, "weft bench lm: out of memory\n");
        goto done;
    }
    weft_graph_set_low_memory(g, true);   /* as the trainer runs */
    for (int s = 0; s < warmup + steps; s++) {
        for (int k = 0; k < T * B; k++) {
            inputs[k] = (int)weft_rng_below(&rng, (uint32_t)p->vocab);
            targets[k] = (int)weft_rng_below(&rng, (uint32_t)p->vocab);
        }
        double t0 = now_ms();
        if (weft_lm_train_window(m, g, inputs, targets, T, B, &carry, &opt, 5.0f,
                                 p->dropout > 0.0f ? &drop_rng : NULL, NULL, err, sizeof err)) {
            fprintf(stderr, "weft bench lm: step %d: %s\n", s + 1, err);
            goto done;
        }
        if (s >= warmup) ms[s - warmup] = now_ms() - t0;
    }
    double rss = peak_rss_bytes();
    double min_ms = ms[0];
    for (int r = 1; r < steps; r++) min_ms = ms[r] < min_ms ? ms[r] : min_ms;
    double med = weft_cli_median(ms, steps);
    size_t n_params = weft_params_numel(m->params);

    printf("bench lm: %s, %s, vocabulary %d, %d x %d, batch %d, bptt %d, dropout %g\n", p->name,
           cell, p->vocab, p->layers, p->hidden, B, T, (double)p->dropout);
    printf("threads: %d\n", weft_num_threads());
    printf("steps: %d (after %d warm-up)\n", steps, warmup);
    printf("tokens/s: %.0f\n", (double)T * B * 1e3 / med);
    printf("min ms: %.4f\n", min_ms);
    printf("parameters: %zu (%.1f MB with their gradients)\n", n_params,
           2.0 * (double)n_params * sizeof(float) / 1e6);
    printf("arena bytes: %zu\n", weft_graph_arena_capacity(g));
    printf("peak memory: %.1f MB (ru_maxrss; %.1f MB before the model)\n", rss / 1e6, rss0 / 1e6);
    printf("median ms: %.4f\n", med);
    fflush(stdout);
    status = WEFT_EXIT_OK;
done:
    weft_state_free(&carry);
    weft_graph_free(g);
    free(ms);
    free(targets);
    free(inputs);
    weft_lm_free(m);
    return status;
}

/* --- weft bench gemm ----------------------------------------------------------------------- */

static int bench_gemm(int argc, char **argv)
{
    int M = 64, N = 2048, K = 1024, size = 2048;
    const weft_flag flags[] = {
        { "m", WEFT_FLAG_INT, &M, "M", "rows of the small product (the batch)", 1, 65536 },
        { "n", WEFT_FLAG_INT, &N, "N", "its output width (LSTM: 4H)", 1, 65536 },
        { "k", WEFT_FLAG_INT, &K, "K", "its inner width (LSTM: I + H)", 1, 65536 },
        { "size", WEFT_FLAG_INT, &size, "S", "side of the large square (0: skip it)", 0, 16384 },
    };
    weft_args_spec spec = {
        .prog = "weft bench gemm",
        .summary = "Measure BLIS's sgemm: the ceiling the other benchmarks compare against.",
        .details = "C[M, N] = A[M, K] W[N, K]^T, as weft_linear computes it, and an S x S x S\n"
                   "square. The last line is 'median ms: X' (one product of the M x N x K shape).",
        .groups = &(weft_flag_group){ "options", flags, (int)(sizeof flags / sizeof flags[0]) },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    double small = sgemm_gflops(M, N, K, 5, 50.0);
    printf("threads: %d\n", weft_num_threads());
    printf("sgemm per-step shape: %d x %d x %d: %.2f GFLOP/s\n", M, N, K, small);
    if (size > 0)
        printf("sgemm square: %d x %d x %d: %.2f GFLOP/s\n", size, size, size,
               sgemm_gflops(size, size, size, 3, 100.0));
    printf("median ms: %.4f\n", small > 0 ? 2.0 * M * N * K / (small * 1e6) : 0.0);
    return small > 0 ? WEFT_EXIT_OK : WEFT_EXIT_FAIL;
}

/* --- dispatch ------------------------------------------------------------------------------ */

int weft_cmd_bench(int argc, char **argv)
{
    static const weft_args_sub sub[] = {
        { "layer", "bench layer", bench_layer },
        { "lm", "bench lm", bench_lm },
        { "gemm", "bench gemm", bench_gemm },
        { "generate", "bench generate", weft_cli_bench_generate },
        { "eval", "bench eval", weft_cli_bench_eval },
    };
    int status;
    if (weft_args_run_sub(argc, argv, sub, sizeof sub / sizeof sub[0], &status)) return status;
    bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
    FILE *out = help ? stdout : stderr;
    fprintf(out, "usage: weft bench layer|lm|gemm|generate|eval [options]\n\n"
                 "Time weft's recurrent layers and language models against the sgemm ceiling.\n"
                 "  layer   one recurrent layer (stack), forward or forward+backward\n"
                 "  lm      a language model's training step: small, medium or char\n"
                 "  gemm    BLIS's sgemm alone: the ceiling\n"
                 "  generate  a language model's generation (weft sample): tokens/s\n"
                 "  eval    a language model scoring a stream (weft eval): tokens/s\n"
                 "'weft bench COMMAND --help' describes a command. bench/side_by_side.py runs\n"
                 "them beside PyTorch (docs/performance.md).\n");
    if (help) return WEFT_EXIT_OK;
    if (argc >= 2) fprintf(stderr, "\nweft bench: unknown command '%s'\n", argv[1]);
    else fprintf(stderr, "\nweft bench: no command given\n");
    return WEFT_EXIT_USAGE;
}
