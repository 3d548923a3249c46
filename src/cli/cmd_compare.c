/* src/cli/cmd_compare.c — `weft compare`: several cells on one task at an
 * equal parameter budget, several seeds; a markdown table, CSV files and a
 * chart of the learning curves (gnuplot). Runs are resumable (each finished
 * (cell, seed) run is a file in OUT/runs/) and may run in parallel processes
 * (--jobs). */
#include "src/cli/cli.h"

#include "weft/weft.h"
#include "weft/classify.h"
#include "weft/compare.h"
#include "weft/tasks.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CELLS = 32, MAX_SEEDS = 100 };

typedef struct cell_entry {
    const weft_cell_type *type;
    void *plugin;                 /* dlopen handle, or NULL for a built-in */
    const char *arg;              /* as given on the command line */
    char arg_name[256];           /* this cell's name or path alone */
    int hidden;
    size_t numel;
} cell_entry;

/* One finished run, as read back from OUT/runs/. */
typedef struct run_file {
    bool done;
    int hidden;
    size_t numel;
    double best, train_seconds, wall_seconds;
    long steps;
    weft_compare_result res;      /* the points */
} run_file;

/* --- run files -------------------------------------------------------------------------- */

/* A cell name as a file name: letters, digits, '-', '_', '.'; others '_'. */
static void safe_name(const char *name, char *out, size_t n)
{
    size_t k = 0;
    for (; name[k] && k + 1 < n; k++) {
        char c = name[k];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        out[k] = ok ? c : '_';
    }
    out[k] = '\0';
}

static void run_path(const char *dir, const weft_cell_type *t, int seed, char *out, size_t n)
{
    char name[64];
    safe_name(t->name, name, sizeof name);
    snprintf(out, n, "%s/runs/%s.seed%d.txt", dir, name, seed);
}

/* Write a finished run atomically: a temporary file renamed over the name. */
static int write_run(const char *path, const char *config, const char *cell, int seed,
                     const weft_compare_result *r)
{
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "weft compare: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "config %s\n", config);
    fprintf(f, "run %s %d %d %zu %.9g %ld %.6f %.6f %d\n", cell, seed, r->hidden, r->numel,
            r->best, r->steps, r->train_seconds, r->wall_seconds, r->n_points);
    for (int k = 0; k < r->n_points; k++) {
        const weft_compare_point *p = &r->points[k];
        fprintf(f, "point %ld %.6f %.9g %.9g %.9g\n", p->step, p->seconds, p->score, p->nll,
                p->accuracy);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "weft compare: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* Read a run file. Returns 1 when it is there and finished with this
 * configuration, 0 when it is absent, -1 when it was made with other settings
 * or cannot be read (message printed). */
static int read_run(const char *path, const char *config, run_file *rf)
{
    memset(rf, 0, sizeof *rf);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[2048];
    int rc = -1;
    if (!fgets(line, sizeof line, f) || strncmp(line, "config ", 7) != 0) {
        fprintf(stderr, "weft compare: %s is not a run file of weft compare\n", path);
        goto done;
    }
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line + 7, config) != 0) {
        fprintf(stderr, "weft compare: %s was made with other settings:\n  it has:  %s\n  now:     "
                "%s\nuse another --out, or delete the folder's runs to start over\n", path,
                line + 7, config);
        goto done;
    }
    char cell[128];
    int seed, n_points;
    if (!fgets(line, sizeof line, f) ||
        sscanf(line, "run %127s %d %d %zu %lg %ld %lg %lg %d", cell, &seed, &rf->hidden,
               &rf->numel, &rf->best, &rf->steps, &rf->train_seconds, &rf->wall_seconds,
               &n_points) != 9 || n_points < 1 || n_points > 1000000) {
        fprintf(stderr, "weft compare: %s: a bad 'run' line\n", path);
        goto done;
    }
    rf->res.points = calloc((size_t)n_points, sizeof *rf->res.points);
    if (!rf->res.points) goto done;
    for (int k = 0; k < n_points; k++) {
        weft_compare_point *p = &rf->res.points[k];
        if (!fgets(line, sizeof line, f) ||
            sscanf(line, "point %ld %lg %lg %lg %lg", &p->step, &p->seconds, &p->score, &p->nll,
                   &p->accuracy) != 5) {
            fprintf(stderr, "weft compare: %s: point %d of %d is missing or bad\n", path, k + 1,
                    n_points);
            goto done;
        }
    }
    rf->res.n_points = n_points;
    rf->done = true;
    rc = 1;
done:
    fclose(f);
    if (rc < 0) weft_compare_result_free(&rf->res);
    return rc;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "weft compare: cannot make the folder %s: %s\n", path, strerror(errno));
    return -1;
}

/* --- the chart ------------------------------------------------------------------------------- */

/* chart.svg and chart.png from OUT/chart.dat (one block per cell: the mean
 * over seeds of step, seconds, score at each validation). */
