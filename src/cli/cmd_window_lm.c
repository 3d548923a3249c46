/* src/cli/cmd_window_lm.c — Bengio et al. (2003)'s fixed-window language
 * model from the command line (weft/window_lm.h):
 *
 *     weft train --task window-lm --data TRAIN [--valid VALID] --order N --embed M
 *                --hidden H [--direct] ...
 *     weft eval --model MODEL --data FILE        (last line: perplexity: X)
 *     weft sample --model MODEL [--prime TEXT] ...
 *
 * `weft train --task window-lm` hands its arguments here (weft_args_peek), and
 * so do `weft eval` and `weft sample` when the model file's weft.config says
 * task "window-lm" (or --task window-lm is given).
 *
 * Training: every token of the training text after the first is one example
 * (its n-1 previous tokens, padded at the start of the text, and itself); an
 * epoch visits them in a fresh random order, in minibatches of --batch, one
 * optimizer step each. After each epoch the validation perplexity is
 * measured (as `weft eval` computes it) and the best model is saved. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/window_lm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Contexts scored at once by evaluation (validation and `weft eval`). */
#define EVAL_BATCH 512

/* --task, when given, must be window-lm. */
static int check_task(const char *prog, const char *task)
{
    if (task && strcmp(task, "window-lm") != 0) {
        fprintf(stderr, "%s: --task is '%s'; this command handles --task window-lm\n", prog,
                task);
        return -1;
    }
    return 0;
}

