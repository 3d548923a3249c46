/* src/cli/cmd_classify.c — the labelling models from the command line
 * (weft/classify.h):
 *
 *     weft train --task classify|tag|window --data F --valid F [--cell NAME] ...
 *     weft eval --model M --data F          (last line "accuracy: X")
 *     weft predict --model M [--data F]     (labels, CoNLL-U, or BIO with the prediction)
 *
 * The training loop is the library's (weft/train.h); this file parses
 * flags, reads the files, calls the library and prints. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "weft/classify.h"
#include "weft/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* This process's CPU seconds (every thread's): on a shared machine the
 * work an epoch took, where wall time says how busy the machine was. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- reading data for a model ------------------------------------------------------------ */

/* The CoNLL-U field a --column names: upos, xpos, or a number. */
static int parse_column(const char *s, int *out)
{
    if (strcmp(s, "upos") == 0 || strcmp(s, "UPOS") == 0) *out = WEFT_CONLLU_UPOS;
    else if (strcmp(s, "xpos") == 0 || strcmp(s, "XPOS") == 0) *out = WEFT_CONLLU_XPOS;
    else if (weft_args_int(s, out) || *out < 1 || *out > 10 || *out == WEFT_CONLLU_FORM) return -1;
    return 0;
}

/* The format of a file for a task: --format when given, else classify for the
 * classifier and, for taggers, conllu when the name ends in .conllu, else bio. */
static int pick_format(const char *flag, weft_classify_task task, const char *path,
                       weft_labeled_format *out)
{
    if (flag && strcmp(flag, "auto") != 0) {
        if (weft_labeled_format_parse(flag, out)) {
            fprintf(stderr, "weft: --format '%s': expected classify, conllu, bio or text\n", flag);
            return -1;
        }
        return 0;
    }
    size_t n = strlen(path);
    if (task == WEFT_TASK_CLASSIFY) *out = WEFT_FORMAT_CLASSIFY;
    else *out = n >= 7 && strcmp(path + n - 7, ".conllu") == 0 ? WEFT_FORMAT_CONLLU : WEFT_FORMAT_BIO;
    return 0;
}

static int read_data(const char *cmd, const char *path, weft_labeled_format f, int column,
                     weft_labeled_data *d)
{
    char err[1024];
    int rc;
    if (strcmp(path, "-") == 0) {
        /* standard input: read it whole, then parse as a file named <stdin> */
        char *text = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
            if (len + 65536 > cap) {
                cap = cap ? 2 * cap : 1 << 20;
                char *t = realloc(text, cap);
                if (!t) {
                    free(text);
                    fprintf(stderr, "%s: <stdin>: out of memory\n", cmd);
                    return -1;
                }
                text = t;
            }
            size_t got = fread(text + len, 1, cap - len - 1, stdin);
            len += got;
            if (got == 0) break;
        }
        if (ferror(stdin)) {
            free(text);
            fprintf(stderr, "%s: <stdin>: read error\n", cmd);
            return -1;
        }
        rc = weft_labeled_from_string(text ? text : "", len, "<stdin>", f, column, d, err,
                                      sizeof err);
        free(text);
    } else {
        rc = weft_labeled_read(path, f, column, d, err, sizeof err);
    }
    if (rc) fprintf(stderr, "%s: %s\n", cmd, err);
    return rc;
}