static int draw_chart(const char *dir, int n_cells, const cell_entry *cells, const char *title,
                      const char *ylabel, bool log_y)
{
    static const char *const colours[] = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd",
                                           "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
                                           "#bcbd22", "#17becf" };
    char data[1100];
    snprintf(data, sizeof data, "%s/chart.dat", dir);
    for (int fmt = 0; fmt < 2; fmt++) {
        char out[1100];
        snprintf(out, sizeof out, "%s/chart.%s", dir, fmt ? "png" : "svg");
        FILE *gp = popen("gnuplot >/dev/null", "w");   /* its stdout is not ours: a PNG it cannot write goes there */
        if (!gp) {
            fprintf(stderr, "weft compare: cannot run gnuplot: %s\n", strerror(errno));
            return -1;
        }
        if (fmt) fprintf(gp, "set terminal pngcairo size 1100,480 font \"Helvetica,10\"\n");
        else fprintf(gp, "set terminal svg size 1100,480 font \"Helvetica,11\" background "
                         "\"white\"\n");
        fprintf(gp, "set output ");
        weft_cli_gnuplot_string(gp, out);
        fprintf(gp, "\nset multiplot layout 1,2 title ");
        weft_cli_gnuplot_string(gp, title);
        fprintf(gp, "\nset grid\nset key outside right top\n%sset ylabel ",
                log_y ? "set logscale y\n" : "");
        weft_cli_gnuplot_string(gp, ylabel);
        for (int panel = 0; panel < 2; panel++) {
            fprintf(gp, "\nset xlabel \"%s\"\nplot ", panel ? "training time (s)"
                                                           : "training steps");
            for (int c = 0; c < n_cells; c++) {
                fprintf(gp, "%s", c ? ", \\\n     " : "");
                weft_cli_gnuplot_string(gp, data);
                fprintf(gp, " index %d using %d:3 with linespoints lw 2 pt 7 ps 0.4 lc rgb "
                        "\"%s\" %s ", c, panel ? 2 : 1, colours[c % 10],
                        c >= 10 ? "dt 2" : "");
                if (panel) {
                    fprintf(gp, "title ");
                    weft_cli_gnuplot_string(gp, cells[c].type->name);
                } else {
                    fprintf(gp, "notitle");
                }
            }
        }
        fprintf(gp, "\nunset multiplot\n");
        if (weft_cli_gnuplot_finish(gp, out, "weft compare")) return -1;
    }
    return 0;
}

/* --- the command ---------------------------------------------------------------------------- */

static double mean_of(const double *v, int n)
{
    double s = 0;
    for (int k = 0; k < n; k++) s += v[k];
    return n ? s / n : NAN;
}

/* The sample standard deviation (n - 1); 0 for one value. */
static double std_of(const double *v, int n)
{
    if (n < 2) return 0.0;
    double m = mean_of(v, n), s = 0;
    for (int k = 0; k < n; k++) s += (v[k] - m) * (v[k] - m);
    return sqrt(s / (n - 1));
}

/* The flags of weft compare. */
typedef struct compare_args {
    const char *cells, *task, *out_dir, *metric, *optim, *data_dir, *music_set;
    int budget_params, epochs, steps, seeds, jobs, hidden, embed, batch, eval_points, length,
        max_digits, distractors, max_len, valid_size, ptb_tokens, epoch_size;
    float budget_seconds, lr, clip;
} compare_args;

/* Everything one invocation works with. */
typedef struct compare_ctx {
    compare_args a;
    weft_compare_opts o;
    cell_entry cells[MAX_CELLS];
    int n_cells;
    weft_task *task;                /* a sequence task (weft/tasks.h), or NULL for: */
    bool labelled;                  /* a labelling task (sst, sst5, upos: weft/classify.h) */
    weft_labeled_data lab_train, lab_valid;
    weft_classify_compare_opts lo;
    int n_words, n_labels, n_chars; /* its vocabularies' sizes (for the budget) */
    char name[16], desc[200];       /* the task's name and one line for tables */
    weft_task_metric metric;
    char config[1024];              /* the settings every run of the folder shares */
    char dir[1024], runs_dir[1100];
    int pending[MAX_CELLS * MAX_SEEDS][2];   /* (cell, seed) runs still to do */
    int n_pending;
} compare_ctx;

/* The labelling tasks: the files under --data-dir and the model they train. */
static const struct labelled_task {
    const char *name, *train, *valid, *desc;
    weft_classify_task task;
} labelled_tasks[] = {
    { "sst", "sst/stsa.binary.train", "sst/stsa.binary.dev",
      "SST-2 sentiment, bidirectional classifier, max pooling", WEFT_TASK_CLASSIFY },
    { "sst5", "sst/stsa.fine.train", "sst/stsa.fine.dev",
      "SST-5 sentiment, bidirectional classifier, max pooling", WEFT_TASK_CLASSIFY },
    { "upos", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu",
      "EWT UPOS, bidirectional tagger with characters", WEFT_TASK_TAG },
};

