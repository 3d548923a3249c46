/* src/cli/cmd_train.c — `weft train`: train a language model on a text file.
 *
 *     weft train --task lm --data TRAIN --valid VALID --level word|char --cell NAME ...
 *
 * This file parses the flags, makes (or, with --resume, loads) the model and
 * hands the run to the trainer (weft/train.h) through the language model's
 * trainable (weft_lm_trainer, models/lm/lm_train.c), printing its events: the
 * training stream is cut into --batch parallel streams and windows of --bptt
 * steps; each window is one step of truncated BPTT with the hidden state
 * carried from the window before. After each epoch the validation perplexity
 * is measured and the best model so far is saved (atomically) to --save; the
 * whole training state goes to SAVE.state at the end of every epoch and when
 * the run stops early (Ctrl-C, SIGTERM, --stop-after); --resume SAVE continues
 * from it exactly where it stopped. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/runtime.h"
#include "weft/vectors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the flags ------------------------------------------------------------------------------ */

typedef struct train_flags {
    const char *task, *data, *valid, *level, *cell, *optim, *save, *resume, *dropout_mode;
    const char *init_embeddings;   /* a word2vec file, or NULL */
    int layers, hidden, embed, batch, bptt, epochs, decay_start, seed, min_count, max_vocab,
        valid_batch, stop_after;
    float lr, clip, dropout, decay, dropout_embed, init;
    bool tie;
    weft_cli_trainer_args tr;
} train_flags;

/* A text file as ids of the model's vocabulary (*n of them; the caller frees). */
static int *read_ids(const char *path, weft_text_level level, const weft_vocab *v, size_t *n)
{
    char err[512];
    weft_tokens t;
    if (weft_tokens_read(path, level, &t, err, sizeof err)) {
        fprintf(stderr, "weft train: %s\n", err);
        return NULL;
    }
    int *ids = weft_tokens_encode(&t, v, err, sizeof err);
    if (!ids) fprintf(stderr, "weft train: %s: %s\n", path, err);
    *n = t.count;
    weft_tokens_free(&t);
    return ids;
}

/* A new model for the flags, over the training text (and the validation
 * text's new tokens); the texts' ids into *train and *valid. */
static weft_lm *new_model(const train_flags *fl, weft_text_level level, int **train,
                          size_t *n_train, int **valid, size_t *n_valid, int *status)
{
    char err[1024];
    weft_tokens train_t = { 0 }, valid_t = { 0 };
    weft_lm *m = NULL;
    *status = WEFT_EXIT_FAIL;
    weft_vocab *vocab = weft_cli_train_vocab(fl->data, fl->valid, level, fl->min_count,
                                             fl->max_vocab, &train_t, &valid_t);
    if (!vocab) goto done;
    if (strcmp(fl->dropout_mode, "standard") != 0 &&
        strcmp(fl->dropout_mode, "variational") != 0) {
        fprintf(stderr, "weft train: --dropout-mode '%s': expected standard or variational\n",
                fl->dropout_mode);
        weft_vocab_free(vocab);
        *status = WEFT_EXIT_USAGE;
        goto done;
    }
    weft_lm_config cfg = { .level = level, .layers = fl->layers, .hidden = fl->hidden,
                           .embed = fl->embed, .dropout = fl->dropout, .tied = fl->tie,
                           .variational = strcmp(fl->dropout_mode, "variational") == 0,
                           .dropout_embed = fl->dropout_embed };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", fl->cell);
    if (strlen(fl->cell) >= sizeof cfg.cell) cfg.cell[0] = '?';
    m = weft_lm_new(&cfg, vocab, err, sizeof err);
    if (!m) {
        weft_vocab_free(vocab);
        fprintf(stderr, "weft train: %s\n", err);
        *status = weft_cli_build_status("weft train", err);
        goto done;
    }
    weft_rng init_rng;
    weft_rng_seed(&init_rng, (uint64_t)fl->seed);
    if (weft_lm_init(m, &init_rng, fl->init)) {
        fprintf(stderr, "weft train: initialising the model failed\n");
        goto fail;
    }
    if (fl->init_embeddings) {
        /* the rows of the words the vector file has, the others as initialised */
        weft_vectors *vec = weft_vectors_read(fl->init_embeddings, WEFT_VECTORS_AUTO, err,
                                              sizeof err);
        int copied = vec ? weft_vectors_init_embedding(vec, m->vocab, m->encoder, err,
                                                       sizeof err)
                         : -1;
        weft_vectors_free(vec);
        if (copied < 0) {
            fprintf(stderr, "weft train: --init-embeddings: %s\n", err);
            goto fail;
        }
        fprintf(stderr, "init-embeddings: %d of the %d tokens' rows from %s\n", copied,
                m->vocab_size, fl->init_embeddings);
    }
    if (weft_cli_encode_texts(m->vocab, fl->data, &train_t, train, n_train, fl->valid,
                              &valid_t, valid, n_valid))
        goto fail;
    *status = WEFT_EXIT_OK;
    goto done;
fail:
    weft_lm_free(m);
    m = NULL;
done:
    weft_tokens_free(&train_t);
    weft_tokens_free(&valid_t);
    return m;
}

