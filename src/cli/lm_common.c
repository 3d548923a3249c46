/* src/cli/lm_common.c — what the language-model commands share
 * (src/cli/lm_common.h). */
#include "src/cli/lm_common.h"

#include "weft/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- training ------------------------------------------------------------------------ */

double weft_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void weft_cli_text_flags(weft_flag *flags, const char **data, const char **valid,
                         const char **level, int *min_count, int *max_vocab)
{
    const weft_flag f[WEFT_CLI_TEXT_FLAGS] = {
        { "data", WEFT_FLAG_STRING, data, "FILE", "training text (required)", 0, 0 },
        { "valid", WEFT_FLAG_STRING, valid, "FILE",
          "validation text, measured after every epoch (the best model is kept)", 0, 0 },
        { "level", WEFT_FLAG_STRING, level, "word|char",
          "tokens: whitespace words with <eos> at line ends, or characters", 0, 0 },
        { "min-count", WEFT_FLAG_INT, min_count, "N", "words seen fewer times become <unk>", 1,
          1e9 },
        { "max-vocab", WEFT_FLAG_INT, max_vocab, "N",
          "keep the N-1 most frequent tokens and <unk> (0: all)", 0, 1e9 },
    };
    memcpy(flags, f, sizeof f);
}

int weft_cli_train_text(const char *level_name, const char *data, weft_text_level *level)
{
    if (weft_text_level_parse(level_name, level)) {
        fprintf(stderr, "weft train: --level '%s': expected word or char\n", level_name);
        return -1;
    }
    if (!data) {
        fprintf(stderr, "weft train: --data TRAIN is required (a text file)\n");
        return -1;
    }
    return 0;
}

int weft_cli_optim(const char *name, float lr, weft_optim *out)
{
    if (strcmp(name, "sgd") == 0) *out = weft_optim_sgd(lr);
    else if (strcmp(name, "adam") == 0) *out = weft_optim_adam(lr);
    else if (strcmp(name, "adamw") == 0) *out = weft_optim_adamw(lr, 0.01);
    else {
        fprintf(stderr, "weft train: --optim '%s': expected sgd, adam or adamw\n", name);
        return -1;
    }
    return 0;
}

weft_vocab *weft_cli_train_vocab(const char *data, const char *valid, weft_text_level level,
                                 int min_count, int max_vocab, weft_tokens *train,
                                 weft_tokens *valid_t)
{
    char err[512];
    if (weft_tokens_read(data, level, train, err, sizeof err)) {
        fprintf(stderr, "weft train: %s\n", err);
        return NULL;
    }
    if (valid && weft_tokens_read(valid, level, valid_t, err, sizeof err)) {
        fprintf(stderr, "weft train: %s\n", err);
        return NULL;
    }
    weft_vocab *v = weft_vocab_build(train, min_count, max_vocab, err, sizeof err);
    if (!v) {
        fprintf(stderr, "weft train: %s: %s\n", data, err);
        return NULL;
    }
    if (valid && weft_vocab_unk(v) < 0) {
        for (size_t k = 0; k < valid_t->count; k++) {
            uint32_t len;
            const char *tok = weft_token(valid_t, k, &len);
            if (weft_vocab_add(v, tok, len) < 0) {
                fprintf(stderr, "weft train: out of memory for the vocabulary\n");
                weft_vocab_free(v);
                return NULL;
            }
        }
    }
    return v;
}

int weft_cli_encode_texts(const weft_vocab *v, const char *data, const weft_tokens *train_t,
                          int **train, size_t *n_train, const char *valid,
                          const weft_tokens *valid_t, int **valid_ids, size_t *n_valid)
{
    char err[512];
    if (!(*train = weft_tokens_encode(train_t, v, err, sizeof err))) {
        fprintf(stderr, "weft train: %s: %s\n", data, err);
        return -1;
    }
    *n_train = train_t->count;
    if (valid && !(*valid_ids = weft_tokens_encode(valid_t, v, err, sizeof err))) {
        fprintf(stderr, "weft train: %s: %s\n", valid, err);
        return -1;
    }
    *n_valid = valid ? valid_t->count : 0;
    return 0;
}