/* Parse the flags into c->a. Returns WEFT_ARGS_*. */
static int parse_flags(compare_ctx *c, int argc, char **argv)
{
    compare_args *a = &c->a;
    *a = (compare_args){ .optim = "adam", .music_set = "jsb", .seeds = 1, .jobs = 1,
                         .hidden = 32, .embed = 0, .batch = 32, .eval_points = 10,
                         .max_digits = 8, .distractors = 3, .valid_size = 200,
                         .ptb_tokens = 100000, .epoch_size = 10000, .lr = 0.0f,
                         .clip = 1.0f };
    const weft_flag flags[] = {
        { "cell", WEFT_FLAG_STRING, &a->cells, "NAME[,NAME...]", "cells, comma separated: built-in "
          "names ('weft cells') or FILE.so plugins", 0, 0 },
        { "task", WEFT_FLAG_STRING, &a->task, "TASK", "arithmetic, xml, music, ptb, adding or "
          "copy (docs/tasks.md); sst, sst5 or upos: a bidirectional classifier or tagger on "
          "real data (docs/classify.md)", 0, 0 },
        { "budget-params", WEFT_FLAG_INT, &a->budget_params, "N", "size every model to N "
          "parameters (within 2%) by its hidden width", 1, 2e9 },
        { "hidden", WEFT_FLAG_INT, &a->hidden, "H", "hidden width of every cell, without "
          "--budget-params", 1, 8192 },
        { "budget-seconds", WEFT_FLAG_FLOAT, &a->budget_seconds, "S", "train each run for S "
          "seconds (validation not counted)", 0.001, 1e7 },
        { "epochs", WEFT_FLAG_INT, &a->epochs, "K", "train each run for K epochs", 1, 1000000 },
        { "train-steps", WEFT_FLAG_INT, &a->steps, "N", "train each run for N optimizer steps", 1,
          2e9 },
        { "seeds", WEFT_FLAG_INT, &a->seeds, "K", "seeds 1..K per cell (initialisation and data "
          "order; the same for every cell)", 1, MAX_SEEDS },
        { "output", WEFT_FLAG_STRING, &a->out_dir, "DIR", "results folder (default compare-TASK); a "
          "rerun skips the runs it holds", 0, 0 },
        { "jobs", WEFT_FLAG_INT, &a->jobs, "J", "runs at once, in J processes", 1, 256 },
        { "metric", WEFT_FLAG_STRING, &a->metric, "M", "nll or accuracy (classification "
          "tasks; default: the task's)", 0, 0 },
        { "embed", WEFT_FLAG_INT, &a->embed, "E", "embedding width of token tasks (default 16; "
          "sst, sst5, upos: 100)", 1, 4096 },
        { "batch", WEFT_FLAG_INT, &a->batch, "B", "sequences a step", 1, 65536 },
        { "optim", WEFT_FLAG_STRING, &a->optim, "sgd|adam|adamw", "optimizer", 0, 0 },
        { "lr", WEFT_FLAG_FLOAT, &a->lr, "LR", "learning rate (default 0.005; sst, sst5, "
          "upos: 0.002)", 1e-9, 1e6 },
        { "clip", WEFT_FLAG_FLOAT, &a->clip, "C", "clip the global gradient norm to C (0: no "
          "clip)", 0, 1e9 },
        { "eval-points", WEFT_FLAG_INT, &a->eval_points, "N", "validations spread over each run",
          1, 100000 },
    };
    const weft_flag task_flags[] = {
        { "length", WEFT_FLAG_INT, &a->length, "T", "adding: sequence length (50); copy: the "
          "delay (20)", 2, 100000 },
        { "max-digits", WEFT_FLAG_INT, &a->max_digits, "N", "arithmetic: digits a number", 1, 8 },
        { "distractors", WEFT_FLAG_INT, &a->distractors, "N", "arithmetic: at most N letters "
          "after each character", 0, 100 },
        { "max-len", WEFT_FLAG_INT, &a->max_len, "T", "xml, music, ptb: longest sequence (100, "
          "100, 35)", 2, 100000 },
        { "valid-size", WEFT_FLAG_INT, &a->valid_size, "N", "generated tasks: validation "
          "sequences", 1, 1000000 },
        { "epoch-size", WEFT_FLAG_INT, &a->epoch_size, "N", "generated tasks: sequences an epoch",
          1, 2e9 },
        { "music-set", WEFT_FLAG_STRING, &a->music_set, "SET", "music: jsb, nottingham, musedata "
          "or piano", 0, 0 },
        { "ptb-tokens", WEFT_FLAG_INT, &a->ptb_tokens, "N", "ptb: first N train tokens (and N/10 "
          "valid)", 2, 2e9 },
        { "data-dir", WEFT_FLAG_STRING, &a->data_dir, "DIR", "music, ptb, sst, upos: folder of "
          "ptb/, polyphonic_music/, sst/ and ud_english_ewt/ (default: $WEFT_DATA_DIR)", 0, 0 },
    };
    const weft_flag_group groups[] = {
        { "options", flags, (int)(sizeof flags / sizeof *flags) },
        { "task options", task_flags, (int)(sizeof task_flags / sizeof *task_flags) },
    };
    weft_args_spec spec = {
        .prog = "weft compare",
        .summary = "Compare recurrent cells on one task: every model sized to the same number "
                   "of parameters,\ntrained with the same data order and optimiser for each "
                   "seed; the best validation\nscore per cell as mean ± std over seeds.",
        .details = "Writes a markdown table to stdout and, in DIR: results.csv (per cell), "
                   "runs.csv (per run),\ncurves.csv (score against steps and seconds), "
                   "chart.svg and chart.png (gnuplot), runs/ (one\nfile per finished run: a "
                   "rerun with the same settings skips it).\n"
                   "Without --budget-seconds, --epochs or --train-steps each run trains one epoch.\n"
                   "The music and ptb tasks read their data from --data-dir (or WEFT_DATA_DIR).\n"
                   "example:\n"
                   "  weft compare --cell rnn,gru,lstm,lstm-b --task adding --length 50 "
                   "--budget-params 10000 \\\n"
                   "      --budget-seconds 15 --seeds 2 --output adding50\n"
                   "docs/comparison.md has a full comparison; docs/tasks.md the tasks.",
        .groups = groups,
        .n_groups = 2,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return rc;
    if (!a->data_dir) a->data_dir = getenv("WEFT_DATA_DIR");
    bool labelled = false;
    for (size_t k = 0; a->task && k < sizeof labelled_tasks / sizeof *labelled_tasks; k++)
        labelled |= strcmp(a->task, labelled_tasks[k].name) == 0;
    if (a->embed == 0) a->embed = labelled ? 100 : 16;
    if (a->lr == 0) a->lr = labelled ? 0.002f : 0.005f;
    return WEFT_ARGS_OK;
}

/* The options of every run from the flags: budget, optimiser, metric. */
static int make_opts(compare_ctx *c)
{
    const compare_args *a = &c->a;
    if (!a->cells || !a->cells[0]) {
        fprintf(stderr, "weft compare: no cells given: --cell NAME[,NAME...] (e.g. --cell rnn,gru,lstm)\n");
        return -1;
    }
    if (!a->task || !a->task[0]) {
        fprintf(stderr, "weft compare: no task given: --task TASK (arithmetic, xml, music, ptb, "
                "adding, copy)\n");
        return -1;
    }
    weft_compare_opts *o = &c->o;
    *o = (weft_compare_opts){ .embed = a->embed, .batch = a->batch,
                              .clip = a->clip > 0 ? a->clip : -1.0f, .max_steps = a->steps,
                              .epochs = a->epochs, .epoch_size = a->epoch_size,
                              .max_seconds = a->budget_seconds, .eval_points = a->eval_points };
    if (a->steps == 0 && a->epochs == 0 && a->budget_seconds == 0) o->epochs = 1;
    /* the set weft train takes (AdamW's weight decay 0.01, PyTorch's default) */
    if (strcmp(a->optim, "adam") == 0) o->optim = weft_optim_adam(a->lr);
    else if (strcmp(a->optim, "sgd") == 0) o->optim = weft_optim_sgd(a->lr);
    else if (strcmp(a->optim, "adamw") == 0) o->optim = weft_optim_adamw(a->lr, 0.01);
    else {
        fprintf(stderr, "weft compare: --optim '%s': expected sgd, adam or adamw\n", a->optim);
        return -1;
    }
    if (a->metric) {
        o->use_metric = true;
        if (strcmp(a->metric, "nll") == 0) o->metric = WEFT_METRIC_NLL;
        else if (strcmp(a->metric, "accuracy") == 0) o->metric = WEFT_METRIC_ACCURACY;
        else {
            fprintf(stderr, "weft compare: --metric '%s': use nll or accuracy\n", a->metric);
            return -1;
        }
    }
    return 0;
}

/* The cells of --cell: built-in names or plugins (closed by the caller). */
static int load_cells(compare_ctx *c)
{
    char list[2048];
    snprintf(list, sizeof list, "%s", c->a.cells);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (c->n_cells == MAX_CELLS) {
            fprintf(stderr, "weft compare: --cell: at most %d cells\n", MAX_CELLS);
            return -1;
        }
        cell_entry *e = &c->cells[c->n_cells];
        e->arg = c->a.cells + (tok - list);
        snprintf(e->arg_name, sizeof e->arg_name, "%s", tok);
        char err[1024];
        if (!(e->type = weft_cell_lookup(tok, &e->plugin, err, sizeof err))) {
            fprintf(stderr, "weft compare: --cell: %s\n", err);
            return -1;
        }
        c->n_cells++;
        for (int j = 0; j + 1 < c->n_cells; j++)
            if (strcmp(c->cells[j].type->name, e->type->name) == 0) {
                fprintf(stderr, "weft compare: --cell: '%s' is named twice\n", e->type->name);
                return -1;
            }
    }
    if (c->n_cells == 0) {
        fprintf(stderr, "weft compare: --cell: no cell named in '%s'\n", c->a.cells);
        return -1;
    }
    return 0;
}

