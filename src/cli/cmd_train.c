/* src/cli/cmd_train.c — `weft train`: train a language model on a text file.
 *
 *     weft train --task lm --data TRAIN --valid VALID --level word|char --cell NAME ...
 *
 * The loop (weft/lm.h does the work): the training stream is cut into
 * --batch parallel streams and windows of --bptt steps; each window is one
 * step of truncated BPTT with the hidden state carried from the window before
 * (zeros at the start of every epoch, as PyTorch's word_language_model). After
 * each epoch the validation perplexity is measured and the best model so far
 * is saved (atomically) to --save. The whole training state (current weights,
 * optimizer state, carried hidden state, position, random stream) goes to
 * SAVE.state at the end of every epoch and when the run stops early (Ctrl-C,
 * --stop-after); --resume SAVE continues from it exactly where it stopped. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/lm.h"
#include "weft/ngram.h"
#include "weft/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* --- the flags ------------------------------------------------------------------------------ */

typedef struct train_flags {
    const char *task, *data, *valid, *level, *cell, *optim, *save, *resume, *log, *dropout_mode;
    int layers, hidden, embed, batch, bptt, epochs, decay_start, seed, min_count, max_vocab,
        valid_batch, stop_after;
    float lr, clip, dropout, dropout_embed, decay, init;
    bool tie;
} train_flags;

/* Read a text file for the model: tokens at the model's level. */
static int read_ids(const char *path, weft_text_level level, weft_tokens *t)
{
    char err[512];
    if (weft_tokens_read(path, level, t, err, sizeof err)) {
        fprintf(stderr, "weft train: %s\n", err);
        return -1;
    }
    return 0;
}

static int *encode(const char *path, const weft_tokens *t, const weft_vocab *v)
{
    char err[512];
    int *ids = weft_tokens_encode(t, v, err, sizeof err);
    if (!ids) fprintf(stderr, "weft train: %s: %s\n", path, err);
    return ids;
}

