/* src/cli/cmd_bench_generate.c — `weft bench generate` and `weft bench eval`:
 * a language model's inference speed, tokens/s.
 *
 *     weft bench generate --config char --batch 1 --length 2000
 *     weft bench eval --config small --length 20000
 *
 * generate runs weft_lm_sample (what `weft sample` runs: one forward-only
 * step per token for all --batch streams, a draw per stream); eval runs
 * weft_lm_eval over one stream of --length random ids (what `weft eval`
 * runs on a file: windows of --bptt steps, the state carried). The model is
 * freshly initialised at the configuration's shape: the cost does not depend
 * on the weights or the text. bench/generate_side_by_side.py runs both
 * beside PyTorch (docs/performance.md). The last line is "median ms: X". */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"   /* weft_cli_now */

#include "weft/weft.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* CPU time of the process: on a machine shared with other work, what the
 * run itself cost (the wall clock also counts the time others held the core). */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The README's character model (docs/lm.md: 2 x 192, embed 32, about 70
 * characters) and Zaremba et al.'s small word model (2 x 200, 10,000 words). */
typedef struct infer_preset {
    const char *name;
    weft_text_level level;
    int vocab, layers, hidden, embed;
} infer_preset;

static const infer_preset presets[] = {
    { "char", WEFT_TEXT_CHARS, 70, 2, 192, 32 },
    { "small", WEFT_TEXT_WORDS, 10000, 2, 200, 200 },
};

/* A model of preset p with cell `cell`, initialised from seed; NULL with a
 * message on stderr. */
static weft_lm *preset_model(const char *prog, const infer_preset *p, const char *cell, int seed)
{
    char err[1024];
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
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    weft_lm_config cfg = { .level = p->level, .layers = p->layers, .hidden = p->hidden,
                           .embed = p->embed };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    weft_lm *m = weft_lm_new(&cfg, vocab, err, sizeof err);
    if (!m) {
        weft_vocab_free(vocab);
        fprintf(stderr, "%s: %s\n", prog, err);
        return NULL;
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)seed);
    weft_lm_init(m, &rng, 0.0f);
    return m;
}