void weft_cli_trainer_flags(weft_cli_trainer_args *a, weft_flag *flags)
{
    *a = (weft_cli_trainer_args){ .schedule = "step", .accumulate = 1 };
    const weft_flag f[WEFT_CLI_TRAINER_FLAGS] = {
        { "schedule", WEFT_FLAG_STRING, &a->schedule, "step|plateau|cosine",
          "learning rate: step decay (--decay from --decay-start), reduce on plateau (x --decay "
          "after --plateau-patience epochs without a better validation), or cosine to --min-lr",
          0, 0 },
        { "warmup", WEFT_FLAG_INT, &a->warmup, "N",
          "linear warm-up over the first N optimizer steps (0: none)", 0, 2e9 },
        { "min-lr", WEFT_FLAG_FLOAT, &a->min_lr, "X", "the floor of plateau and cosine", 0,
          1e6 },
        { "plateau-patience", WEFT_FLAG_INT, &a->plateau_patience, "K",
          "plateau: epochs without improvement before the rate drops", 0, 1e6 },
        { "patience", WEFT_FLAG_INT, &a->patience, "K",
          "stop after K epochs without a better validation score (0: never)", 0, 1e6 },
        { "accumulate", WEFT_FLAG_INT, &a->accumulate, "K",
          "one optimizer step every K batches, as one batch K times as large", 1, 1e6 },
        { "checkpoint-every", WEFT_FLAG_INT, &a->checkpoint_every, "K",
          "recompute in backward: keep the state every K steps, run each K-step segment "
          "forward again (memory for K steps of a window, not all; one more forward; 0: off)",
          0, 1e6 },
        { "max-loss", WEFT_FLAG_FLOAT, &a->max_loss, "X",
          "stop a diverging run when a batch's loss exceeds X nats (0: max(5 ln V, 10) for a "
          "vocabulary of V)", 0, 1e30 },
        { "test", WEFT_FLAG_STRING, &a->test, "FILE",
          "test text, scored at the end with the best model", 0, 0 },
        { "log", WEFT_FLAG_STRING, &a->log, "FILE", "write progress as CSV", 0, 0 },
        { "log-json", WEFT_FLAG_STRING, &a->log_json, "FILE",
          "write every event as a line of JSON", 0, 0 },
        { "distributed", WEFT_FLAG_BOOL, &a->distributed, NULL,
          "data-parallel over the ranks of 'mpirun -np N weft train ...': --batch is the "
          "global batch, each rank trains on its share (docs/distributed.md)", 0, 0 },
    };
    memcpy(flags, f, sizeof f);
}

static weft_comm *cli_comm = NULL;

static void end_comm(void)
{
    weft_dist_finalize(cli_comm);
    cli_comm = NULL;
}

weft_comm *weft_cli_comm(void)
{
    if (cli_comm) return cli_comm;
    if (!weft_dist_available()) {
        fprintf(stderr, "weft train: --distributed: this weft was built without MPI (install "
                "it: scripts/install-deps.sh --with-mpi, then meson setup --reconfigure)\n");
        return NULL;
    }
    char err[512];
    if (!(cli_comm = weft_dist_init(NULL, NULL, err, sizeof err))) {
        fprintf(stderr, "weft train: --distributed: %s\n", err);
        return NULL;
    }
    atexit(end_comm);
    if (weft_comm_rank(cli_comm) > 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "weft train: rank %d: cannot send stdout to /dev/null\n",
                weft_comm_rank(cli_comm));
    }
    return cli_comm;
}

int weft_cli_rank(void)
{
    return weft_comm_rank(cli_comm);
}