static int make_set(const char *cmd, const weft_classify_model *m, const weft_labeled_data *d,
                    weft_classify_set *s)
{
    char err[1024];
    if (weft_classify_set_make(m, d, s, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* --- weft train --task classify|tag|window ------------------------------------------------ */

typedef struct train_flags {
    const char *task, *data, *valid, *format, *column, *cell, *pool, *optim, *save, *vectors,
        *resume;
    int layers, hidden, embed, char_embed, char_hidden, window, window_hidden, min_count, batch,
        pool_batches, epochs, decay_start, seed, stop_after;
    float dropout, lr, clip, decay, weight_decay;
    bool bidirectional, char_encoder, lowercase, digits;
    weft_cli_trainer_args tr;
} train_flags;

typedef struct progress {
    const char *unit;
    double last_items, last_seconds, last_cpu;
    weft_classify_run *run;
} progress;

static int print_event(void *user, const weft_train_event *e)
{
    progress *p = user;
    if (e->kind == WEFT_TRAIN_EPOCH) {
        double items = e->items - p->last_items, secs = e->train_seconds - p->last_seconds;
        double cpu = cpu_now(), cpu_secs = cpu - p->last_cpu;
        p->last_items = e->items;
        p->last_seconds = e->train_seconds;
        p->last_cpu = cpu;
        printf("epoch %d: lr %g | train loss %.4f | valid accuracy %s%.2f | %.1f s, %.0f %s/s | "
               "%.2f CPU s%s%s\n",
               e->epoch, e->lr, e->loss, e->has_score ? "" : "(none) ",
               e->has_score ? e->score : 0.0, secs, secs > 0 ? items / secs : 0.0, p->unit,
               cpu_secs, e->best ? " | best" : "", e->saved ? ", saved" : "");
        if (e->has_score && p->run->last_has_chunks)
            printf("         valid entity F1 %.2f\n", 100.0 * weft_chunk_f1(&p->run->last));
        fflush(stdout);
    } else if (e->kind == WEFT_TRAIN_TEST) {
        printf("test accuracy of the best model: %.2f\n", e->score);
        fflush(stdout);
    }
    return 0;
}

/* A new model as the flags describe it, over the training data's
 * vocabularies (and --vectors). NULL with the message printed; *status the
 * exit status then. */
static weft_classify_model *new_model(const train_flags *fl, weft_classify_config *cfg,
                                      const weft_labeled_data *train, int *status)
{
    const char *cmd = "weft train";
    char err[1024];
    *status = WEFT_EXIT_FAIL;
    weft_vocab *words, *labels, *chars;
    if (weft_classify_vocabs(cfg, train, fl->min_count, &words, &labels, &chars, err,
                             sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return NULL;
    }
    weft_classify_model *m = weft_classify_new(cfg, words, labels, chars, err, sizeof err);
    if (!m) {
        weft_vocab_free(words);
        weft_vocab_free(labels);
        weft_vocab_free(chars);
        fprintf(stderr, "%s: %s\n", cmd, err);
        *status = WEFT_EXIT_USAGE;
        return NULL;
    }
    weft_rng init;
    weft_rng_seed(&init, (uint64_t)fl->seed);
    if (weft_classify_init(m, &init)) {
        fprintf(stderr, "%s: initialising the model failed\n", cmd);
        weft_classify_free(m);
        return NULL;
    }
    if (fl->vectors) {
        int found;
        if (weft_classify_load_vectors(m, fl->vectors, &found, err, sizeof err)) {
            fprintf(stderr, "%s: --vectors: %s\n", cmd, err);
            weft_classify_free(m);
            return NULL;
        }
        fprintf(stderr, "vectors: %d of %d words from %s\n", found, weft_vocab_size(m->words),
                fl->vectors);
    }
    return m;
}

/* The model's configuration from the flags. 0, or the exit status (the
 * message printed). */
static int config_from_flags(const train_flags *fl, weft_classify_task task,
                             weft_classify_config *cfg)
{
    const char *cmd = "weft train";
    *cfg = weft_classify_defaults(task);
    if (weft_pool_parse(fl->pool, &cfg->pool) || parse_column(fl->column, &cfg->column) ||
        pick_format(fl->format, task, fl->data, &cfg->format)) {
        fprintf(stderr, "%s: --pool is last, mean or max; --column upos, xpos or 1..10 but 2\n",
                cmd);
        return WEFT_EXIT_USAGE;
    }
    if (strlen(fl->cell) >= sizeof cfg->cell) {
        fprintf(stderr, "%s: --cell: the name is too long\n", cmd);
        return WEFT_EXIT_USAGE;
    }
    snprintf(cfg->cell, sizeof cfg->cell, "%s", fl->cell);
    cfg->layers = fl->layers;
    cfg->hidden = fl->hidden;
    cfg->embed = fl->embed;
    cfg->bidirectional = fl->bidirectional;
    cfg->dropout = fl->dropout;
    cfg->char_encoder = fl->char_encoder;
    cfg->char_embed = fl->char_embed;
    cfg->char_hidden = fl->char_hidden;
    cfg->window = fl->window;
    cfg->window_hidden = fl->window_hidden;
    cfg->norm = (weft_word_norm){ .lowercase = fl->lowercase, .digits = fl->digits };
    return 0;
}

int weft_cli_classify_train(int argc, char **argv)
{
    train_flags fl = {
        .task = "classify", .format = "auto", .column = "upos", .cell = "lstm", .pool = "max",
        .optim = "adam", .layers = 1, .hidden = 150, .embed = 100, .char_embed = 30,
        .char_hidden = 50, .window = 2, .window_hidden = 300, .min_count = 1, .batch = 32,
        .pool_batches = 20, .epochs = 0, .decay_start = 1, .seed = 1, .dropout = 0.5f,
        .lr = 0.001f, .clip = 5.0f, .decay = 1.0f,
    };
    const weft_flag data_flags[] = {
        { "task", WEFT_FLAG_STRING, &fl.task, "TASK",
          "classify (a sentence a line), tag (a recurrent tagger) or window (Collobert's "
          "window classifier)", 0, 0 },
        { "data", WEFT_FLAG_STRING, &fl.data, "FILE", "training data (required)", 0, 0 },
        { "valid", WEFT_FLAG_STRING, &fl.valid, "FILE", "validation data: the best model is kept",
          0, 0 },
        { "format", WEFT_FLAG_STRING, &fl.format, "F",
          "classify, conllu or bio (auto: classify for --task classify, else conllu for a "
          ".conllu file and bio otherwise)", 0, 0 },
        { "column", WEFT_FLAG_STRING, &fl.column, "C",
          "the CoNLL-U field to predict: upos, xpos or its number", 0, 0 },
        { "min-count", WEFT_FLAG_INT, &fl.min_count, "N",
          "words seen fewer times become <unk>", 1, 1 << 30 },
        { "lowercase", WEFT_FLAG_BOOL, &fl.lowercase, NULL, "lowercase words (ASCII)", 0, 0 },
        { "digits", WEFT_FLAG_BOOL, &fl.digits, NULL, "every digit becomes 0", 0, 0 },
        { "vectors", WEFT_FLAG_STRING, &fl.vectors, "FILE",
          "initialise the embedding from word2vec text vectors", 0, 0 },
    };
    const weft_flag model_flags[] = {
        { "cell", WEFT_FLAG_STRING, &fl.cell, "NAME",
          "the recurrent cell (see 'weft cells'; or a plugin FILE.so)", 0, 0 },
        { "layers", WEFT_FLAG_INT, &fl.layers, "N", "stacked layers", 1, 64 },
        { "hidden", WEFT_FLAG_INT, &fl.hidden, "H", "hidden units a layer and direction", 1,
          1 << 20 },
        { "embed", WEFT_FLAG_INT, &fl.embed, "E", "word embedding width", 1, 1 << 20 },
        { "bidirectional", WEFT_FLAG_BOOL, &fl.bidirectional, NULL,
          "read both ways (the tagger should)", 0, 0 },
        { "pool", WEFT_FLAG_STRING, &fl.pool, "last|mean|max",
          "classify: pooling over each sentence's real steps", 0, 0 },
        { "dropout", WEFT_FLAG_FLOAT, &fl.dropout, "P",
          "on the embeddings, between layers and before the output", 0, 0.99 },
        { "char-encoder", WEFT_FLAG_BOOL, &fl.char_encoder, NULL,
          "tag: a bidirectional rnn over each word's characters", 0, 0 },
        { "char-embed", WEFT_FLAG_INT, &fl.char_embed, "N", "character embedding width", 1,
          4096 },
        { "char-hidden", WEFT_FLAG_INT, &fl.char_hidden, "N",
          "character rnn units a direction", 1, 4096 },
        { "window", WEFT_FLAG_INT, &fl.window, "K", "window: neighbours each side", 0, 50 },
        { "window-hidden", WEFT_FLAG_INT, &fl.window_hidden, "N", "window: hidden units", 1,
          1 << 20 },
    };
    weft_flag train_flags_[10 + WEFT_CLI_TRAINER_FLAGS] = {
        { "batch", WEFT_FLAG_INT, &fl.batch, "B", "sentences a batch", 1, 1 << 20 },
        { "pool-batches", WEFT_FLAG_INT, &fl.pool_batches, "N",
          "batches sorted by length together (bucketing)", 1, 1 << 20 },
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K",
          "passes over the data (default: 10; on --resume, the run's)", 1, 1e6 },
        { "optim", WEFT_FLAG_STRING, &fl.optim, "sgd|adam|adamw", "the optimiser", 0, 0 },
        { "lr", WEFT_FLAG_FLOAT, &fl.lr, "LR", "learning rate", 0, 1e6 },
        { "weight-decay", WEFT_FLAG_FLOAT, &fl.weight_decay, "W",
          "L2 penalty (sgd, adam) or decoupled decay (adamw; 0: its 0.01)", 0, 1 },
        { "decay", WEFT_FLAG_FLOAT, &fl.decay, "F",
          "multiply the learning rate by F every epoch from --decay-start (step), or on a "
          "plateau", 0, 1 },
        { "decay-start", WEFT_FLAG_INT, &fl.decay_start, "K", "first epoch decayed", 1, 1e6 },
        { "clip", WEFT_FLAG_FLOAT, &fl.clip, "C", "clip the gradient norm (0: no clip)", 0,
          1e9 },
        { "seed", WEFT_FLAG_INT, &fl.seed, "S", "random seed", 0, 2147483647 },
    };
    weft_flag more_flags[] = {
        { "save", WEFT_FLAG_STRING, &fl.save, "FILE",
          "the best model (default: TASK.safetensors; with --resume, that model); the training "
          "state goes to FILE.state", 0, 0 },
        { "resume", WEFT_FLAG_STRING, &fl.resume, "MODEL",
          "continue the run saved in MODEL.state exactly where it stopped (the same --data)",
          0, 0 },
        { "stop-after", WEFT_FLAG_INT, &fl.stop_after, "N",
          "stop after N batches (the state saved, as on Ctrl-C)", 0, 1e9 },
    };
    weft_cli_trainer_flags(&fl.tr, train_flags_ + 10);
    const weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof *data_flags) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof *model_flags) },
        { "training", train_flags_, (int)(sizeof train_flags_ / sizeof *train_flags_) },
        { "files", more_flags, (int)(sizeof more_flags / sizeof *more_flags) },
    };
    weft_args_spec spec = {
        .prog = "weft train",
        .summary = "Train a sentence classifier, a tagger or a window classifier (docs/classify.md).",
        .groups = groups,
        .n_groups = 4,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    const char *cmd = "weft train";
    weft_classify_task task;
    if (weft_classify_task_parse(fl.task, &task)) {
        fprintf(stderr, "%s: --task '%s': expected classify, tag or window here\n", cmd, fl.task);
        return WEFT_EXIT_USAGE;
    }
    if (!fl.data) {
        fprintf(stderr, "%s: --data FILE is required\n", cmd);
        return WEFT_EXIT_USAGE;
    }

    char err[1024];
    int status = WEFT_EXIT_FAIL;
    weft_labeled_data train = { 0 }, valid = { 0 }, test = { 0 };
    weft_classify_set s_train = { 0 }, s_valid = { 0 }, s_test = { 0 };
    weft_classify_model *m = NULL;
    weft_classify_run run = { 0 };
    weft_train_opts o = weft_train_defaults();
    weft_train_state resume_state;
    weft_classify_resume saved = { 0 };
    weft_classify_config cfg;
    char save[4096], state_path[4200];

    if (fl.resume) {
        snprintf(state_path, sizeof state_path, "%s.state", fl.resume);
        if (!(m = weft_classify_load_state(state_path, &o, &resume_state, &saved, err,
                                           sizeof err))) {
            fprintf(stderr, "%s: --resume: %s\n", cmd, err);
            return WEFT_EXIT_FAIL;
        }
        if (m->cfg.task != task) {
            fprintf(stderr, "%s: --resume: %s is a %s run, not --task %s\n", cmd, state_path,
                    weft_classify_task_name(m->cfg.task), fl.task);
            weft_classify_free(m);
            return WEFT_EXIT_USAGE;
        }
        cfg = m->cfg;
        fl.batch = saved.batch;
        fl.pool_batches = saved.pool;
        if (fl.epochs > 0) o.epochs = fl.epochs;
        o.resume = &resume_state;
    } else {
        if ((status = config_from_flags(&fl, task, &cfg))) return status;
        status = WEFT_EXIT_FAIL;
        if (weft_cli_optim(fl.optim, fl.lr, &o.optim)) return WEFT_EXIT_USAGE;
        if (fl.weight_decay > 0) o.optim.weight_decay = fl.weight_decay;
        o.clip = fl.clip;
        o.epochs = fl.epochs > 0 ? fl.epochs : 10;
        o.schedule.decay = fl.decay;
        o.schedule.decay_start = fl.decay_start;
        weft_rng_seed(&o.rng, (uint64_t)fl.seed * 0x9E3779B97F4A7C15ull + 1);
    }
    snprintf(save, sizeof save, "%s",
             fl.save     ? fl.save
             : fl.resume ? fl.resume
             : task == WEFT_TASK_CLASSIFY ? "classify.safetensors"
             : task == WEFT_TASK_TAG      ? "tag.safetensors"
                                          : "window.safetensors");
    if (read_data(cmd, fl.data, cfg.format, cfg.column, &train) ||
        (fl.valid && read_data(cmd, fl.valid, cfg.format, cfg.column, &valid)) ||
        (fl.tr.test && read_data(cmd, fl.tr.test, cfg.format, cfg.column, &test)))
        goto done;
    if (fl.resume && (train.n_sents != saved.train_sentences ||
                      train.n_words != saved.train_words)) {
        fprintf(stderr, "%s: --resume: %s has %d sentences and %d words but the run was "
                "started on %d and %d: resume with the same --data\n", cmd, fl.data,
                train.n_sents, train.n_words, saved.train_sentences, saved.train_words);
        goto done;
    }
    if (!m && !(m = new_model(&fl, &cfg, &train, &status))) goto done;
    status = WEFT_EXIT_FAIL;
    if (make_set(cmd, m, &train, &s_train) || (fl.valid && make_set(cmd, m, &valid, &s_valid)) ||
        (fl.tr.test && make_set(cmd, m, &test, &s_test)))
        goto done;
    /* the trainer flags that are not part of a run's state come from the flags */
    weft_optim kept = o.optim;
    weft_lr_schedule kept_schedule = o.schedule;
    int kept_patience = o.patience, kept_accumulate = o.accumulate;
    if (weft_cli_trainer_opts(&fl.tr, m->n_labels, &o)) {
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    if (fl.resume) {
        /* the run's own schedule, patience and accumulation, as saved */
        o.optim = kept;
        o.schedule = kept_schedule;
        o.patience = kept_patience;
        o.accumulate = kept_accumulate;
    } else {
        o.schedule.decay = fl.decay;
        o.schedule.decay_start = fl.decay_start;
    }
    snprintf(state_path, sizeof state_path, "%s.state", save);
    o.save_path = save;
    o.state_path = state_path;
    o.stop_after = fl.stop_after;
    o.catch_signals = true;

    if (weft_cli_rank() == 0) {
        char how[512];
        weft_cli_describe_training(&o, how, sizeof how);
        fprintf(stderr, "%s: %s, %d sentences, %d words; %d word types (min count %d), %d "
                "labels%s; %zu parameters\n", weft_classify_task_name(task), fl.data,
                train.n_sents, train.n_words, weft_vocab_size(m->words), fl.min_count,
                m->n_labels, m->chars ? ", with characters" : "", weft_params_numel(m->params));
        fprintf(stderr, "training: %d epochs, %s; best model -> %s, training state -> %s\n",
                o.epochs, how, save, state_path);
        if (fl.resume)
            fprintf(stderr, "resuming %s at epoch %d, batch %ld\n", state_path,
                    resume_state.epoch, resume_state.batch);
    }

    run = (weft_classify_run){ .model = m, .train = &s_train,
                               .valid = fl.valid ? &s_valid : NULL,
                               .test = fl.tr.test ? &s_test : NULL, .batch = fl.batch,
                               .pool = fl.pool_batches };
    weft_trainable t;
    weft_classify_trainable(&run, &t);
    progress pr = { .unit = task == WEFT_TASK_CLASSIFY ? "sent" : "words", .run = &run,
                    .last_cpu = cpu_now() };
    o.on_event = print_event;
    o.user = &pr;
    weft_train_result res;
    double t0 = now();
    if (weft_train(&t, &o, &res, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        goto done;
    }
    if (weft_cli_rank() > 0) {
        status = weft_cli_stop_status(&res);
        goto done;
    }
    weft_cli_print_speed(&o, &res, pr.unit);   /* its speed even when stopped (bench/distributed.sh) */
    if (res.stop == WEFT_TRAIN_INTERRUPTED || res.stop == WEFT_TRAIN_STOPPED) {
        fprintf(stderr, "%s at epoch %d, batch %ld: saved %s; continue with 'weft train --task "
                "%s --resume %s --data %s%s%s'\n",
                res.stop == WEFT_TRAIN_INTERRUPTED ? "interrupted" : "stopped", res.state.epoch,
                res.state.batch, state_path, fl.task, save, fl.data, fl.valid ? " --valid " : "",
                fl.valid ? fl.valid : "");
        status = weft_cli_stop_status(&res);
        goto done;
    }
    if (res.stop == WEFT_TRAIN_EARLY_STOPPED)
        fprintf(stderr, "early stop after epoch %d: %d epochs without a better validation "
                "accuracy\n", res.epochs_done, o.patience);
    status = WEFT_EXIT_OK;
    printf("trained %d epochs in %.1f s (%.1f s of training)\n", res.epochs_done, now() - t0,
           res.train_seconds);
    if (res.has_best)
        printf("best valid accuracy: %.2f (epoch %d, %s)\n", res.best, res.best_epoch, save);
done:
    weft_classify_run_free(&run);
    weft_classify_set_free(&s_train);
    weft_classify_set_free(&s_valid);
    weft_classify_set_free(&s_test);
    weft_classify_free(m);
    weft_labeled_free(&train);
    weft_labeled_free(&valid);
    weft_labeled_free(&test);
    return status;
}

/* --- a model and data to run it on (eval, predict) ---------------------------------------------- */

typedef struct opened {
    weft_classify_model *m;
    weft_labeled_data d;
    weft_classify_set s;
    weft_graph *g;
} opened;

static void close_opened(opened *o)
{
    weft_graph_free(o->g);
    weft_classify_set_free(&o->s);
    weft_labeled_free(&o->d);
    weft_classify_free(o->m);
}

/* Load the model, read the data (in --format, or `fallback` for "auto") and
 * encode it. 0, or the exit status (the message printed); *o is then closed. */
static int open_for(const char *cmd, const char *model, const char *data, const char *format,
                    bool for_predict, opened *o)
{
    *o = (opened){ 0 };
    char err[1024];
    if (!(o->m = weft_classify_load(model, err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return WEFT_EXIT_FAIL;
    }
    /* a classifier labels plain sentences; eval reads the training format */
    weft_labeled_format f = for_predict && o->m->cfg.task == WEFT_TASK_CLASSIFY ? WEFT_FORMAT_TEXT
                                                                                : o->m->cfg.format;
    if (strcmp(format, "auto") != 0 && pick_format(format, o->m->cfg.task, data, &f)) {
        close_opened(o);
        return WEFT_EXIT_USAGE;
    }
    if (!(o->g = weft_graph_new()) || read_data(cmd, data, f, o->m->cfg.column, &o->d) ||
        make_set(cmd, o->m, &o->d, &o->s)) {
        close_opened(o);
        return WEFT_EXIT_FAIL;
    }
    return 0;
}

/* --- weft eval ------------------------------------------------------------------------------ */

int weft_cli_classify_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL, *format = "auto";
    int batch = 256;
    bool matrix = true;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "labelled data to score (required; - is stdin)",
          0, 0 },
        { "format", WEFT_FLAG_STRING, &format, "F", "the data's format (auto: the model's)", 0,
          0 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "sentences scored at once", 1, 1 << 20 },
        { "confusion", WEFT_FLAG_BOOL, &matrix, NULL, "print the confusion matrix", 0, 0 },
    };
    weft_args_spec spec = {
        .prog = "weft eval",
        .summary = "Score a classifier or tagger on labelled data; the last line is 'accuracy: X'.",
        .groups = &(weft_flag_group){ "options", flags, 5 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    const char *cmd = "weft eval";
    if (!model || !data) {
        fprintf(stderr, "%s: --%s is required\n", cmd, !model ? "model MODEL" : "data FILE");
        return WEFT_EXIT_USAGE;
    }
    opened o;
    int status = open_for(cmd, model, data, format, false, &o);
    if (status) return status;
    status = WEFT_EXIT_FAIL;
    char err[1024];
    weft_classify_model *m = o.m;
    const weft_labeled_data *dp = &o.d;
    weft_classify_score sc;
    double t0 = now();
    if (weft_classify_evaluate(m, o.g, &o.s, batch, &sc, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        goto done;
    }
    double secs = now() - t0;
    int C = m->n_labels;
    const char **names = malloc((size_t)C * sizeof *names);
    for (int c = 0; names && c < C; c++) names[c] = weft_vocab_token(m->labels, c);
    long n = weft_confusion_total(&sc.confusion);
    printf("data: %s, %d sentences, %d words; %ld %s scored in %.2f s (%.0f /s)\n", data,
           dp->n_sents, dp->n_words, n, m->cfg.task == WEFT_TASK_CLASSIFY ? "sentences" : "words",
           secs, secs > 0 ? n / secs : 0.0);
    if (sc.confusion.unknown)
        printf("labels the model never saw: %ld (counted wrong)\n", sc.confusion.unknown);
    printf("loss: %.4f\n", sc.loss);
    if (m->cfg.task == WEFT_TASK_CLASSIFY) {
        printf("macro-F1: %.2f\n", 100.0 * weft_confusion_macro_f1(&sc.confusion));
        if (matrix && names) weft_confusion_print(&sc.confusion, names, stdout);
    }
    if (sc.has_chunks)
        printf("entities: gold %ld, predicted %ld, correct %ld; precision %.2f recall %.2f "
               "F1 %.2f\n", sc.chunks.gold, sc.chunks.predicted, sc.chunks.correct,
               100.0 * weft_chunk_precision(&sc.chunks), 100.0 * weft_chunk_recall(&sc.chunks),
               100.0 * weft_chunk_f1(&sc.chunks));
    printf("accuracy: %.2f\n", 100.0 * weft_confusion_accuracy(&sc.confusion));
    free(names);
    weft_confusion_free(&sc.confusion);
    status = ferror(stdout) ? WEFT_EXIT_FAIL : WEFT_EXIT_OK;
done:
    close_opened(&o);
    return status;
}

/* --- weft predict ------------------------------------------------------------------------- */

/* BIO data with the prediction added as the last field of every word line
 * (conlleval's input: word ... gold predicted). Other lines as read. */
static int write_bio(const weft_labeled_data *d, const weft_vocab *labels, const int *pred,
                     FILE *f)
{
    for (int s = 0; s < d->n_sents; s++) {
        for (int k = d->sent_start[s]; k < d->sent_start[s + 1]; k++)
            fprintf(f, "%s %s %s\n", d->word[k], d->tag[k], weft_vocab_token(labels, pred[k]));
        fprintf(f, "\n");
    }
    return ferror(f) ? -1 : 0;
}

int weft_cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = "-", *format = "auto";
    int batch = 256;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE", "what to label (- : standard input)", 0, 0 },
        { "format", WEFT_FLAG_STRING, &format, "F",
          "the input's format (auto: the model's; a classifier reads 'text', a sentence a line, "
          "or 'classify' lines whose first field is a label)", 0, 0 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "sentences labelled at once", 1, 1 << 20 },
    };
    weft_args_spec spec = {
        .prog = "weft predict",
        .summary = "Label text with a classifier or tagger: a label a line, CoNLL-U with the "
                   "predicted field, or BIO lines with the prediction added.",
        .groups = &(weft_flag_group){ "options", flags, 4 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    const char *cmd = "weft predict";
    if (!model) {
        fprintf(stderr, "%s: --model MODEL is required\n", cmd);
        return WEFT_EXIT_USAGE;
    }
    opened o;
    int status = open_for(cmd, model, data, format, true, &o);
    if (status) return status;
    status = WEFT_EXIT_FAIL;
    char err[1024];
    weft_classify_model *m = o.m;
    const weft_labeled_data *dp = &o.d;
    int *pred = NULL;
    const char **tags = NULL;
    int n = m->cfg.task == WEFT_TASK_CLASSIFY ? dp->n_sents : dp->n_words;
    pred = malloc((size_t)(n > 0 ? n : 1) * sizeof *pred);
    tags = malloc((size_t)(n > 0 ? n : 1) * sizeof *tags);
    if (!pred || !tags) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        goto done;
    }
    if (weft_classify_predict(m, o.g, &o.s, batch, pred, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        goto done;
    }
    for (int i = 0; i < n; i++) tags[i] = weft_vocab_token(m->labels, pred[i]);
    if (m->cfg.task == WEFT_TASK_CLASSIFY) {
        for (int i = 0; i < n; i++) printf("%s\n", tags[i]);
    } else if (dp->format == WEFT_FORMAT_CONLLU) {
        if (weft_labeled_write_conllu(dp, tags, stdout, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", cmd, err);
            goto done;
        }
    } else if (write_bio(dp, m->labels, pred, stdout)) {
        goto done;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "%s: writing the output failed\n", cmd);
        goto done;
    }
    status = WEFT_EXIT_OK;
done:
    free(pred);
    free(tags);
    close_opened(&o);
    return status;
}