/* A labelling task: its data read, the model's configuration (the cell's
 * recurrent layers are what the budget sizes: the embeddings, the character
 * encoder's sizes and the output layer are the same for every cell). */
static int make_labelled_task(compare_ctx *c, const struct labelled_task *lt)
{
    const compare_args *a = &c->a;
    char err[1024], train[4096], valid[4096];
    if (!a->data_dir) {
        fprintf(stderr, "weft compare: --task %s reads %s and %s under --data-dir DIR (or "
                "WEFT_DATA_DIR)\n", lt->name, lt->train, lt->valid);
        return -1;
    }
    if (c->o.use_metric && c->o.metric != WEFT_METRIC_ACCURACY) {
        fprintf(stderr, "weft compare: --task %s is scored by accuracy\n", lt->name);
        return -1;
    }
    weft_classify_config cfg = weft_classify_defaults(lt->task);
    cfg.embed = a->embed;
    cfg.layers = 1;
    cfg.bidirectional = true;
    weft_classify_compare_opts *lo = &c->lo;
    *lo = (weft_classify_compare_opts){ .min_count = 1, .batch = a->batch, .optim = c->o.optim,
                                        .clip = c->o.clip, .epochs = c->o.epochs,
                                        .max_steps = a->steps, .max_seconds = a->budget_seconds,
                                        .eval_points = a->eval_points };
    if (lt->task == WEFT_TASK_TAG) {
        cfg.char_encoder = true;
        cfg.norm = (weft_word_norm){ .lowercase = true, .digits = true };
        cfg.dropout = 0.33f;
        lo->min_count = 2;
    }
    lo->cfg = cfg;
    snprintf(train, sizeof train, "%s/%s", a->data_dir, lt->train);
    snprintf(valid, sizeof valid, "%s/%s", a->data_dir, lt->valid);
    if (weft_labeled_read(train, cfg.format, cfg.column, &c->lab_train, err, sizeof err) ||
        weft_labeled_read(valid, cfg.format, cfg.column, &c->lab_valid, err, sizeof err)) {
        fprintf(stderr, "weft compare: --task %s: %s\n", lt->name, err);
        return -1;
    }
    weft_vocab *w, *l, *ch;
    if (weft_classify_vocabs(&cfg, &c->lab_train, lo->min_count, &w, &l, &ch, err, sizeof err)) {
        fprintf(stderr, "weft compare: --task %s: %s\n", lt->name, err);
        return -1;
    }
    c->n_words = weft_vocab_size(w);
    c->n_labels = weft_vocab_size(l);
    c->n_chars = ch ? weft_vocab_size(ch) : 0;
    weft_vocab_free(w);
    weft_vocab_free(l);
    weft_vocab_free(ch);
    c->labelled = true;
    c->metric = WEFT_METRIC_ACCURACY;
    snprintf(c->name, sizeof c->name, "%s", lt->name);
    snprintf(c->desc, sizeof c->desc, "%s (embed %d, %d words, %d labels; dev)", lt->desc,
             cfg.embed, c->n_words, c->n_labels);
    return 0;
}

