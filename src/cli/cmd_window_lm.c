/* src/cli/cmd_window_lm.c — the fixed-window language models from the
 * command line (weft/window_lm.h): Bengio et al. (2003)'s, and Mnih & Hinton
 * (2007)'s log-bilinear model with --arch lbl:
 *
 *     weft train --task window-lm --data TRAIN [--valid VALID] [--arch nnlm|lbl]
 *                --order N --embed M --hidden H [--direct] ...
 *     weft eval --model MODEL --data FILE        (last line: perplexity: X)
 *     weft sample --model MODEL [--prime TEXT] ...
 *
 * `weft train --task window-lm` hands its arguments here (weft_args_peek), and
 * so do `weft eval` and `weft sample` when the model file's weft.config says
 * task "window-lm" (or --task window-lm is given).
 *
 * Training goes through the trainer (weft/train.h) with the model's trainable
 * (models/lm/window_lm_train.c): every token of the training text after the
 * first is one example (its n-1 previous tokens, padded at the start of the
 * text, and itself); an epoch visits them in a fresh random order, in
 * minibatches of --batch, one optimizer step each. After each epoch the
 * validation perplexity is measured (as `weft eval` computes it) and the best
 * model is saved. */
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
    const char *task, *data, *valid, *level, *optim, *save, *resume, *arch;
    int order, embed, hidden, batch, epochs, decay_start, seed, min_count, max_vocab,
        stop_after;
    float lr, clip, dropout, decay;
    bool direct;
    weft_cli_trainer_args tr;
} wlm_flags;

/* A new model for the flags over the training text (and the validation
 * text's new tokens), the texts as ids, and the run's settings into *o. */
static weft_window_lm *new_model(const wlm_flags *fl, weft_text_level level, weft_train_opts *o,
                                 int **train, size_t *n_train, int **valid, size_t *n_valid,
                                 int *status)
{
    char err[1024];
    weft_tokens train_t = { 0 }, valid_t = { 0 };
    weft_window_lm *m = NULL;
    *status = WEFT_EXIT_FAIL;
    weft_vocab *vocab = weft_cli_train_vocab(fl->data, fl->valid, level, fl->min_count,
                                             fl->max_vocab, &train_t, &valid_t);
    if (!vocab) goto done;
    int arch = weft_window_lm_arch_find(fl->arch);
    if (arch < 0) {
        fprintf(stderr, "weft train: --arch '%s': expected nnlm or lbl\n", fl->arch);
        *status = WEFT_EXIT_USAGE;
        goto done;
    }
    bool lbl = arch == WEFT_WINDOW_LBL;
    weft_window_lm_config cfg = { .level = level, .order = fl->order, .embed = fl->embed,
                                  .hidden = lbl ? fl->embed : fl->hidden, .direct = fl->direct,
                                  .dropout = fl->dropout, .arch = (weft_window_lm_arch)arch };
    m = weft_window_lm_new(&cfg, vocab, err, sizeof err);
    if (!m) {
        weft_vocab_free(vocab);
        fprintf(stderr, "weft train: %s\n", err);
        *status = WEFT_EXIT_USAGE;
        goto done;
    }
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)fl->seed);
    weft_window_lm_init(m, &rng);
    /* the shuffling and dropout stream: apart from the initialisation's */
    weft_rng_seed(&o->rng, (uint64_t)fl->seed * 0x9E3779B97F4A7C15ull + 1);
    o->schedule.decay = fl->decay;
    o->schedule.decay_start = fl->decay_start;
    o->clip = fl->clip;
    o->epochs = fl->epochs > 0 ? fl->epochs : 5;
    if (weft_cli_encode_texts(m->vocab, fl->data, &train_t, train, n_train, fl->valid,
                              &valid_t, valid, n_valid))
        goto fail;
    *status = WEFT_EXIT_OK;
    goto done;
fail:
    weft_window_lm_free(m);
    m = NULL;
done:
    weft_tokens_free(&train_t);
    weft_tokens_free(&valid_t);
    return m;
}