static int train_lm(train_flags *fl)
{
    char err[1024];
    int status = WEFT_EXIT_FAIL;
    weft_text_level level;
    if (weft_cli_train_text(fl->level, fl->data, &level)) return WEFT_EXIT_USAGE;

    weft_lm *m = NULL;
    weft_lm_run run = { 0 };
    weft_state carry = { 0 };
    weft_tokens train_t = { 0 }, valid_t = { 0 };
    int *train_ids = NULL, *valid_ids = NULL;
    size_t train_count = 0, valid_count = 0;   /* tokens in each text */
    weft_batches batches = { 0 };
    weft_graph *g = NULL;
    FILE *log = NULL;
    char state_path[4096];
    const char *save = fl->save;

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
        if (read_ids(fl->data, level, &train_t)) goto done;
        if (!(train_ids = encode(fl->data, &train_t, m->vocab))) goto done;
        if (train_t.count != run.train_tokens) {
            fprintf(stderr, "weft train: --resume: %s has %zu tokens but the run was started on "
                    "%zu: resume with the same --data\n", fl->data, train_t.count,
                    run.train_tokens);
            goto done;
        }
        if (fl->valid) {
            if (read_ids(fl->valid, level, &valid_t)) goto done;
            if (!(valid_ids = encode(fl->valid, &valid_t, m->vocab))) goto done;
        }
        fprintf(stderr, "resuming %s at epoch %d, window %ld (step %d of the epoch)\n",
                state_path, run.epoch, run.windows, run.next_start);
    } else {
        if (!save) save = "lm.safetensors";
        weft_vocab *vocab = weft_cli_train_vocab(fl->data, fl->valid, level, fl->min_count,
                                                 fl->max_vocab, &train_t, &valid_t);
        if (!vocab) goto done;
        if (strcmp(fl->dropout_mode, "standard") != 0 &&
            strcmp(fl->dropout_mode, "variational") != 0) {
            fprintf(stderr, "weft train: --dropout-mode '%s': expected standard or variational\n",
                    fl->dropout_mode);
            status = WEFT_EXIT_USAGE;
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
            status = WEFT_EXIT_USAGE;
            goto done;
        }
        weft_rng init_rng;
        weft_rng_seed(&init_rng, (uint64_t)fl->seed);
        if (weft_lm_init(m, &init_rng, fl->init)) {
            fprintf(stderr, "weft train: initialising the model failed\n");
            goto done;
        }
        if (!(train_ids = encode(fl->data, &train_t, m->vocab))) goto done;
        if (fl->valid && !(valid_ids = encode(fl->valid, &valid_t, m->vocab))) goto done;
        run = (weft_lm_run){
            .epoch = 1, .lr0 = fl->lr, .decay = fl->decay, .decay_start = fl->decay_start,
            .clip = fl->clip, .batch = fl->batch, .bptt = fl->bptt,
            .epochs = fl->epochs > 0 ? fl->epochs : 6, .train_tokens = train_t.count,
        };
        if (weft_cli_optim(fl->optim, fl->lr, &run.optim)) {
            status = WEFT_EXIT_USAGE;
            goto done;
        }
        /* the dropout stream: apart from the initialisation's */
        weft_rng_seed(&run.rng, (uint64_t)fl->seed * 0x9E3779B97F4A7C15ull + 1);
    }

    if (weft_batchify(train_ids, train_t.count, run.batch, &batches, err, sizeof err)) {
        fprintf(stderr, "weft train: %s: %s (use a smaller --batch or more text)\n", fl->data,
                err);
        goto done;
    }
    /* From here on only the ids are needed: the texts and their token spans
     * (several times the size of the ids), and the training ids now copied
     * into the batches, are let go before the model trains. */
    train_count = train_t.count;
    valid_count = valid_t.count;
    weft_tokens_free(&train_t);
    weft_tokens_free(&valid_t);
    free(train_ids);
    train_ids = NULL;
    if (valid_ids && valid_count < (size_t)2 * (size_t)fl->valid_batch) {
        fprintf(stderr, "weft train: %s: %zu tokens are too few to validate with "
                "--valid-batch %d\n", fl->valid, valid_count, fl->valid_batch);
        goto done;
    }
    if (!(g = weft_graph_new())) {
        fprintf(stderr, "weft train: out of memory\n");
        goto done;
    }
    log = weft_cli_open_log(fl->log, fl->resume != NULL);
    if (fl->log && !log) goto done;

    int V = m->vocab_size;
    int win_per_epoch = (batches.steps - 1 + run.bptt - 1) / run.bptt;
    size_t tok_per_epoch = (size_t)(batches.steps - 1) * (size_t)run.batch;
    fprintf(stderr, "model: %s, %d x %d %s, embed %d, %d tokens in the vocabulary, %zu "
            "parameters%s, dropout %g (%s), embedding dropout %g\n",
            level == WEFT_TEXT_WORDS ? "words" : "characters", m->cfg.layers, m->cfg.hidden,
            m->cfg.cell, m->cfg.embed, V, weft_params_numel(m->params),
            m->cfg.tied ? " (tied)" : "", (double)m->cfg.dropout,
            m->cfg.variational ? "variational" : "standard", (double)m->cfg.dropout_embed);
    fprintf(stderr, "data: %s, %zu tokens: %d streams x %d steps, %d windows of %d an epoch; "
            "validation: %s (%zu tokens)\n", fl->data, train_count, run.batch, batches.steps,
            win_per_epoch, run.bptt, fl->valid ? fl->valid : "none",
            valid_ids ? valid_count : (size_t)0);
    fprintf(stderr, "training: %d epochs, %s lr %g (x%g from epoch %d), clip %g; best model -> "
            "%s, training state -> %s.state\n", run.epochs, run.optim.kind == WEFT_SGD ? "sgd"
            : run.optim.kind == WEFT_ADAM ? "adam" : "adamw", run.lr0, run.decay,
            run.decay_start, (double)run.clip, save, save);

    weft_cli_catch_sigint();

    bool tty = isatty(STDERR_FILENO);
    int report_every = win_per_epoch / 10 > 0 ? win_per_epoch / 10 : 1;
    double t_start = weft_cli_now(), t_report = t_start;
    size_t tokens_done = 0;          /* since this process started */
    long windows_session = 0;
    bool stopped = false;
    status = WEFT_EXIT_OK;

    for (; run.epoch <= run.epochs && !stopped; run.epoch++) {
        double lr = weft_lr_step_decay(run.lr0, run.decay, run.decay_start, run.epoch);
        run.lr = lr;
        run.optim.lr = lr;
        if (run.next_start == 0) weft_state_free(&carry);
        double t_epoch = weft_cli_now();
        double sum_loss = 0.0, rep_loss = 0.0;
        long n_loss = 0, rep_n = 0;
        size_t rep_tokens = 0;
        float last_norm = 0.0f;
        const int *in, *tg;
        int len, start = run.next_start;
        while ((len = weft_batches_window(&batches, start, run.bptt, &in, &tg)) > 0) {
            if (weft_cli_interrupted ||
                (fl->stop_after > 0 && windows_session >= fl->stop_after)) {
                stopped = true;
                break;
            }
            weft_lm_step_info info;
            if (weft_lm_train_window(m, g, in, tg, len, run.batch, &carry, &run.optim, run.clip,
                                     &run.rng, &info, err, sizeof err)) {
                if (tty) fputc('\n', stderr);
                fprintf(stderr, "weft train: %s: epoch %d, window %d (steps %d..%d of %d): %s\n",
                        fl->data, run.epoch, start / run.bptt + 1, start, start + len,
                        batches.steps, err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
            start += len;
            run.next_start = start;
            run.windows++;
            windows_session++;
            tokens_done += (size_t)len * run.batch;
            rep_tokens += (size_t)len * run.batch;
            sum_loss += info.loss;
            rep_loss += info.loss;
            n_loss++;
            rep_n++;
            last_norm = info.grad_norm;

            double t = weft_cli_now();
            int w = start / run.bptt;   /* windows done this epoch, about */
            bool last = start >= batches.steps - 1;
            bool report = tty ? (t - t_report >= 0.25 || last) : (w % report_every == 0 || last);
            if (report && rep_n > 0) {
                weft_cli_report r = { run.epoch, run.epochs, run.windows, tokens_done,
                                      t - t_start, lr, rep_loss / (double)rep_n, last_norm };
                double left = (double)(batches.steps - 1 - start) * run.batch +
                              (double)(run.epochs - run.epoch) * (double)tok_per_epoch;
                weft_cli_report_progress(&r, 100.0 * (double)start / (double)(batches.steps - 1),
                                         left, tty, log);
                t_report = t;
                rep_loss = 0.0;
                rep_n = 0;
                rep_tokens = 0;
            }
        }
        (void)rep_tokens;
        if (tty) fputc('\n', stderr);
        if (stopped) break;

        /* the epoch is done: validate, keep the best, save the state */
        double train_loss = n_loss ? sum_loss / (double)n_loss : NAN;
        double valid_ppl = NAN;
        if (valid_ids) {
            double nll;
            size_t count;
            if (weft_lm_eval(m, g, valid_ids, valid_count, fl->valid_batch, run.bptt, &nll,
                             &count, err, sizeof err)) {
                fprintf(stderr, "weft train: validating on %s: %s\n", fl->valid, err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
            valid_ppl = exp(nll / (double)count);
        }
        bool best = !valid_ids || run.best_valid == 0.0 || valid_ppl < run.best_valid;
        if (best) {
            if (valid_ids) run.best_valid = valid_ppl;
            if (weft_lm_save(m, save, err, sizeof err)) {
                fprintf(stderr, "weft train: saving the model: %s\n", err);
                status = WEFT_EXIT_FAIL;
                goto done;
            }
        }
        double t = weft_cli_now();
        weft_cli_report r = { run.epoch, run.epochs, run.windows, tokens_done, t - t_start,
                              run.lr, train_loss, last_norm };
        weft_cli_report_epoch(&r, valid_ppl, valid_ids != NULL, t - t_epoch, best, log);
        /* the state at the start of the next epoch */
        run.next_start = 0;
        weft_state_free(&carry);
        weft_lm_run next = run;
        next.epoch = run.epoch + 1;
        snprintf(state_path, sizeof state_path, "%s.state", save);
        if (weft_lm_save_run(m, &next, &carry, state_path, err, sizeof err)) {
            fprintf(stderr, "weft train: saving the training state: %s\n", err);
            status = WEFT_EXIT_FAIL;
            goto done;
        }
    }

    if (stopped) {
        /* Ctrl-C or --stop-after: the state as it is, to resume exactly here. */
        snprintf(state_path, sizeof state_path, "%s.state", save);
        if (weft_lm_save_run(m, &run, &carry, state_path, err, sizeof err)) {
            fprintf(stderr, "weft train: saving the training state: %s\n", err);
            status = WEFT_EXIT_FAIL;
            goto done;
        }
        if (access(save, F_OK) != 0 && weft_lm_save(m, save, err, sizeof err)) {
            fprintf(stderr, "weft train: saving the model: %s\n", err);
            status = WEFT_EXIT_FAIL;
            goto done;
        }
        fprintf(stderr, "%s at epoch %d, step %d of %d: saved %s; continue with "
                "'weft train --resume %s --data %s%s%s'\n",
                weft_cli_interrupted ? "interrupted" : "stopped", run.epoch, run.next_start,
                batches.steps - 1, state_path, save, fl->data, fl->valid ? " --valid " : "",
                fl->valid ? fl->valid : "");
        status = weft_cli_interrupted ? 130 : WEFT_EXIT_OK;
    } else if (valid_ids) {
        printf("best valid perplexity: %.2f (%s)\n", run.best_valid, save);
    }

done:
    if (log) fclose(log);
    weft_graph_free(g);
    weft_batches_free(&batches);
    free(train_ids);
    free(valid_ids);
    weft_tokens_free(&train_t);
    weft_tokens_free(&valid_t);
    weft_state_free(&carry);
    weft_lm_free(m);
    return status;
}

int weft_cmd_train(int argc, char **argv)
{
    const char *task = weft_args_peek(argc, argv, "task");
    if (task && strcmp(task, "ngram") == 0) return weft_cli_ngram_train(argc, argv);
    if (task && strcmp(task, "window-lm") == 0) return weft_cli_window_lm_train(argc, argv);
    train_flags fl = {
        .task = "lm", .level = "word", .cell = "lstm", .optim = "sgd", .dropout_mode = "standard",
        .layers = 2, .hidden = 200, .embed = 200, .batch = 20, .bptt = 35, .epochs = 0,
        .decay_start = 1, .seed = 1, .min_count = 1, .max_vocab = 0, .valid_batch = 10,
        .lr = 20.0f, .clip = 0.25f, .dropout = 0.2f, .decay = 1.0f, .init = 0.0f,
    };
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
        { "init", WEFT_FLAG_FLOAT, &fl.init, "K",
          "recurrent weights uniform in [-K, K] (0: the cell's own, PyTorch's 1/sqrt(H))", 0,
          10 },
    };
    const weft_flag train_flags_[] = {
        { "batch", WEFT_FLAG_INT, &fl.batch, "B", "parallel streams", 1, 1 << 20 },
        { "bptt", WEFT_FLAG_INT, &fl.bptt, "T", "steps a window (truncated BPTT)", 1, 1 << 20 },
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K",
          "passes over the data (0: 6, or on --resume the run's)", 0, 1e6 },
        { "lr", WEFT_FLAG_FLOAT, &fl.lr, "X",
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
        { "log", WEFT_FLAG_STRING, &fl.log, "FILE", "write progress as CSV", 0, 0 },
        { "stop-after", WEFT_FLAG_INT, &fl.stop_after, "N",
          "stop after N windows, saving as Ctrl-C does (0: never)", 0, 1e9 },
    };
    const weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof data_flags[0]) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof model_flags[0]) },
        { "training", train_flags_, (int)(sizeof train_flags_ / sizeof train_flags_[0]) },
        { "files", file_flags, (int)(sizeof file_flags / sizeof file_flags[0]) },
    };
    weft_args_spec spec = {
        .prog = "weft train",
        .summary = "Train a recurrent language model on a text file (see docs/lm.md).",
        .details =
            "Progress goes to stderr (one updating line on a terminal), one line an epoch to\n"
            "stdout. The best model by validation perplexity is saved to --save; the whole\n"
            "training state to SAVE.state after every epoch and on Ctrl-C, which stops after\n"
            "the current window; --resume SAVE continues from it (the run's settings are kept;\n"
            "--epochs may raise the number of epochs).\n\n"
            "example (Zaremba et al. 2014, small):\n"
            "  weft train --data ptb.train.txt --valid ptb.valid.txt --layers 2 --hidden 200\n"
            "    --embed 200 --batch 20 --bptt 20 --epochs 13 --lr 20 --clip 0.25 --dropout 0\n"
            "    --decay 0.5 --decay-start 5 --init 0.1 --save ptb-small.safetensors",
        .groups = groups,
        .n_groups = 4,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (strcmp(fl.task, "lm") != 0) {
        fprintf(stderr, "weft train: --task '%s': expected lm (a recurrent language model), "
                "ngram or window-lm\n", fl.task);
        return WEFT_EXIT_USAGE;
    }
    return train_lm(&fl);
}