static int *read_encode(const char *prog, const char *path, weft_text_level level,
                        const weft_vocab *v, size_t *n)
{
    char err[512];
    weft_tokens t;
    if (weft_tokens_read(path, level, &t, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return NULL;
    }
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    if (!ids) fprintf(stderr, "%s: %s: %s\n", prog, path, err);
    *n = t.count;
    weft_tokens_free(&t);
    return ids;
}

/* --- weft train --task window-lm --------------------------------------------------------------- */

typedef struct wlm_flags {
    const char *task, *data, *valid, *level, *optim, *save, *log;
    int order, embed, hidden, batch, epochs, decay_start, seed, min_count, max_vocab;
    float lr, clip, dropout, decay;
    bool direct;
} wlm_flags;

static int train(const wlm_flags *fl)
{
    char err[1024];
    weft_text_level level;
    weft_optim opt;
    if (weft_cli_train_text(fl->level, fl->data, &level) ||
        weft_cli_optim(fl->optim, fl->lr, &opt))
        return WEFT_EXIT_USAGE;

    int status = WEFT_EXIT_FAIL;
    weft_tokens train_t = { 0 }, valid_t = { 0 };
    weft_window_lm *m = NULL;
    int *train_ids = NULL, *valid_ids = NULL, *ctx = NULL, *tgt = NULL;
    size_t *order = NULL;
    weft_graph *g = NULL;
    FILE *log = NULL;
    const char *save = fl->save;

    weft_vocab *vocab = weft_cli_train_vocab(fl->data, fl->valid, level, fl->min_count,
                                             fl->max_vocab, &train_t, &valid_t);
    if (!vocab) goto done;
    weft_window_lm_config cfg = { .level = level, .order = fl->order, .embed = fl->embed,
                                  .hidden = fl->hidden, .direct = fl->direct,
                                  .dropout = fl->dropout };
    m = weft_window_lm_new(&cfg, vocab, err, sizeof err);
    if (!m) {
        weft_vocab_free(vocab);
        fprintf(stderr, "weft train: %s\n", err);
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)fl->seed);
    weft_window_lm_init(m, &rng);
    /* the shuffling and dropout stream: apart from the initialisation's */
    weft_rng_seed(&rng, (uint64_t)fl->seed * 0x9E3779B97F4A7C15ull + 1);

    char e2[512];
    if (!(train_ids = weft_tokens_encode(&train_t, m->vocab, e2, sizeof e2))) {
        fprintf(stderr, "weft train: %s: %s\n", fl->data, e2);
        goto done;
    }
    if (fl->valid && !(valid_ids = weft_tokens_encode(&valid_t, m->vocab, e2, sizeof e2))) {
        fprintf(stderr, "weft train: %s: %s\n", fl->valid, e2);
        goto done;
    }
    size_t n = train_t.count;
    if (n < 2 || (valid_ids && valid_t.count < 2)) {
        fprintf(stderr, "weft train: %s: %zu tokens; at least 2 are needed\n",
                n < 2 ? fl->data : fl->valid, n < 2 ? n : valid_t.count);
        goto done;
    }
    size_t examples = n - 1;   /* targets t = 1 .. n-1 */
    int B = fl->batch, c = fl->order - 1;
    order = malloc(examples * sizeof *order);
    ctx = malloc((size_t)B * (size_t)c * sizeof *ctx);
    tgt = malloc((size_t)B * sizeof *tgt);
    g = weft_graph_new();
    if (!order || !ctx || !tgt || !g) {
        fprintf(stderr, "weft train: out of memory\n");
        goto done;
    }
    log = weft_cli_open_log(fl->log, false);
    if (fl->log && !log) goto done;

    long batches_per_epoch = (long)((examples + (size_t)B - 1) / (size_t)B);
    fprintf(stderr, "model: %s, window-lm order %d (%d tokens of context), embed %d, hidden "
            "%d%s, %d tokens in the vocabulary, %zu parameters, dropout %g\n",
            level == WEFT_TEXT_WORDS ? "words" : "characters", fl->order, c, fl->embed,
            fl->hidden, fl->direct ? ", direct connections" : "", m->vocab_size,
            weft_params_numel(m->params), (double)fl->dropout);
    fprintf(stderr, "data: %s, %zu tokens: %zu examples, %ld batches of %d an epoch (shuffled); "
            "validation: %s (%zu tokens)\n", fl->data, n, examples, batches_per_epoch, B,
            fl->valid ? fl->valid : "none", valid_ids ? valid_t.count : (size_t)0);
    fprintf(stderr, "training: %d epochs, %s lr %g (x%g from epoch %d), clip %g; best model -> "
            "%s\n", fl->epochs, fl->optim, (double)fl->lr, (double)fl->decay, fl->decay_start,
            (double)fl->clip, save);

    weft_cli_catch_sigint();

    bool tty = isatty(STDERR_FILENO), saved_once = false;
    long report_every = batches_per_epoch / 10 > 0 ? batches_per_epoch / 10 : 1;
    double t_start = weft_cli_now(), t_report = t_start, best_valid = 0.0;
    size_t tokens_done = 0;
    long steps = 0;
    status = WEFT_EXIT_OK;
    for (int epoch = 1; epoch <= fl->epochs && !weft_cli_interrupted; epoch++) {
        double lr = weft_lr_step_decay(fl->lr, fl->decay, fl->decay_start, epoch);
        opt.lr = lr;
        /* a fresh order of the examples (Fisher-Yates) */
        for (size_t k = 0; k < examples; k++) order[k] = k + 1;
        for (size_t k = examples - 1; k > 0; k--) {
            size_t j = (size_t)weft_rng_below(&rng, (uint32_t)(k + 1 > 0xFFFFFFFFu
                                                               ? 0xFFFFFFFFu : k + 1));
            size_t tmp = order[k];
            order[k] = order[j];
            order[j] = tmp;
        }
        double t_epoch = weft_cli_now(), sum_loss = 0.0, rep_loss = 0.0;
        long n_loss = 0, rep_n = 0;
        float last_norm = 0.0f;
        for (long b = 0; b < batches_per_epoch; b++) {
            if (weft_cli_interrupted) break;
            size_t first = (size_t)b * (size_t)B;
            int nb = (int)(examples - first < (size_t)B ? examples - first : (size_t)B);
            weft_window_lm_contexts(m, train_ids, order + first, nb, ctx);
            for (int k = 0; k < nb; k++) tgt[k] = train_ids[order[first + (size_t)k]];
            weft_lm_step_info info;
            if (weft_window_lm_train_batch(m, g, ctx, tgt, nb, &opt, fl->clip, &rng, &info, err,
                                           sizeof err)) {
                if (tty) fputc('\n', stderr);
                fprintf(stderr, "weft train: %s: epoch %d, batch %ld of %ld: %s\n", fl->data,
                        epoch, b + 1, batches_per_epoch, err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
            steps++;
            tokens_done += (size_t)nb;
            sum_loss += info.loss;
            rep_loss += info.loss;
            n_loss++;
            rep_n++;
            last_norm = info.grad_norm;
            double t = weft_cli_now();
            bool last = b + 1 == batches_per_epoch;
            bool report = tty ? (t - t_report >= 0.25 || last) : ((b + 1) % report_every == 0 ||
                                                                 last);
            if (report) {
                weft_cli_report r = { epoch, fl->epochs, steps, tokens_done, t - t_start, lr,
                                      rep_loss / (double)rep_n, last_norm };
                double left = (double)(examples - first - (size_t)nb) +
                              (double)(fl->epochs - epoch) * (double)examples;
                weft_cli_report_progress(&r, 100.0 * (double)(first + (size_t)nb) /
                                                 (double)examples, left, tty, log);
                t_report = t;
                rep_loss = 0.0;
                rep_n = 0;
            }
        }
        if (tty) fputc('\n', stderr);
        if (weft_cli_interrupted) break;

        double train_loss = n_loss ? sum_loss / (double)n_loss : NAN;
        double valid_ppl = NAN;
        if (valid_ids) {
            double nll;
            size_t count;
            if (weft_window_lm_eval(m, g, valid_ids, valid_t.count, EVAL_BATCH, &nll, &count,
                                    err, sizeof err)) {
                fprintf(stderr, "weft train: validating on %s: %s\n", fl->valid, err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
            valid_ppl = exp(nll / (double)count);
        }
        bool best = !valid_ids || best_valid == 0.0 || valid_ppl < best_valid;
        if (best) {
            if (valid_ids) best_valid = valid_ppl;
            if (weft_window_lm_save(m, save, err, sizeof err)) {
                fprintf(stderr, "weft train: saving the model: %s\n", err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
            saved_once = true;
        }
        double t = weft_cli_now();
        weft_cli_report r = { epoch, fl->epochs, steps, tokens_done, t - t_start, lr, train_loss,
                              last_norm };
        weft_cli_report_epoch(&r, valid_ppl, valid_ids != NULL, t - t_epoch, best, log);
    }
    if (weft_cli_interrupted) {
        /* keep what there is: the best model so far, or the current one */
        if (!saved_once && weft_window_lm_save(m, save, err, sizeof err)) {
            fprintf(stderr, "weft train: saving the model: %s\n", err);
            status = WEFT_EXIT_FAIL;
            goto done;
        }
        fprintf(stderr, "interrupted: %s holds the %s model\n", save,
                saved_once ? "best" : "current");
        status = 130;
    } else if (valid_ids) {
        printf("best valid perplexity: %.2f (%s)\n", best_valid, save);
    }

done:
    if (log) fclose(log);
    weft_graph_free(g);
    free(order);
    free(ctx);
    free(tgt);
    free(train_ids);
    free(valid_ids);
    weft_tokens_free(&train_t);
    weft_tokens_free(&valid_t);
    weft_window_lm_free(m);
    return status;
}

int weft_cli_window_lm_train(int argc, char **argv)
{
    wlm_flags fl = {
        .task = "window-lm", .level = "word", .optim = "adam", .save = "window-lm.safetensors",
        .order = 5, .embed = 60, .hidden = 100, .batch = 128, .epochs = 5, .decay_start = 1,
        .seed = 1, .min_count = 1, .max_vocab = 0, .lr = 0.001f, .clip = 0.0f, .dropout = 0.0f,
        .decay = 1.0f,
    };
    weft_flag data_flags[1 + WEFT_CLI_TEXT_FLAGS] = {
        { "task", WEFT_FLAG_STRING, &fl.task, "TASK", "window-lm (here)", 0, 0 },
    };
    weft_cli_text_flags(data_flags + 1, &fl.data, &fl.valid, &fl.level, &fl.min_count,
                        &fl.max_vocab);
    const weft_flag model_flags[] = {
        { "order", WEFT_FLAG_INT, &fl.order, "N",
          "n: each token is predicted from the N-1 tokens before it", 2,
          WEFT_WINDOW_LM_MAX_ORDER },
        { "embed", WEFT_FLAG_INT, &fl.embed, "M", "embedding width (the paper's m)", 1, 1 << 16 },
        { "hidden", WEFT_FLAG_INT, &fl.hidden, "H", "tanh hidden units (the paper's h)", 1,
          1 << 20 },
        { "direct", WEFT_FLAG_BOOL, &fl.direct, NULL,
          "direct connections from the embeddings to the output (the paper's W)", 0, 0 },
        { "dropout", WEFT_FLAG_FLOAT, &fl.dropout, "P",
          "dropout on the embeddings and on the hidden layer", 0, 0.99 },
    };
    const weft_flag train_flags[] = {
        { "batch", WEFT_FLAG_INT, &fl.batch, "B", "examples a step (contexts, shuffled)", 1,
          1 << 20 },
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K", "passes over the data", 1, 1e6 },
        { "lr", WEFT_FLAG_FLOAT, &fl.lr, "X",
          "learning rate (the loss is the mean over the batch)", 0, 1e6 },
        { "optim", WEFT_FLAG_STRING, &fl.optim, "sgd|adam|adamw", "optimizer", 0, 0 },
        { "clip", WEFT_FLAG_FLOAT, &fl.clip, "C", "clip the gradient's global norm (0: off)", 0,
          1e9 },
        { "decay", WEFT_FLAG_FLOAT, &fl.decay, "F",
          "multiply the learning rate by F every epoch from --decay-start", 0, 1 },
        { "decay-start", WEFT_FLAG_INT, &fl.decay_start, "K", "first epoch decayed", 1, 1e6 },
        { "seed", WEFT_FLAG_INT, &fl.seed, "S", "random seed (initialisation, order, dropout)",
          0, 2147483647 },
    };
    const weft_flag file_flags[] = {
        { "save", WEFT_FLAG_STRING, &fl.save, "MODEL", "the best model", 0, 0 },
        { "log", WEFT_FLAG_STRING, &fl.log, "FILE", "write progress as CSV", 0, 0 },
    };
    const weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof data_flags[0]) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof model_flags[0]) },
        { "training", train_flags, (int)(sizeof train_flags / sizeof train_flags[0]) },
        { "files", file_flags, (int)(sizeof file_flags / sizeof file_flags[0]) },
    };
    weft_args_spec spec = {
        .prog = "weft train --task window-lm",
        .summary = "Train Bengio et al. (2003)'s fixed-window neural language model "
                   "(see docs/lm.md).",
        .details =
            "Every token after the first is an example: its N-1 previous tokens (the start of\n"
            "the text padded with <eos>, or \\n for characters) and itself. An epoch visits\n"
            "them in a fresh random order. The best model by validation perplexity is saved;\n"
            "'weft eval' and 'weft sample' read it.\n\n"
            "example (Penn Treebank):\n"
            "  weft train --task window-lm --data ptb.train.txt --valid ptb.valid.txt\n"
            "    --order 5 --embed 60 --hidden 100 --save ptb-window.safetensors",
        .groups = groups,
        .n_groups = 4,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task("weft train", fl.task)) return WEFT_EXIT_USAGE;
    return train(&fl);
}

/* --- weft eval / weft sample on a window-lm model ------------------------------------------------ */

static weft_window_lm *load(const char *prog, const char *path)
{
    char err[1024];
    weft_window_lm *m = weft_window_lm_load(path, err, sizeof err);
    if (!m) fprintf(stderr, "%s: %s\n", prog, err);
    return m;
}

int weft_cli_window_lm_eval(int argc, char **argv)
{
    const char *task = NULL, *model = NULL, *data = NULL;
    int batch = EVAL_BATCH;
    const weft_flag flags[] = {
        { "task", WEFT_FLAG_STRING, &task, "window-lm", "the model's kind (here: window-lm)", 0,
          0 },
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "the text to score (required)", 0, 0 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "contexts scored at once (only speed changes)",
          1, 1 << 20 },
    };
    weft_args_spec spec = {
        .prog = "weft eval",
        .summary = "Evaluate a fixed-window language model on a text file; the last line is "
                   "'perplexity: X'.",
        .details = "Every token after the first is scored from its N-1 previous tokens, the "
                   "start of the file\npadded with <eos> (\\n for characters).",
        .groups = &(weft_flag_group){ "options", flags, 4 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task("weft eval", task)) return WEFT_EXIT_USAGE;
    if (!model || !data) {
        fprintf(stderr, "weft eval: --%s is required\n", !model ? "model MODEL" : "data FILE");
        return WEFT_EXIT_USAGE;
    }
    weft_window_lm *m = load("weft eval", model);
    if (!m) return WEFT_EXIT_FAIL;
    int status = WEFT_EXIT_FAIL;
    size_t n = 0;
    weft_graph *g = NULL;
    int *ids = read_encode("weft eval", data, m->cfg.level, m->vocab, &n);
    if (!ids) goto done;
    if (!(g = weft_graph_new())) {
        fprintf(stderr, "weft eval: out of memory\n");
        goto done;
    }
    char err[1024];
    double t0 = weft_cli_now(), nll;
    size_t count;
    if (weft_window_lm_eval(m, g, ids, n, batch, &nll, &count, err, sizeof err)) {
        fprintf(stderr, "weft eval: %s: %s\n", data, err);
        goto done;
    }
    double secs = weft_cli_now() - t0;
    printf("model: %s (%s window-lm, order %d, embed %d, hidden %d%s, %d tokens in the "
           "vocabulary)\n", model, weft_text_level_name(m->cfg.level),
           m->cfg.order, m->cfg.embed, m->cfg.hidden, m->cfg.direct ? ", direct" : "",
           m->vocab_size);
    weft_cli_print_eval(data, ids, n, m->vocab, count, secs, nll);
    status = WEFT_EXIT_OK;
done:
    weft_graph_free(g);
    free(ids);
    weft_window_lm_free(m);
    return status;
}

static int window_encode(const void *m, const char *text, int **ids, int *n, char *err,
                         size_t errsize)
{
    return weft_window_lm_encode_text(m, text, ids, n, err, errsize);
}

static int window_sample(void *m, weft_graph *g, const weft_lm_sample_opts *o, int *out,
                         char *err, size_t errsize)
{
    return weft_window_lm_sample(m, g, o, out, err, errsize);
}

int weft_cli_window_lm_sample(int argc, char **argv)
{
    const char *task = NULL;
    weft_cli_sample_args a;
    weft_flag flags[1 + WEFT_CLI_SAMPLE_FLAGS] = {
        { "task", WEFT_FLAG_STRING, &task, "window-lm", "the model's kind (here: window-lm)", 0,
          0 },
    };
    weft_cli_sample_flags(&a, flags + 1);
    weft_args_spec spec = {
        .prog = "weft sample",
        .summary = "Generate text with a fixed-window language model.",
        .groups = &(weft_flag_group){ "options", flags, 1 + WEFT_CLI_SAMPLE_FLAGS },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (check_task("weft sample", task)) return WEFT_EXIT_USAGE;
    if (!a.model) {
        fprintf(stderr, "weft sample: --model MODEL is required\n");
        return WEFT_EXIT_USAGE;
    }
    weft_window_lm *m = load("weft sample", a.model);
    if (!m) return WEFT_EXIT_FAIL;
    weft_cli_sampler s = { m, m->vocab, m->cfg.level, window_encode, window_sample };
    int status = weft_cli_sample_text(&s, &a);
    weft_window_lm_free(m);
    return status;
}