int weft_cli_trainer_opts(const weft_cli_trainer_args *a, int vocab_size, weft_train_opts *o)
{
    if (strcmp(a->schedule, "step") == 0) o->schedule.kind = WEFT_LR_STEP;
    else if (strcmp(a->schedule, "plateau") == 0) o->schedule.kind = WEFT_LR_PLATEAU;
    else if (strcmp(a->schedule, "cosine") == 0) o->schedule.kind = WEFT_LR_COSINE;
    else {
        fprintf(stderr, "weft train: --schedule '%s': expected step, plateau or cosine\n",
                a->schedule);
        return -1;
    }
    o->schedule.warmup_steps = a->warmup;
    o->schedule.min_lr = a->min_lr;
    o->schedule.plateau_patience = a->plateau_patience;
    o->patience = a->patience;
    o->accumulate = a->accumulate;
    o->checkpoint_every = a->checkpoint_every;
    double bound = 5.0 * log(vocab_size > 1 ? (double)vocab_size : 2.0);
    o->max_loss = a->max_loss > 0 ? (double)a->max_loss : bound > 10.0 ? bound : 10.0;
    o->log_csv = a->log;
    o->log_json = a->log_json;
    if (a->distributed && !(o->comm = weft_cli_comm())) return -1;
    return 0;
}

void weft_cli_describe_training(const weft_train_opts *o, char *buf, size_t n)
{
    const char *opt = o->optim.kind == WEFT_SGD ? "sgd" : o->optim.kind == WEFT_ADAM ? "adam"
                                                                                     : "adamw";
    const weft_lr_schedule *s = &o->schedule;
    int k = 0;
    if (s->kind == WEFT_LR_STEP)
        k = snprintf(buf, n, "%s lr %g (x%g from epoch %d)", opt, o->optim.lr, s->decay,
                     s->decay_start);
    else if (s->kind == WEFT_LR_PLATEAU)
        k = snprintf(buf, n, "%s lr %g (x%g after %d epochs without improvement, floor %g)", opt,
                     o->optim.lr, s->decay, s->plateau_patience, s->min_lr);
    else
        k = snprintf(buf, n, "%s lr %g (cosine to %g)", opt, o->optim.lr, s->min_lr);
    if (k < 0 || (size_t)k >= n) return;
    k += snprintf(buf + k, n - (size_t)k, ", clip %g", (double)o->clip);
    if (s->warmup_steps > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", warm-up %ld steps", s->warmup_steps);
    if (o->accumulate > 1 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", %d batches a step", o->accumulate);
    if (o->checkpoint_every > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", recomputed in segments of %d steps",
                      o->checkpoint_every);
    if (o->patience > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, ", patience %d", o->patience);
}

int weft_cli_print_event(void *user, const weft_train_event *e)
{
    const weft_cli_progress *p = user;
    char a[64], b[64];
    if (e->kind == WEFT_TRAIN_PROGRESS) {
        double speed = e->items / e->seconds;
        char eta[32];
        fmt_duration(e->items_left / speed, eta, sizeof eta);
        fprintf(stderr, "%sepoch %d/%d %5.1f%% | %7.0f %s/s | loss %.4f | ppl %8s | lr %g | "
                "|g| %.3f | ETA %s%s", p->tty ? "\r" : "", e->epoch, e->epochs, e->pct, speed,
                p->unit, e->loss, weft_train_format_score(exp(e->loss), a, sizeof a), e->lr,
                (double)e->grad_norm, eta, p->tty ? "  " : "\n");
        fflush(stderr);
    } else if (e->kind == WEFT_TRAIN_EPOCH) {
        if (p->tty) fputc('\n', stderr);
        printf("epoch %d: train loss %.4f ppl %s | %s %s%s | lr %g | %.1f s, %.0f %s/s%s\n",
               e->epoch, e->loss, weft_train_format_score(exp(e->loss), a, sizeof a), p->score,
               weft_train_format_score(e->has_score ? e->score : NAN, b, sizeof b),
               e->has_score ? "" : " (no --valid)", e->lr, e->epoch_seconds,
               e->items / e->seconds, p->unit, e->saved ? " | saved" : "");
        fflush(stdout);
    } else if (e->kind == WEFT_TRAIN_TEST) {
        printf("test %s of the best model: %s\n", p->score + (strncmp(p->score, "valid ", 6) == 0
                                                             ? 6 : 0),
               weft_train_format_score(e->score, a, sizeof a));
        fflush(stdout);
    }
    return 0;
}