static void print_setup(const weft_lm *m, const train_flags *fl, const weft_lm_trainer *lt,
                        size_t n_train, size_t n_valid, const weft_train_opts *o,
                        const char *save)
{
    char how[512];
    weft_cli_describe_training(o, how, sizeof how);
    fprintf(stderr, "model: %s, %d x %d %s, embed %d, %d tokens in the vocabulary, %zu "
            "parameters%s, dropout %g (%s), embedding dropout %g\n",
            m->cfg.level == WEFT_TEXT_WORDS ? "words" : "characters", m->cfg.layers,
            m->cfg.hidden, m->cfg.cell, m->cfg.embed, m->vocab_size,
            weft_params_numel(m->params), m->cfg.tied ? " (tied)" : "", (double)m->cfg.dropout,
            m->cfg.variational ? "variational" : "standard", (double)m->cfg.dropout_embed);
    fprintf(stderr, "data: %s, %zu tokens: %d streams x %d steps, %ld windows of %d an epoch; "
            "validation: %s (%zu tokens)\n", fl->data, n_train, fl->batch,
            weft_lm_trainer_steps(lt), weft_lm_trainer_windows(lt), fl->bptt,
            fl->valid ? fl->valid : "none", n_valid);
    fprintf(stderr, "training: %d epochs, %s; best model -> %s, training state -> %s.state\n",
            o->epochs, how, save, save);
}