static int bench_inference(int argc, char **argv, bool eval)
{
    const char *prog = eval ? "weft bench eval" : "weft bench generate";
    const char *config = "char", *cell = "lstm";
    int batch = 1, length = eval ? 20000 : 2000, bptt = 128, repeat = 5, warmup = 1, seed = 1,
        top_k = 0;
    float temperature = 1.0f, top_p = 0.0f;
    weft_flag flags[] = {
        { "config", WEFT_FLAG_STRING, &config, "NAME",
          "char (2 x 192, embed 32, 70 tokens) or small (2 x 200, 10000 tokens)", 0, 0 },
        { "cell", WEFT_FLAG_STRING, &cell, "NAME", "the cell (lstm, gru, rnn, ...), or a plugin FILE.so", 0, 0 },
        { "batch", WEFT_FLAG_INT, &batch, "B",
          eval ? "score as B parallel streams" : "streams generated at once", 1, 1 << 16 },
        { "tokens", WEFT_FLAG_INT, &length, "N",
          eval ? "tokens of the stream scored" : "tokens generated a stream", 2, 1 << 26 },
        { "repeat", WEFT_FLAG_INT, &repeat, "R", "timed repetitions", 1, 1000 },
        { "warmup-runs", WEFT_FLAG_INT, &warmup, "W", "untimed repetitions before timing", 0,
          1000 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the weights, the tokens and the draws", 0,
          0 },
        { "bptt", WEFT_FLAG_INT, &bptt, "T", "steps a scoring window (as weft eval)", 1, 1 << 20 },
        { "temperature", WEFT_FLAG_FLOAT, &temperature, "T",
          "divide the logits by T before drawing (0: always the most likely)", 0, 100 },
        { "top-k", WEFT_FLAG_INT, &top_k, "K", "draw among the K most likely only (0: all)", 0,
          1 << 24 },
        { "top-p", WEFT_FLAG_FLOAT, &top_p, "P",
          "draw from the smallest set of most likely tokens holding probability P (0: all)", 0,
          1 },
    };
    int n_flags = eval ? 8 : 7;   /* generate: no --bptt, then the three drawing flags */
    weft_flag used[11];
    memcpy(used, flags, (size_t)n_flags * sizeof *flags);
    if (!eval) {
        memcpy(used + 7, flags + 8, 3 * sizeof *flags);
        n_flags = 10;
    }
    weft_args_spec spec = {
        .prog = prog,
        .summary = eval ? "Time weft_lm_eval (weft eval) over one stream of random tokens."
                        : "Time weft_lm_sample (weft sample): tokens generated a second.",
        .groups = &(weft_flag_group){ "options", used, n_flags },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    const infer_preset *p = NULL;
    for (size_t k = 0; k < sizeof presets / sizeof presets[0]; k++)
        if (strcmp(config, presets[k].name) == 0) p = &presets[k];
    if (!p) {
        fprintf(stderr, "%s: --config '%s': expected char or small\n", prog, config);
        return WEFT_EXIT_USAGE;
    }
    char err[1024];
    void *plugin = NULL;   /* checked here; the model opens the cell again itself */
    if (!weft_cell_lookup(cell, &plugin, err, sizeof err)) {
        fprintf(stderr, "%s: --cell: %s\n", prog, err);
        return WEFT_EXIT_USAGE;
    }
    weft_cell_plugin_close(plugin);

    weft_lm *m = preset_model(prog, p, cell, seed);
    weft_graph *g = weft_graph_new();
    size_t n_out = eval ? (size_t)length : (size_t)batch * length;
    int *ids = malloc(n_out * sizeof *ids);
    double *ms = malloc(2 * (size_t)repeat * sizeof *ms), *cpu = ms + repeat;
    int status = WEFT_EXIT_FAIL;
    if (!m || !g || !ids || !ms) {
        if (m) fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)seed + 1);
    if (eval)
        for (int k = 0; k < length; k++) ids[k] = (int)weft_rng_below(&rng, (uint32_t)p->vocab);
    weft_lm_sample_opts o = { .length = length, .temperature = temperature, .top_k = top_k,
                              .top_p = top_p, .seed = (uint64_t)seed, .batch = batch };
    double nll = 0.0;
    size_t count = 0;
    for (int r = -warmup; r < repeat; r++) {
        double t0 = weft_cli_now(), c0 = cpu_ms();
        int bad = eval ? weft_lm_eval(m, g, ids, (size_t)length, batch, bptt, &nll, &count, err,
                                      sizeof err)
                       : weft_lm_sample(m, g, &o, ids, err, sizeof err);
        if (bad) {
            fprintf(stderr, "%s: %s\n", prog, err);
            goto done;
        }
        if (r >= 0) {
            ms[r] = (weft_cli_now() - t0) * 1e3;
            cpu[r] = cpu_ms() - c0;
        }
    }
    double med = weft_cli_median(ms, repeat), med_cpu = weft_cli_median(cpu, repeat);   /* ms[0]: the best */
    double tokens = eval ? (double)count : (double)batch * length;
    printf("model: %s (%s, %d x %d, embed %d, %d tokens), %d thread%s\n", p->name, cell,
           p->layers, p->hidden, p->embed, p->vocab, weft_num_threads(),
           weft_num_threads() == 1 ? "" : "s");
    if (eval) printf("scored: %.0f tokens, %d stream%s, bptt %d, perplexity %.2f\n", tokens,
                     batch, batch == 1 ? "" : "s", bptt, exp(nll / (double)count));
    else printf("generated: %d stream%s x %d tokens\n", batch, batch == 1 ? "" : "s", length);
    printf("tokens/s: %.0f (best %.0f)\n", tokens / (med * 1e-3), tokens / (ms[0] * 1e-3));
    printf("tokens/s of CPU time: %.0f\n", tokens / (med_cpu * 1e-3));
    printf("median CPU ms: %.3f\n", med_cpu);
    printf("median ms: %.3f\n", med);
    status = WEFT_EXIT_OK;
done:
    free(ms);
    free(ids);
    weft_graph_free(g);
    weft_lm_free(m);
    return status;
}

int weft_cli_bench_generate(int argc, char **argv)
{
    return bench_inference(argc, argv, false);
}

int weft_cli_bench_eval(int argc, char **argv)
{
    return bench_inference(argc, argv, true);
}
