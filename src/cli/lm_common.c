/* src/cli/lm_common.c — what the language-model commands share
 * (src/cli/lm_common.h). */
#include "src/cli/lm_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- training ------------------------------------------------------------------------ */

volatile sig_atomic_t weft_cli_interrupted = 0;

static void on_sigint(int sig)
{
    (void)sig;
    weft_cli_interrupted = 1;   /* checked between steps; a second Ctrl-C kills (SA_RESETHAND) */
}

void weft_cli_catch_sigint(void)
{
    struct sigaction sa = { 0 };
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

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

/* The log's name for messages about writing it (weft_cli_flush). */
static char log_name[512] = "the log";

FILE *weft_cli_open_log(const char *path, bool append)
{
    if (!path) return NULL;
    snprintf(log_name, sizeof log_name, "--log %s", path);
    bool exists = access(path, F_OK) == 0;
    FILE *f = fopen(path, append ? "a" : "w");
    if (!f) {
        fprintf(stderr, "weft train: %s: cannot write the log\n", path);
        return NULL;
    }
    if (!append || !exists)
        fprintf(f, "epoch,window,tokens,seconds,lr,train_loss,train_ppl,grad_norm,valid_ppl\n");
    if (weft_cli_flush(f, log_name)) {   /* a full disk shows here, before any training */
        fclose(f);
        return NULL;
    }
    return f;
}

void weft_cli_report_progress(const weft_cli_report *r, double pct, double left, bool tty,
                              FILE *log)
{
    double speed = (double)r->tokens / r->seconds;
    char eta[32];
    fmt_duration(left / speed, eta, sizeof eta);
    fprintf(stderr, "%sepoch %d/%d %5.1f%% | %7.0f tok/s | loss %.4f | ppl %8.2f | lr %g | "
            "|g| %.3f | ETA %s%s", tty ? "\r" : "", r->epoch, r->epochs, pct, speed, r->loss,
            exp(r->loss), r->lr, (double)r->grad_norm, eta, tty ? "  " : "\n");
    fflush(stderr);
    if (log) {
        fprintf(log, "%d,%ld,%zu,%.3f,%g,%.6f,%.4f,%.4f,\n", r->epoch, r->steps, r->tokens,
                r->seconds, r->lr, r->loss, exp(r->loss), (double)r->grad_norm);
        weft_cli_flush(log, log_name);
    }
}

void weft_cli_report_epoch(const weft_cli_report *r, double valid_ppl, bool has_valid,
                           double epoch_seconds, bool saved, FILE *log)
{
    printf("epoch %d: train loss %.4f ppl %.2f | valid ppl %.2f%s | lr %g | %.1f s, "
           "%.0f tok/s%s\n", r->epoch, r->loss, exp(r->loss), valid_ppl,
           has_valid ? "" : " (no --valid)", r->lr, epoch_seconds,
           (double)r->tokens / r->seconds, saved ? " | saved" : "");
    fflush(stdout);
    if (log) {
        fprintf(log, "%d,%ld,%zu,%.3f,%g,%.6f,%.4f,%.4f,%.4f\n", r->epoch, r->steps, r->tokens,
                r->seconds, r->lr, r->loss, exp(r->loss), (double)r->grad_norm, valid_ppl);
        weft_cli_flush(log, log_name);
    }
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
    *o = (weft_cli_sample_args){ .prime = "", .length = 200, .top_k = 0, .seed = 1,
                                 .temperature = 1.0f };
    const weft_flag f[WEFT_CLI_SAMPLE_FLAGS] = {
        { "model", WEFT_FLAG_STRING, &o->model, "MODEL", "a model saved by weft train (required)",
          0, 0 },
        { "prime", WEFT_FLAG_STRING, &o->prime, "TEXT", "text the model reads first (printed)",
          0, 0 },
        { "length", WEFT_FLAG_INT, &o->length, "N", "tokens to generate", 0, 1 << 24 },
        { "temperature", WEFT_FLAG_FLOAT, &o->temperature, "T",
          "divide the logits by T (lower: safer; 0: always the most likely)", 0, 100 },
        { "top-k", WEFT_FLAG_INT, &o->top_k, "K", "draw among the K most likely only (0: all)", 0,
          1 << 24 },
        { "seed", WEFT_FLAG_INT, &o->seed, "S", "random seed: the same seed, the same text", 0,
          2147483647 },
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
    int *out = malloc((size_t)(a->length > 0 ? a->length : 1) * sizeof *out);
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
                              .seed = (uint64_t)a->seed };
    if (s->sample(s->model, g, &o, out, err, sizeof err)) {
        fprintf(stderr, "weft sample: %s\n", err);
        goto done;
    }
    status = print_sample(s->vocab, s->level, a->prime, out, a->length);
done:
    weft_graph_free(g);
    free(out);
    free(prime_ids);
    return status;
}