/* The task of --task with its options, and the metric runs are judged by. */
static int make_task(compare_ctx *c)
{
    const compare_args *a = &c->a;
    char err[1024];
    for (size_t k = 0; k < sizeof labelled_tasks / sizeof *labelled_tasks; k++)
        if (strcmp(a->task, labelled_tasks[k].name) == 0)
            return make_labelled_task(c, &labelled_tasks[k]);
    weft_task_opts to = { .length = a->length, .max_digits = a->max_digits,
                          .distractors = a->distractors ? a->distractors : -1,
                          .max_len = a->max_len, .valid_size = a->valid_size,
                          .data_dir = a->data_dir, .music_set = a->music_set,
                          .ptb_tokens = a->ptb_tokens };
    c->task = weft_task_new(a->task, &to, err, sizeof err);
    if (!c->task) {
        fprintf(stderr, "weft compare: --task: %s\n", err);
        return -1;
    }
    if (c->o.use_metric && c->o.metric == WEFT_METRIC_ACCURACY && c->task->loss != WEFT_TASK_CE) {
        fprintf(stderr, "weft compare: --metric accuracy: the %s task is not a classification "
                "(its score is %s)\n", c->task->name, weft_metric_name(c->task->metric));
        return -1;
    }
    c->metric = c->o.use_metric ? c->o.metric : c->task->metric;
    snprintf(c->name, sizeof c->name, "%s", c->task->name);
    snprintf(c->desc, sizeof c->desc, "%s", c->task->desc);
    return 0;
}