static int train(wlm_flags *fl)
{
    char err[1024];
    weft_text_level level;
    weft_train_opts o = weft_train_defaults();
    if (weft_cli_train_text(fl->level, fl->data, &level)) return WEFT_EXIT_USAGE;

    int status = WEFT_EXIT_FAIL;
    weft_window_lm *m = NULL;
    weft_window_lm_trainer *wt = NULL;
    int *train_ids = NULL, *valid_ids = NULL, *test_ids = NULL;
    size_t n = 0, n_valid = 0, n_test = 0;
    const char *save = fl->save;
    char state_path[4096];
    weft_train_state resume_state;

    if (fl->resume) {
        snprintf(state_path, sizeof state_path, "%s.state", fl->resume);
        size_t n_run;
        m = weft_window_lm_load_state(state_path, &o, &resume_state, &n_run, &fl->batch, err,
                                      sizeof err);
        if (!m) {
            fprintf(stderr, "weft train: --resume: %s\n", err);
            return WEFT_EXIT_FAIL;
        }
        level = m->cfg.level;
        if (!save) save = fl->resume;
        if (fl->epochs > 0) o.epochs = fl->epochs;
        if (!(train_ids = read_encode("weft train", fl->data, level, m->vocab, &n))) goto done;
        if (n != n_run) {
            fprintf(stderr, "weft train: --resume: %s has %zu tokens but the run was started on "
                    "%zu: resume with the same --data\n", fl->data, n, n_run);
            goto done;
        }
        if (fl->valid &&
            !(valid_ids = read_encode("weft train", fl->valid, level, m->vocab, &n_valid)))
            goto done;
        o.resume = &resume_state;
        fprintf(stderr, "resuming %s at epoch %d, batch %ld\n", state_path, resume_state.epoch,
                resume_state.batch);
    } else {
        if (!save) save = "window-lm.safetensors";
        if (weft_cli_optim(fl->optim, fl->lr, &o.optim)) return WEFT_EXIT_USAGE;
        m = new_model(fl, level, &o, &train_ids, &n, &valid_ids, &n_valid, &status);
        if (!m) return status;
        status = WEFT_EXIT_FAIL;
    }
    if (fl->tr.test && !(test_ids = read_encode("weft train", fl->tr.test, level, m->vocab,
                                                &n_test)))
        goto done;
    if (n < 2 || (valid_ids && n_valid < 2) || (test_ids && n_test < 2)) {
        const char *which = n < 2 ? fl->data : valid_ids && n_valid < 2 ? fl->valid
                                                                         : fl->tr.test;
        size_t count = n < 2 ? n : valid_ids && n_valid < 2 ? n_valid : n_test;
        fprintf(stderr, "weft train: %s: %zu tokens; at least 2 are needed\n", which, count);
        goto done;
    }
    weft_window_lm_data d = { .train = train_ids, .n_train = n, .batch = fl->batch,
                              .valid = valid_ids, .n_valid = n_valid, .test = test_ids,
                              .n_test = n_test, .eval_batch = EVAL_BATCH };
    if (!(wt = weft_window_lm_trainer_new(m, &d, err, sizeof err))) {
        fprintf(stderr, "weft train: %s: %s\n", fl->data, err);
        goto done;
    }
    /* the trainer flags a run does not keep come from the flags */
    weft_train_opts flags = o;
    if (weft_cli_trainer_opts(&fl->tr, m->vocab_size, &flags)) {
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    if (fl->resume) {
        o.max_loss = flags.max_loss;
        o.log_csv = flags.log_csv;
        o.log_json = flags.log_json;
    } else {
        o = flags;
    }
    snprintf(state_path, sizeof state_path, "%s.state", save);
    o.save_path = save;
    o.state_path = state_path;
    o.stop_after = fl->stop_after;
    o.catch_signals = true;

    size_t examples = n - 1;
    int B = fl->batch, c = m->cfg.order - 1;
    long batches_per_epoch = (long)((examples + (size_t)B - 1) / (size_t)B);
    char how[512];
    weft_cli_describe_training(&o, how, sizeof how);
    if (weft_cli_rank() == 0) {
        fprintf(stderr, "model: %s, window-lm %s order %d (%d tokens of context), embed %d, hidden "
                "%d%s, %d tokens in the vocabulary, %zu parameters, dropout %g\n",
                level == WEFT_TEXT_WORDS ? "words" : "characters",
                weft_window_lm_arch_name(m->cfg.arch), m->cfg.order, c, m->cfg.embed,
                m->cfg.hidden, m->cfg.direct ? ", direct connections" : "", m->vocab_size,
                weft_params_numel(m->params), (double)m->cfg.dropout);
        fprintf(stderr, "data: %s, %zu tokens: %zu examples, %ld batches of %d an epoch (shuffled); "
                "validation: %s (%zu tokens)\n", fl->data, n, examples, batches_per_epoch, B,
                fl->valid ? fl->valid : "none", valid_ids ? n_valid : (size_t)0);
        fprintf(stderr, "training: %d epochs, %s; best model -> %s, training state -> %s\n",
                o.epochs, how, save, state_path);
    }

    weft_trainable t = weft_window_lm_trainable(wt);
    weft_train_result res;
    if (weft_cli_train(&t, &o, fl->data, &res)) goto done;
    if (res.stop == WEFT_TRAIN_INTERRUPTED || res.stop == WEFT_TRAIN_STOPPED) {
        if (weft_cli_rank() == 0)
            fprintf(stderr, "%s at epoch %d, batch %ld of %ld: saved %s; continue with 'weft "
                    "train --task window-lm --resume %s --data %s%s%s'\n",
                    res.stop == WEFT_TRAIN_INTERRUPTED ? "interrupted" : "stopped",
                    res.state.epoch, res.state.batch, batches_per_epoch, state_path, save,
                    fl->data, fl->valid ? " --valid " : "", fl->valid ? fl->valid : "");
        status = weft_cli_stop_status(&res);
        goto done;
    }
    /* rank 0 reports */
    if (weft_cli_rank() == 0) status = weft_cli_train_summary(&res, &o, valid_ids != NULL, save);
    else status = WEFT_EXIT_OK;

done:
    weft_window_lm_trainer_free(wt);
    free(train_ids);
    free(valid_ids);
    free(test_ids);
    weft_window_lm_free(m);
    return status;
}

int weft_cli_window_lm_train(int argc, char **argv)
{
    wlm_flags fl = {
        .task = "window-lm", .level = "word", .optim = "adam", .arch = "nnlm",
        .order = 5, .embed = 60, .hidden = 100, .batch = 128, .epochs = 0, .decay_start = 1,
        .seed = 1, .min_count = 1, .max_vocab = 0, .lr = 0.001f, .clip = 0.0f, .dropout = 0.0f,
        .decay = 1.0f,
    };
    weft_flag trainer_flags[WEFT_CLI_TRAINER_FLAGS];
    weft_cli_trainer_flags(&fl.tr, trainer_flags);
    weft_flag data_flags[1 + WEFT_CLI_TEXT_FLAGS] = {
        { "task", WEFT_FLAG_STRING, &fl.task, "TASK", "window-lm (here)", 0, 0 },
    };
    weft_cli_text_flags(data_flags + 1, &fl.data, &fl.valid, &fl.level, &fl.min_count,
                        &fl.max_vocab);
    const weft_flag model_flags[] = {
        { "arch", WEFT_FLAG_STRING, &fl.arch, "nnlm|lbl",
          "nnlm: Bengio et al. (2003), a tanh layer; lbl: Mnih & Hinton (2007)'s log-bilinear "
          "model (no hidden layer, --hidden ignored)", 0, 0 },
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
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K",
          "passes over the data (default: 5; on --resume, the run's)", 1, 1e6 },
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
        { "save", WEFT_FLAG_STRING, &fl.save, "MODEL",
          "the best model (default window-lm.safetensors; with --resume, that model)", 0, 0 },
        { "resume", WEFT_FLAG_STRING, &fl.resume, "MODEL",
          "continue the run saved in MODEL.state exactly where it stopped (the same --data)",
          0, 0 },
        { "stop-after", WEFT_FLAG_INT, &fl.stop_after, "N",
          "stop after N batches, saving as Ctrl-C does (0: never)", 0, 1e9 },
    };
    const weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof data_flags[0]) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof model_flags[0]) },
        { "training", train_flags, (int)(sizeof train_flags / sizeof train_flags[0]) },
        { "files", file_flags, (int)(sizeof file_flags / sizeof file_flags[0]) },
        { "trainer", trainer_flags, WEFT_CLI_TRAINER_FLAGS },
    };
    weft_args_spec spec = {
        .prog = "weft train --task window-lm",
        .summary = "Train a fixed-window neural language model: Bengio et al. (2003)'s, or "
                   "Mnih & Hinton (2007)'s log-bilinear one with --arch lbl (see docs/lm.md).",
        .details =
            "Every token after the first is an example: its N-1 previous tokens (the start of\n"
            "the text padded with <eos>, or \\n for characters) and itself. An epoch visits\n"
            "them in a fresh random order. The best model by validation perplexity is saved;\n"
            "'weft eval' and 'weft sample' read it. The training state goes to SAVE.state after\n"
            "every epoch and on Ctrl-C, SIGTERM or --stop-after; --resume SAVE continues it.\n\n"
            "example (Penn Treebank):\n"
            "  weft train --task window-lm --data ptb.train.txt --valid ptb.valid.txt\n"
            "    --order 5 --embed 60 --hidden 100 --save ptb-window.safetensors",
        .groups = groups,
        .n_groups = 5,
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
    printf("model: %s (%s window-lm %s, order %d, embed %d, hidden %d%s, %d tokens in the "
           "vocabulary)\n", model, weft_text_level_name(m->cfg.level),
           weft_window_lm_arch_name(m->cfg.arch), m->cfg.order, m->cfg.embed, m->cfg.hidden, m->cfg.direct ? ", direct" : "",
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