/* Train a language model: a new one, or the run saved in RESUME.state. */
static int train_lm(train_flags *fl)
{
    char err[1024];
    int status = WEFT_EXIT_FAIL;
    weft_text_level level;
    if (weft_cli_train_text(fl->level, fl->data, &level)) return WEFT_EXIT_USAGE;

    weft_lm *m = NULL;
    weft_lm_run run = { 0 };
    weft_state carry = { 0 };
    int *train_ids = NULL, *valid_ids = NULL, *test_ids = NULL;
    size_t n_train = 0, n_valid = 0, n_test = 0;
    weft_lm_trainer *lt = NULL;
    char state_path[4096];
    const char *save = fl->save;
    weft_train_opts o = weft_train_defaults();
    weft_train_state resume_state;

    if (fl->resume) {
        snprintf(state_path, sizeof state_path, "%s.state", fl->resume);
        m = weft_lm_load_run(state_path, &run, &carry, err, sizeof err);
        if (!m) {
            fprintf(stderr, "weft train: --resume: %s\n", err);
            return WEFT_EXIT_FAIL;
        }
        level = m->cfg.level;
        if (!save) save = fl->resume;
        if (fl->epochs > 0) run.epochs = fl->epochs;
        if (!(train_ids = read_ids(fl->data, level, m->vocab, &n_train))) goto done;
        if (n_train != run.train_tokens) {
            fprintf(stderr, "weft train: --resume: %s has %zu tokens but the run was started on "
                    "%zu: resume with the same --data\n", fl->data, n_train, run.train_tokens);
            goto done;
        }
        if (fl->valid && !(valid_ids = read_ids(fl->valid, level, m->vocab, &n_valid)))
            goto done;
        fl->batch = run.batch;
        fl->bptt = run.bptt;
        fprintf(stderr, "resuming %s at epoch %d, window %ld (step %d of the epoch)\n",
                state_path, run.epoch, run.windows, run.next_start);
    } else {
        if (!save) save = "lm.safetensors";
        m = new_model(fl, level, &train_ids, &n_train, &valid_ids, &n_valid, &status);
        if (!m) return status;
        status = WEFT_EXIT_FAIL;
        if (weft_cli_optim(fl->optim, fl->lr, &o.optim)) {
            status = WEFT_EXIT_USAGE;
            goto done;
        }
    }
    if (fl->tr.test && !(test_ids = read_ids(fl->tr.test, level, m->vocab, &n_test))) goto done;

    /* the run's settings: the flags', or on --resume the run's own (the
       trainer flags that are not part of a run's state come from the flags) */
    if (weft_cli_trainer_opts(&fl->tr, m->vocab_size, &o)) {
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    if (fl->resume) {
        weft_lm_run_to_train(&run, &o, &resume_state);
        o.resume = &resume_state;
    } else {
        o.schedule.decay = fl->decay;
        o.schedule.decay_start = fl->decay_start;
        o.clip = fl->clip;
        o.epochs = fl->epochs > 0 ? fl->epochs : 6;
        /* the dropout stream: apart from the initialisation's */
        weft_rng_seed(&o.rng, (uint64_t)fl->seed * 0x9E3779B97F4A7C15ull + 1);
    }
    snprintf(state_path, sizeof state_path, "%s.state", save);
    o.save_path = save;
    o.state_path = state_path;
    o.stop_after = fl->stop_after;
    o.catch_signals = true;

    if (valid_ids && n_valid < (size_t)2 * (size_t)fl->valid_batch) {
        fprintf(stderr, "weft train: %s: %zu tokens are too few to validate with "
                "--valid-batch %d\n", fl->valid, n_valid, fl->valid_batch);
        goto done;
    }
    if (test_ids && n_test < (size_t)2 * (size_t)fl->valid_batch) {
        fprintf(stderr, "weft train: %s: %zu tokens are too few to score with "
                "--valid-batch %d\n", fl->tr.test, n_test, fl->valid_batch);
        goto done;
    }
    weft_lm_data d = { .train = train_ids, .n_train = n_train, .batch = fl->batch,
                       .bptt = fl->bptt, .valid = valid_ids, .n_valid = n_valid,
                       .valid_batch = fl->valid_batch, .test = test_ids, .n_test = n_test };
    if (!(lt = weft_lm_trainer_new(m, &d, &carry, err, sizeof err))) {
        fprintf(stderr, "weft train: %s: %s (use a smaller --batch or more text)\n", fl->data,
                err);
        goto done;
    }
    /* the streams hold their copy of the training ids */
    free(train_ids);
    train_ids = NULL;
    if (weft_cli_rank() == 0)
        print_setup(m, fl, lt, n_train, valid_ids ? n_valid : 0, &o, save);

    weft_trainable t = weft_lm_trainable(lt);
    weft_train_result res;
    if (weft_cli_train(&t, &o, fl->data, &res)) {
        struct stat sb;
        if (res.steps > 0 && stat(save, &sb) == 0 && S_ISREG(sb.st_mode))
            fprintf(stderr, "weft train: %s and %s hold the last good checkpoint\n", save,
                    state_path);
        goto done;
    }
    if (weft_cli_rank() > 0) {
        /* rank 0 reports */
        status = weft_cli_stop_status(&res);
        goto done;
    }
    if (res.stop == WEFT_TRAIN_INTERRUPTED || res.stop == WEFT_TRAIN_STOPPED) {
        int steps = weft_lm_trainer_steps(lt) - 1;
        long at = res.state.batch * (long)fl->bptt;
        fprintf(stderr, "%s at epoch %d, step %ld of %d: saved %s; continue with "
                "'weft train --resume %s --data %s%s%s'\n",
                res.stop == WEFT_TRAIN_INTERRUPTED ? "interrupted" : "stopped", res.state.epoch,
                at < steps ? at : steps, steps, state_path, save, fl->data,
                fl->valid ? " --valid " : "", fl->valid ? fl->valid : "");
        status = weft_cli_stop_status(&res);
        goto done;
    }
    status = weft_cli_train_summary(&res, &o, valid_ids != NULL, save);
done:
    weft_lm_trainer_free(lt);
    free(train_ids);
    free(valid_ids);
    free(test_ids);
    weft_state_free(&carry);
    weft_lm_free(m);
    return status;
}

int weft_cmd_train(int argc, char **argv)
{
    const char *task = weft_args_peek(argc, argv, "task");
    if (task && strcmp(task, "ngram") == 0) return weft_cli_ngram_train(argc, argv);
    if (task && strcmp(task, "window-lm") == 0) return weft_cli_window_lm_train(argc, argv);
    if (task && strcmp(task, "seq2seq") == 0) return weft_cli_seq2seq_train(argc, argv);
    if (task && (strcmp(task, "classify") == 0 || strcmp(task, "tag") == 0 ||
                 strcmp(task, "window") == 0))
        return weft_cli_classify_train(argc, argv);
    train_flags fl = {
        .task = "lm", .level = "word", .cell = "lstm", .optim = "sgd", .dropout_mode = "standard",
        .layers = 2, .hidden = 200, .embed = 200, .batch = 20, .bptt = 35, .epochs = 0,
        .decay_start = 1, .seed = 1, .min_count = 1, .max_vocab = 0, .valid_batch = 10,
        .lr = 20.0f, .clip = 0.25f, .dropout = 0.2f, .decay = 1.0f, .init = 0.0f,
    };
    weft_flag trainer_flags[WEFT_CLI_TRAINER_FLAGS];
    weft_cli_trainer_flags(&fl.tr, trainer_flags);
    weft_flag data_flags[1 + WEFT_CLI_TEXT_FLAGS] = {
        { "task", WEFT_FLAG_STRING, &fl.task, "TASK",
          "lm (a recurrent language model), ngram or window-lm (each has its --help: "
          "weft train --task ngram --help)", 0, 0 },
    };
    weft_cli_text_flags(data_flags + 1, &fl.data, &fl.valid, &fl.level, &fl.min_count,
                        &fl.max_vocab);
    const weft_flag model_flags[] = {
        { "cell", WEFT_FLAG_STRING, &fl.cell, "NAME", "the recurrent cell (lstm, gru, rnn, ...)",
          0, 0 },
        { "layers", WEFT_FLAG_INT, &fl.layers, "N", "stacked layers", 1, 64 },
        { "hidden", WEFT_FLAG_INT, &fl.hidden, "H", "hidden units a layer", 1, 1 << 20 },
        { "embed", WEFT_FLAG_INT, &fl.embed, "E", "embedding width", 1, 1 << 20 },
        { "dropout", WEFT_FLAG_FLOAT, &fl.dropout, "P",
          "dropout on the embedding, between layers and on the output", 0, 0.99 },
        { "dropout-mode", WEFT_FLAG_STRING, &fl.dropout_mode, "standard|variational",
          "standard: fresh masks per element; variational: one mask a window per sequence, "
          "reused at every step (Gal & Ghahramani 2016)", 0, 0 },
        { "dropout-embed", WEFT_FLAG_FLOAT, &fl.dropout_embed, "P",
          "embedding dropout: drop whole word types (rows of the embedding) with probability P",
          0, 0.99 },
        { "tie", WEFT_FLAG_BOOL, &fl.tie, NULL,
          "tie the decoder's weight to the embedding (needs --embed = --hidden)", 0, 0 },
        { "init-embeddings", WEFT_FLAG_STRING, &fl.init_embeddings, "VECTORS",
          "start the embedding rows of the words a word2vec file has from it (--embed = its "
          "dimension)", 0, 0 },
        { "init", WEFT_FLAG_FLOAT, &fl.init, "R",
          "recurrent weights uniform in [-R, R] (0: the cell's own, PyTorch's 1/sqrt(H))", 0,
          10 },
    };
    const weft_flag train_flags_[] = {
        { "batch", WEFT_FLAG_INT, &fl.batch, "B", "parallel streams", 1, 1 << 20 },
        { "bptt", WEFT_FLAG_INT, &fl.bptt, "T", "steps a window (truncated BPTT)", 1, 1 << 20 },
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K",
          "passes over the data (default: 6; on --resume, the run's)", 1, 1e6 },
        { "lr", WEFT_FLAG_FLOAT, &fl.lr, "LR",
          "learning rate (the loss is the mean over the window's tokens)", 0, 1e6 },
        { "optim", WEFT_FLAG_STRING, &fl.optim, "sgd|adam|adamw", "optimizer", 0, 0 },
        { "clip", WEFT_FLAG_FLOAT, &fl.clip, "C", "clip the gradient's global norm (0: off)", 0,
          1e9 },
        { "decay", WEFT_FLAG_FLOAT, &fl.decay, "F",
          "multiply the learning rate by F every epoch from --decay-start", 0, 1 },
        { "decay-start", WEFT_FLAG_INT, &fl.decay_start, "K", "first epoch decayed", 1, 1e6 },
        { "seed", WEFT_FLAG_INT, &fl.seed, "S", "random seed (initialisation, dropout)", 0,
          2147483647 },
        { "valid-batch", WEFT_FLAG_INT, &fl.valid_batch, "B", "streams for validation", 1,
          1 << 20 },
    };
    const weft_flag file_flags[] = {
        { "save", WEFT_FLAG_STRING, &fl.save, "MODEL",
          "the best model (default lm.safetensors; with --resume, that model)", 0, 0 },
        { "resume", WEFT_FLAG_STRING, &fl.resume, "MODEL",
          "continue the run saved in MODEL.state exactly where it stopped", 0, 0 },
        { "stop-after", WEFT_FLAG_INT, &fl.stop_after, "N",
          "stop after N windows, saving as Ctrl-C does (0: never)", 0, 1e9 },
    };
    const weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof data_flags[0]) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof model_flags[0]) },
        { "training", train_flags_, (int)(sizeof train_flags_ / sizeof train_flags_[0]) },
        { "files", file_flags, (int)(sizeof file_flags / sizeof file_flags[0]) },
        { "trainer", trainer_flags, WEFT_CLI_TRAINER_FLAGS },
    };
    weft_args_spec spec = {
        .prog = "weft train",
        .summary = "Train a recurrent language model on a text file (see docs/lm.md).",
        .details =
            "Progress goes to stderr (one updating line on a terminal), one line an epoch to\n"
            "stdout. The best model by validation perplexity is saved to --save; the whole\n"
            "training state to SAVE.state after every epoch and on Ctrl-C or SIGTERM, which stop\n"
            "after the current window; --resume SAVE continues from it (the run's settings are\n"
            "kept; --epochs may raise the number of epochs). The loop is the library's trainer\n"
            "(weft/train.h, docs/library.md).\n\n"
            "example (Zaremba et al. 2014, small):\n"
            "  weft train --data ptb.train.txt --valid ptb.valid.txt --layers 2 --hidden 200\n"
            "    --embed 200 --batch 20 --bptt 20 --epochs 13 --lr 20 --clip 0.25 --dropout 0\n"
            "    --decay 0.5 --decay-start 5 --init 0.1 --save ptb-small.safetensors",
        .groups = groups,
        .n_groups = 5,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (strcmp(fl.task, "lm") != 0) {
        fprintf(stderr, "weft train: --task '%s': expected lm (a recurrent language model), "
                "ngram, window-lm or seq2seq\n", fl.task);
        return WEFT_EXIT_USAGE;
    }
    return train_lm(&fl);
}