/* Every cell's hidden width: --hidden, or the one that meets --budget-params. */
static int size_cells(compare_ctx *c)
{
    char err[1024];
    for (int i = 0; i < c->n_cells; i++) {
        cell_entry *e = &c->cells[i];
        if (c->labelled) {
            weft_classify_config cfg = c->lo.cfg;
            cfg.hidden = c->a.hidden;
            if (c->a.budget_params > 0) {
                if (weft_classify_size(&cfg, e->type, c->n_words, c->n_labels, c->n_chars,
                                       (size_t)c->a.budget_params, 0.02, &e->hidden, &e->numel,
                                       err, sizeof err)) {
                    fprintf(stderr, "weft compare: --budget-params: %s\n", err);
                    return -1;
                }
            } else {
                e->hidden = c->a.hidden;
                e->numel = weft_classify_numel(&cfg, e->type, c->n_words, c->n_labels,
                                               c->n_chars);
            }
            if (e->numel == 0) {
                fprintf(stderr, "weft compare: %s refuses hidden width %d on %s\n",
                        e->type->name, e->hidden, c->name);
                return -1;
            }
            continue;
        }
        if (c->a.budget_params > 0) {
            if (weft_compare_size(e->type, c->task, c->a.embed, (size_t)c->a.budget_params, 0.02,
                                  &e->hidden, &e->numel, err, sizeof err)) {
                fprintf(stderr, "weft compare: --budget-params: %s\n", err);
                return -1;
            }
        } else {
            e->hidden = c->a.hidden;
            e->numel = weft_compare_numel(e->type, c->task, c->a.embed, c->a.hidden);
            if (e->numel == 0) {
                fprintf(stderr, "weft compare: %s refuses hidden width %d on %s\n",
                        e->type->name, c->a.hidden, c->task->name);
                return -1;
            }
        }
    }
    return 0;
}

/* The results folder and the runs still to do in it. -1 with a message:
 * the folder cannot be made (exit 1), or it holds runs of other settings
 * (*usage set: exit 2). */
static int find_pending(compare_ctx *c, bool *usage)
{
    const compare_args *a = &c->a;
    *usage = false;
    snprintf(c->config, sizeof c->config, "task=%s [%s] metric=%s budget_params=%d hidden=%d "
             "embed=%d batch=%d optim=%s lr=%g clip=%g seconds=%g epochs=%d steps=%d "
             "epoch_size=%d eval_points=%d", c->name, c->desc,
             weft_metric_name(c->metric), a->budget_params,
             a->budget_params > 0 ? 0 : a->hidden, a->embed, a->batch, a->optim, (double)a->lr,
             (double)a->clip, (double)a->budget_seconds, c->o.epochs, a->steps, a->epoch_size,
             a->eval_points);
    if (a->out_dir) snprintf(c->dir, sizeof c->dir, "%s", a->out_dir);
    else snprintf(c->dir, sizeof c->dir, "compare-%s", c->name);
    snprintf(c->runs_dir, sizeof c->runs_dir, "%s/runs", c->dir);
    if (make_dir(c->dir) || make_dir(c->runs_dir)) return -1;
    int n_skipped = 0;
    for (int i = 0; i < c->n_cells; i++)
        for (int s = 1; s <= a->seeds; s++) {
            char path[1200];
            run_path(c->dir, c->cells[i].type, s, path, sizeof path);
            run_file rf;
            int st = read_run(path, c->config, &rf);
            weft_compare_result_free(&rf.res);
            if (st < 0) {
                *usage = true;
                return -1;
            }
            if (st == 1) n_skipped++;
            else c->pending[c->n_pending][0] = i, c->pending[c->n_pending][1] = s,
                 c->n_pending++;
        }
    if (!weft_cli_quiet()) {
        fprintf(stderr, "weft compare: %s; %d cell%s x %d seed%s: %d run%s to do", c->desc,
                c->n_cells, c->n_cells == 1 ? "" : "s", a->seeds, a->seeds == 1 ? "" : "s",
                c->n_pending, c->n_pending == 1 ? "" : "s");
        if (n_skipped) fprintf(stderr, ", %d already in %s", n_skipped, c->runs_dir);
        fprintf(stderr, "\n");
    }
    return 0;
}

/* --- one run ------------------------------------------------------------------------------ */

static int do_run(const compare_ctx *ctx, const cell_entry *c, int seed, const char *path)
{
    weft_compare_result r;
    char err[1024];
    int failed;
    if (ctx->labelled) {
        weft_classify_compare_opts lo = ctx->lo;
        lo.seed = (uint64_t)seed;
        failed = weft_classify_compare_train(c->arg_name, c->hidden, &ctx->lab_train,
                                             &ctx->lab_valid, &lo, &r, err, sizeof err);
    } else {
        weft_compare_opts o = ctx->o;
        o.hidden = c->hidden;
        o.seed = (uint64_t)seed;
        failed = weft_compare_train(c->type, ctx->task, &o, &r, err, sizeof err);
    }
    if (failed) {
        fprintf(stderr, "weft compare: %s seed %d: %s\n", c->type->name, seed, err);
        return -1;
    }
    int rc = write_run(path, ctx->config, c->type->name, seed, &r);
    if (rc == 0 && !weft_cli_quiet())
        fprintf(stderr, "weft compare: %-8s seed %d: H %d, %zu parameters, best %s %.4f after "
                "%ld steps, %.1f s\n", c->type->name, seed, r.hidden, r.numel,
                weft_metric_name(r.metric), r.best, r.steps, r.train_seconds);
    weft_compare_result_free(&r);
    return rc;
}