int weft_cli_stop_status(const weft_train_result *r)
{
    if (r->stop != WEFT_TRAIN_INTERRUPTED) return WEFT_EXIT_OK;
    return 128 + r->signal;
}

int weft_cli_train(const weft_trainable *t, weft_train_opts *o, const char *data,
                   weft_train_result *res)
{
    static weft_cli_progress pr;
    pr = (weft_cli_progress){ .tty = isatty(STDERR_FILENO), .unit = "tok",
                              .score = "valid ppl" };
    o->on_event = weft_cli_print_event;
    o->user = &pr;
    if (pr.tty) o->report_seconds = 0.25;
    char err[1024];
    int rc = weft_train(t, o, res, err, sizeof err);
    if (pr.tty && (rc || res->stop == WEFT_TRAIN_INTERRUPTED || res->stop == WEFT_TRAIN_STOPPED))
        fputc('\n', stderr);
    if (rc) fprintf(stderr, "weft train: %s: %s\n", data, err);
    if (rc == 0) weft_cli_print_speed(o, res, pr.unit);
    return rc;
}

void weft_cli_print_speed(const weft_train_opts *o, const weft_train_result *res,
                          const char *unit)
{
    int ranks = weft_comm_size(o->comm);
    if (weft_comm_rank(o->comm) != 0 || !(res->train_seconds > 0)) return;
    if (ranks > 1)
        fprintf(stderr, "distributed: %d ranks, %.0f %s in %.2f s of training (%.0f %s/s); "
                "averaging the gradients (MPI_Allreduce) took %.2f s of it (%.1f%%)\n", ranks,
                res->items, unit, res->train_seconds, res->items / res->train_seconds, unit,
                res->comm_seconds, 100.0 * res->comm_seconds / res->train_seconds);
    else
        fprintf(stderr, "trained %.0f %s in %.2f s (%.0f %s/s)\n", res->items, unit,
                res->train_seconds, res->items / res->train_seconds, unit);
    if (res->thread_switches > 0)   /* weft_thread_tuner: other processes held cores */
        fprintf(stderr, "threads: the count changed %d times with the machine's load; the last "
                "step ran on %d of %d\n", res->thread_switches, res->threads_last,
                weft_num_threads());
}

int weft_cli_train_summary(const weft_train_result *res, const weft_train_opts *o,
                           bool has_valid, const char *save)
{
    if (res->stop == WEFT_TRAIN_EARLY_STOPPED)
        fprintf(stderr, "early stop after epoch %d: %d epochs without a better validation "
                "perplexity\n", res->epochs_done, o->patience);
    if (!has_valid) return WEFT_EXIT_OK;
    if (!res->has_best) {
        fprintf(stderr, "weft train: no epoch gave a finite validation perplexity; no model was "
                "saved as the best\n");
        return WEFT_EXIT_FAIL;
    }
    char b[64];
    printf("best valid perplexity: %s (%s)\n", weft_train_format_score(res->best, b, sizeof b),
           save);
    return WEFT_EXIT_OK;
}

/* --- evaluation and sampling --------------------------------------------------------------- */

void weft_cli_print_eval(const char *data, const int *ids, size_t n, const weft_vocab *v,
                         size_t count, double secs, double nll)
{
    int unk = weft_vocab_unk(v);
    size_t n_unk = 0;
    for (size_t k = 0; k < n && unk >= 0; k++) n_unk += ids[k] == unk;
    printf("data: %s, %zu tokens (%zu <unk>), %zu scored in %.2f s\n", data, n, n_unk, count,
           secs);
    printf("cross-entropy: %.6f nats/token (%.6f bits)\n", nll / (double)count,
           nll / (double)count / log(2.0));
    printf("perplexity: %.4f\n", exp(nll / (double)count));
}

void weft_cli_sample_flags(weft_cli_sample_args *o, weft_flag *flags)
{
    *o = (weft_cli_sample_args){ .prime = "", .length = 200, .top_k = 0, .seed = 1, .batch = 1,
                                 .temperature = 1.0f, .top_p = 0.0f };
    const weft_flag f[WEFT_CLI_SAMPLE_FLAGS] = {
        { "model", WEFT_FLAG_STRING, &o->model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "prime", WEFT_FLAG_STRING, &o->prime, "TEXT", "text the model reads first (printed)",
          0, 0 },
        { "tokens", WEFT_FLAG_INT, &o->length, "N", "tokens to generate", 0, 1 << 24 },
        { "temperature", WEFT_FLAG_FLOAT, &o->temperature, "T",
          "divide the logits by T (lower: safer; 0: always the most likely)", 0, 100 },
        { "top-k", WEFT_FLAG_INT, &o->top_k, "K", "draw among the K most likely only (0: all)", 0,
          1 << 24 },
        { "top-p", WEFT_FLAG_FLOAT, &o->top_p, "P",
          "draw from the smallest set of most likely tokens holding probability P (0: all)", 0,
          1 },
        { "seed", WEFT_FLAG_INT, &o->seed, "S", "random seed: the same seed, the same text", 0,
          2147483647 },
        { "batch", WEFT_FLAG_INT, &o->batch, "B",
          "generate B texts at once, text b with seed S+b (each a '# sample' block)", 1, 4096 },
    };
    memcpy(flags, f, sizeof f);
}

/* Print the prime and the `length` generated ids as text, ending with a line
 * end unless the text did. Returns the exit status. */
static int print_sample(const weft_vocab *v, weft_text_level level, const char *prime,
                        const int *out, int length)
{
    size_t plen = strlen(prime);
    fputs(prime, stdout);
    bool after_newline = plen == 0 || prime[plen - 1] == '\n';
    if (weft_vocab_write_text(v, level, out, length, after_newline, stdout)) {
        weft_cli_flush(stdout, "standard output");
        return WEFT_EXIT_FAIL;
    }
    /* end with a newline unless the text did */
    if (length > 0) {
        const char *last = weft_vocab_token(v, out[length - 1]);
        bool nl = last && (strcmp(last, "\n") == 0 || strcmp(last, WEFT_EOS) == 0);
        if (!nl) putchar('\n');
    }
    return weft_cli_flush(stdout, "standard output") == 0 ? WEFT_EXIT_OK : WEFT_EXIT_FAIL;
}

int weft_cli_sample_text(const weft_cli_sampler *s, const weft_cli_sample_args *a)
{
    char err[1024];
    int status = WEFT_EXIT_FAIL;
    int *prime_ids = NULL, n_prime = 0;
    int B = a->batch > 1 ? a->batch : 1;
    int *out = malloc((size_t)B * (size_t)(a->length > 0 ? a->length : 1) * sizeof *out);
    weft_graph *g = weft_graph_new();
    if (!out || !g) {
        fprintf(stderr, "weft sample: out of memory\n");
        goto done;
    }
    if (s->encode(s->model, a->prime, &prime_ids, &n_prime, err, sizeof err)) {
        fprintf(stderr, "weft sample: --prime: %s (model %s)\n", err, a->model);
        goto done;
    }
    weft_lm_sample_opts o = { .prime = prime_ids, .n_prime = n_prime, .length = a->length,
                              .temperature = a->temperature, .top_k = a->top_k,
                              .top_p = a->top_p, .seed = (uint64_t)a->seed, .batch = B };
    if (s->sample(s->model, g, &o, out, err, sizeof err)) {
        fprintf(stderr, "weft sample: %s\n", err);
        goto done;
    }
    /* one text: as it is; several: each after a line naming its seed, so
     * that block b is what --seed S+b prints alone */
    status = WEFT_EXIT_OK;
    for (int b = 0; b < B && status == WEFT_EXIT_OK; b++) {
        if (B > 1) printf("# sample %d (seed %lld)\n", b + 1, (long long)a->seed + b);
        status = print_sample(s->vocab, s->level, a->prime, out + (size_t)b * a->length,
                              a->length);
    }
done:
    weft_graph_free(g);
    free(out);
    free(prime_ids);
    return status;
}