/* Pending run k, in this process. */
static int run_pending(const compare_ctx *c, int k)
{
    char path[1200];
    const cell_entry *e = &c->cells[c->pending[k][0]];
    run_path(c->dir, e->type, c->pending[k][1], path, sizeof path);
    return do_run(c, e, c->pending[k][1], path);
}

/* The pending runs: one after the other, or in --jobs worker processes, each
 * one run at a time with its share of the threads. */
static int run_all(const compare_ctx *c)
{
    int jobs = c->a.jobs;
    if (jobs <= 1 || c->n_pending <= 1) {
        for (int k = 0; k < c->n_pending; k++)
            if (run_pending(c, k)) return -1;
        return 0;
    }
    int per = weft_num_threads() / jobs;
    int running = 0, failed = 0, next = 0;
    fflush(stdout);
    fflush(stderr);
    while (next < c->n_pending || running > 0) {
        if (next < c->n_pending && running < jobs && !failed) {
            pid_t pid = fork();
            if (pid < 0) {
                fprintf(stderr, "weft compare: fork: %s\n", strerror(errno));
                failed = 1;
                continue;
            }
            if (pid == 0) {
                weft_set_num_threads(per > 0 ? per : 1);
                int r = run_pending(c, next);
                fflush(stderr);
                _exit(r ? 1 : 0);
            }
            running++;
            next++;
            continue;
        }
        if ((next >= c->n_pending || failed) && running == 0) break;
        int st;
        if (wait(&st) < 0) break;
        running--;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failed = 1;
    }
    if (failed) {
        fprintf(stderr, "weft compare: a run failed (see above); the finished ones are kept "
                "in %s\n", c->runs_dir);
        return -1;
    }
    return 0;
}

/* The summary files of the folder, open for writing. */
typedef struct summary_files {
    FILE *results, *runs, *curves, *chart;
} summary_files;

static int open_summary(const compare_ctx *c, summary_files *f)
{
    char path[1200];
    FILE **fs[4] = { &f->results, &f->runs, &f->curves, &f->chart };
    const char *names[4] = { "results.csv", "runs.csv", "curves.csv", "chart.dat" };
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", c->dir, names[i]);
        *fs[i] = fopen(path, "w");
        ok = ok && *fs[i];
    }
    if (ok) return 0;
    fprintf(stderr, "weft compare: cannot write the results in %s: %s\n", c->dir,
            strerror(errno));
    for (int i = 0; i < 4; i++)
        if (*fs[i]) fclose(*fs[i]);
    return -1;
}

/* One cell's line of the table and its rows of the summary files: the runs of
 * every seed read back from OUT/runs/. */
static void summarise_cell(const compare_ctx *c, int i, const summary_files *f)
{
    const cell_entry *e = &c->cells[i];
    const char *mname = weft_metric_name(c->metric);
    double best[MAX_SEEDS], st[MAX_SEEDS], ts[MAX_SEEDS], ws[MAX_SEEDS];
    static run_file rf[MAX_SEEDS];
    char path[1200];
    int n = 0, min_points = 1 << 30;
    for (int s = 1; s <= c->a.seeds; s++) {
        run_path(c->dir, e->type, s, path, sizeof path);
        if (read_run(path, c->config, &rf[n]) != 1) continue;
        best[n] = rf[n].best;
        st[n] = (double)rf[n].steps;
        ts[n] = rf[n].train_seconds;
        ws[n] = rf[n].wall_seconds;
        if (rf[n].res.n_points < min_points) min_points = rf[n].res.n_points;
        fprintf(f->runs, "%s,%d,%d,%zu,%s,%.9g,%ld,%.3f,%.3f\n", e->type->name, s, rf[n].hidden,
                rf[n].numel, mname, rf[n].best, rf[n].steps, rf[n].train_seconds,
                rf[n].wall_seconds);
        for (int k = 0; k < rf[n].res.n_points; k++) {
            const weft_compare_point *p = &rf[n].res.points[k];
            fprintf(f->curves, "%s,%d,%ld,%.3f,%.9g,%.9g,%.9g\n", e->type->name, s, p->step,
                    p->seconds, p->score, p->nll, p->accuracy);
        }
        n++;
    }
    /* the chart: the mean curve over seeds, point by point */
    fprintf(f->chart, "# %s\n", e->type->name);
    for (int k = 0; n > 0 && k < min_points; k++) {
        double x = 0, y = 0, z = 0;
        for (int j = 0; j < n; j++) {
            x += (double)rf[j].res.points[k].step;
            y += rf[j].res.points[k].seconds;
            z += rf[j].res.points[k].score;
        }
        fprintf(f->chart, "%.1f %.3f %.9g\n", x / n, y / n, z / n);
    }
    fprintf(f->chart, "\n\n");
    if (n == 0) {
        printf("| %s | %d | %zu | (no run) | | | |\n", e->type->name, e->hidden, e->numel);
        return;
    }
    printf("| %s | %d | %zu | %.4f ± %.4f | %.0f | %.1f | %.1f |\n", e->type->name,
           rf[0].hidden, rf[0].numel, mean_of(best, n), std_of(best, n), mean_of(st, n),
           mean_of(ts, n), mean_of(ws, n));
    fprintf(f->results, "%s,%d,%zu,%s,%.9g,%.9g,%d,%.1f,%.3f,%.3f\n", e->type->name,
            rf[0].hidden, rf[0].numel, mname, mean_of(best, n), std_of(best, n), n,
            mean_of(st, n), mean_of(ts, n), mean_of(ws, n));
    for (int j = 0; j < n; j++) weft_compare_result_free(&rf[j].res);
}

/* Read every run back: the markdown table on stdout, results.csv, runs.csv,
 * curves.csv and chart.dat in the folder. */
static int summarise(const compare_ctx *c)
{
    summary_files f;
    if (open_summary(c, &f)) return -1;
    const char *mname = weft_metric_name(c->metric);
    bool higher = weft_metric_higher_is_better(c->metric);
    int seeds = c->a.seeds;
    fprintf(f.results, "cell,hidden,params,metric,mean,std,seeds,steps,train_seconds,"
            "wall_seconds\n");
    fprintf(f.runs, "cell,seed,hidden,params,metric,best,steps,train_seconds,wall_seconds\n");
    fprintf(f.curves, "cell,seed,step,seconds,score,nll,accuracy\n");
    printf("\n%s; best validation %s (%s is better), mean ± std over %d seed%s\n\n",
           c->desc, mname, higher ? "higher" : "lower", seeds, seeds == 1 ? "" : "s");
    printf("| cell | H | params | %s | steps | train s | wall s |\n", mname);
    printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (int i = 0; i < c->n_cells; i++) summarise_cell(c, i, &f);
    bool wrote = fflush(stdout) == 0 && !ferror(stdout);
    wrote &= fclose(f.results) == 0;
    wrote &= fclose(f.runs) == 0;
    wrote &= fclose(f.curves) == 0;
    wrote &= fclose(f.chart) == 0;
    if (!wrote) {
        fprintf(stderr, "weft compare: writing the results in %s failed\n", c->dir);
        return -1;
    }
    return 0;
}

/* chart.svg and chart.png, when gnuplot is there. 1 drawn, 0 not (no
 * gnuplot), -1 failed. */
static int chart(const compare_ctx *c)
{
    if (!weft_cli_have_gnuplot()) {
        fprintf(stderr, "weft compare: gnuplot is not installed (Debian: apt-get install "
                "gnuplot-nox); no chart drawn\n");
        return 0;
    }
    const char *mname = weft_metric_name(c->metric);
    bool higher = weft_metric_higher_is_better(c->metric);
    char title[400], ylabel[64];
    snprintf(title, sizeof title, "%s (mean of %d seed%s)", c->desc, c->a.seeds,
             c->a.seeds == 1 ? "" : "s");
    snprintf(ylabel, sizeof ylabel, "validation %s (%s is better)", mname,
             higher ? "higher" : "lower");
    return draw_chart(c->dir, c->n_cells, c->cells, title, ylabel,
                      c->metric == WEFT_METRIC_MSE) ? -1 : 1;
}

int weft_cmd_compare(int argc, char **argv)
{
    static compare_ctx c;
    memset(&c, 0, sizeof c);
    int rc = parse_flags(&c, argc, argv);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    rc = WEFT_EXIT_USAGE;
    bool usage;
    if (make_opts(&c) || load_cells(&c) || make_task(&c) || size_cells(&c)) goto done;
    if (find_pending(&c, &usage)) {
        rc = usage ? WEFT_EXIT_USAGE : WEFT_EXIT_FAIL;
        goto done;
    }
    rc = WEFT_EXIT_FAIL;
    if (run_all(&c) || summarise(&c)) goto done;
    int charted = chart(&c);
    if (charted < 0) goto done;
    rc = WEFT_EXIT_OK;
    if (!weft_cli_quiet())
        fprintf(stderr, "weft compare: wrote %s/results.csv, runs.csv, curves.csv%s\n", c.dir,
                charted ? ", chart.svg, chart.png" : "");
done:
    weft_task_free(c.task);
    weft_labeled_free(&c.lab_train);
    weft_labeled_free(&c.lab_valid);
    for (int i = 0; i < c.n_cells; i++) weft_cell_plugin_close(c.cells[i].plugin);
    return rc;
}
