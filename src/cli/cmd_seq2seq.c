/* src/cli/cmd_seq2seq.c — encoder-decoder models from the command line
 * (weft/seq2seq.h):
 *
 *     weft train --task seq2seq --src F --tgt F [--valid-src F --valid-tgt F] ...
 *     weft train --task seq2seq --generate reverse|sort|add [--epoch-size N] ...
 *     weft translate --model M [--data F] [--beam K] [--nbest N] [< src] > hyp
 *     weft eval --model M --src F --tgt F [--beam K]     (last line: bleu: X)
 *
 * `weft train --task seq2seq` and `weft eval` (on a seq2seq model file, or
 * with --task seq2seq) hand their arguments here. Training goes through the
 * trainer (weft/train.h) with the model's trainable; after it, the best
 * model decodes the validation set greedily and its exact match and BLEU are
 * printed. */
#include "src/cli/cli.h"
#include "src/cli/lm_common.h"

#include "models/lm/lm_common.h"
#include "weft/seq2seq.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Is the file at path a seq2seq model (its weft.config's task)? */
bool weft_cli_seq2seq_file_is(const char *path)
{
    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, NULL, 0)) return false;
    const char *conf = weft_checkpoint_meta(&c, "weft.config");
    cJSON *o = conf ? cJSON_Parse(conf) : NULL;
    const char *task = o ? weft_lm_meta_task(o) : NULL;
    bool is = task && strcmp(task, "seq2seq") == 0;
    cJSON_Delete(o);
    weft_checkpoint_free(&c);
    return is;
}

/* Decode a corpus (greedy for beam 1) and score it against its references:
 * exact match and BLEU; hyps (N lists) to the caller, or freed when NULL. */
static int decode_and_score(const weft_seq2seq *m, const weft_s2s_corpus *c, int beam,
                            float alpha, double *em, double *bleu, double *secs, long *tokens)
{
    char err[1024];
    weft_s2s_nbest *out = calloc((size_t)c->n, sizeof *out);
    const int **hyp = malloc((size_t)c->n * sizeof *hyp);
    int *hl = malloc((size_t)c->n * sizeof(int));
    if (!out || !hyp || !hl) {
        fprintf(stderr, "weft: out of memory\n");
        free(out), free(hyp), free(hl);
        return -1;
    }
    double t0 = weft_cli_now();
    int rc = beam == 1 ? weft_seq2seq_greedy(m, (const int *const *)c->src, c->src_len, c->n, 0,
                                             out, err, sizeof err)
                       : weft_seq2seq_decode(m, (const int *const *)c->src, c->src_len, c->n,
                                             &(weft_s2s_decode_opts){ .beam = beam, .nbest = 1,
                                                                      .alpha = alpha },
                                             out, err, sizeof err);
    *secs = weft_cli_now() - t0;
    if (rc) {
        fprintf(stderr, "weft: decoding: %s\n", err);
    } else {
        *tokens = 0;
        for (int i = 0; i < c->n; i++) {
            hyp[i] = out[i].n ? out[i].hyps[0].tokens : NULL;
            hl[i] = out[i].n ? out[i].hyps[0].len : 0;
            *tokens += hl[i];
        }
        *em = weft_exact_match(hyp, hl, (const int *const *)c->tgt, c->tgt_len, c->n);
        *bleu = weft_bleu(hyp, hl, (const int *const *)c->tgt, c->tgt_len, c->n);
    }
    for (int i = 0; i < c->n; i++) weft_s2s_nbest_free(&out[i]);
    free(out);
    free(hyp);
    free(hl);
    return rc;
}

/* --- weft train --task seq2seq ------------------------------------------------------------- */

typedef struct s2s_flags {
    const char *task, *src, *tgt, *valid_src, *valid_tgt, *generate, *cell, *enc_cell, *dec_cell,
        *attention, *optim, *save, *resume;
    int examples, valid_examples, min_len, max_len, embed, hidden, layers, enc_layers,
        dec_layers, attn_hidden, batch, epochs, seed, min_count, max_vocab, stop_after,
        decay_start, beam;
    float lr, clip, decay, ss_rate, dropout;
    bool bidirectional, no_input_feed, no_bridge, tie;
    weft_cli_trainer_args tr;
} s2s_flags;

/* The training and validation text: files, or a generated task. */
static int read_texts(const s2s_flags *fl, char **text, char err[1024])
{
    if (fl->generate) {
        weft_rng r;
        weft_rng_seed(&r, (uint64_t)fl->seed * 7919u + 17);
        if (weft_s2s_generate(fl->generate, fl->examples, fl->min_len, fl->max_len, &r, &text[0],
                              &text[1], err, 1024))
            return -1;
        weft_rng_seed(&r, 0x5eed5eedu);   /* one validation set for every run */
        return weft_s2s_generate(fl->generate, fl->valid_examples, fl->min_len, fl->max_len, &r,
                                 &text[2], &text[3], err, 1024);
    }
    return 0;
}

/* A new model for the flags, its vocabularies from the training text (st, tt). */
static weft_seq2seq *new_model(const s2s_flags *fl, const weft_tokens *st, const weft_tokens *tt,
                               void *handles[2], int *status)
{
    char err[1024];
    *status = WEFT_EXIT_FAIL;
    weft_vocab *sv = weft_seq2seq_vocab(st, fl->min_count, fl->max_vocab, err, sizeof err);
    weft_vocab *tv = sv ? weft_seq2seq_vocab(tt, fl->min_count, fl->max_vocab, err, sizeof err)
                        : NULL;
    if (!tv) {
        weft_vocab_free(sv);
        fprintf(stderr, "weft train: %s\n", err);
        return NULL;
    }
    weft_seq2seq_config cfg = weft_seq2seq_defaults();
    const char *enc = fl->enc_cell ? fl->enc_cell : fl->cell;
    const char *dec = fl->dec_cell ? fl->dec_cell : fl->cell;
    snprintf(cfg.enc_cell, sizeof cfg.enc_cell, "%s", enc);
    snprintf(cfg.dec_cell, sizeof cfg.dec_cell, "%s", dec);
    cfg.embed = fl->embed;
    cfg.hidden = fl->hidden;
    cfg.enc_layers = fl->enc_layers ? fl->enc_layers : fl->layers;
    cfg.dec_layers = fl->dec_layers ? fl->dec_layers : fl->layers;
    cfg.bidirectional = fl->bidirectional;
    cfg.dropout = fl->dropout;
    int a = weft_attn_score_parse(fl->attention);
    const weft_cell_type *et = NULL, *dt = NULL;
    *status = WEFT_EXIT_USAGE;
    if (a < 0) {
        snprintf(err, sizeof err, "--attention '%s': expected none, dot, general or additive",
                 fl->attention);
    } else {
        et = weft_cell_lookup(enc, &handles[0], err, sizeof err);
        dt = et ? weft_cell_lookup(dec, &handles[1], err, sizeof err) : NULL;
    }
    if (!dt) {
        weft_vocab_free(sv);
        weft_vocab_free(tv);
        fprintf(stderr, "weft train: %s\n", err);
        return NULL;
    }
    cfg.attention = (weft_attn_score)a;
    cfg.attn_hidden = fl->attn_hidden;
    cfg.input_feed = !fl->no_input_feed;
    cfg.bridge = !fl->no_bridge;
    cfg.tied = fl->tie;
    weft_rng rng;
    weft_rng_seed(&rng, (uint64_t)fl->seed);
    weft_seq2seq *m = weft_seq2seq_new(&cfg, et, dt, sv, tv, &rng, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft train: %s\n", err);
        *status = weft_cli_build_status("weft train", err);
    } else {
        *status = WEFT_EXIT_OK;
    }
    return m;
}

static int train(s2s_flags *fl)
{
    char err[1024];
    char *text[4] = { 0 };
    weft_tokens st = { 0 }, tt = { 0 };
    weft_s2s_corpus train_c = { 0 }, valid_c = { 0 };
    weft_seq2seq *m = NULL, *best = NULL;
    weft_s2s_trainer *tr = NULL;
    void *handles[2] = { 0 };
    int status = WEFT_EXIT_FAIL;
    bool files = fl->src || fl->tgt;
    if (files == (fl->generate != NULL) || (files && (!fl->src || !fl->tgt)) ||
        (!fl->valid_src) != (!fl->valid_tgt)) {
        fprintf(stderr, "weft train: --task seq2seq needs either --src F --tgt F (and "
                "optionally --valid-src F --valid-tgt F) or --generate reverse|sort|add\n");
        return WEFT_EXIT_USAGE;
    }
    weft_train_opts o = weft_train_defaults();
    weft_train_state resume_state;
    char state_path[4096];
    const char *save = fl->save;
    int run_pairs = 0;
    if (fl->resume) {
        /* the model, the optimiser and the run's settings from the state file */
        snprintf(state_path, sizeof state_path, "%s.state", fl->resume);
        if (!(m = weft_seq2seq_load_state(state_path, &o, &resume_state, &run_pairs, &fl->batch,
                                          &fl->ss_rate, err, sizeof err))) {
            fprintf(stderr, "weft train: --resume: %s\n", err);
            return WEFT_EXIT_FAIL;
        }
        if (!save) save = fl->resume;
        if (fl->epochs > 0) o.epochs = fl->epochs;
    }
    if (!save) save = "seq2seq.safetensors";
    if (read_texts(fl, text, err)) {
        fprintf(stderr, "weft train: %s\n", err);
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    const char *name = fl->generate ? fl->generate : fl->src;
    if (!m) {
        /* the vocabularies from the training text */
        if (fl->generate ? weft_tokens_from_string(text[0], strlen(text[0]), name,
                                                   WEFT_TEXT_WORDS, &st, err, sizeof err) ||
                               weft_tokens_from_string(text[1], strlen(text[1]), name,
                                                       WEFT_TEXT_WORDS, &tt, err, sizeof err)
                         : weft_tokens_read(fl->src, WEFT_TEXT_WORDS, &st, err, sizeof err) ||
                               weft_tokens_read(fl->tgt, WEFT_TEXT_WORDS, &tt, err, sizeof err)) {
            fprintf(stderr, "weft train: %s\n", err);
            goto done;
        }
        if (!(m = new_model(fl, &st, &tt, handles, &status))) goto done;
        status = WEFT_EXIT_FAIL;
    }
    const weft_vocab *sv = weft_seq2seq_src_vocab(m), *tv = weft_seq2seq_tgt_vocab(m);
    int rc = fl->generate
                 ? weft_s2s_corpus_from_text(text[0], text[1], name, sv, tv, &train_c, err,
                                             sizeof err) ||
                       weft_s2s_corpus_from_text(text[2], text[3], "validation", sv, tv,
                                                 &valid_c, err, sizeof err)
                 : weft_s2s_corpus_read(fl->src, fl->tgt, sv, tv, &train_c, err, sizeof err) ||
                       (fl->valid_src && weft_s2s_corpus_read(fl->valid_src, fl->valid_tgt, sv,
                                                              tv, &valid_c, err, sizeof err));
    if (rc) {
        fprintf(stderr, "weft train: %s\n", err);
        goto done;
    }
    if (fl->resume && train_c.n != run_pairs) {
        fprintf(stderr, "weft train: --resume: %s has %d pairs but the run was started on %d: "
                "resume with the same data\n", name, train_c.n, run_pairs);
        goto done;
    }
    weft_trainable t;
    weft_s2s_train_data d = { .train = &train_c, .valid = valid_c.n ? &valid_c : NULL,
                              .batch = fl->batch, .ss_rate = fl->ss_rate };
    if (!(tr = weft_seq2seq_trainer(m, &d, &t, err, sizeof err))) {
        fprintf(stderr, "weft train: %s\n", err);
        goto done;
    }
    if (!fl->resume) {
        if (weft_cli_optim(fl->optim, fl->lr, &o.optim)) {
            status = WEFT_EXIT_USAGE;
            goto done;
        }
        /* the shuffling, dropout and sampling stream: apart from the initialisation's */
        weft_rng_seed(&o.rng, (uint64_t)fl->seed * 0x9E3779B97F4A7C15ull + 1);
        o.schedule.decay = fl->decay;
        o.schedule.decay_start = fl->decay_start;
        o.clip = fl->clip;
        o.epochs = fl->epochs > 0 ? fl->epochs : 10;
    }
    /* the trainer flags a run does not keep come from the flags */
    weft_train_opts flags = o;
    if (weft_cli_trainer_opts(&fl->tr, weft_vocab_size(tv), &flags)) {
        status = WEFT_EXIT_USAGE;
        goto done;
    }
    if (fl->resume) {
        o.max_loss = flags.max_loss;
        o.log_csv = flags.log_csv;
        o.log_json = flags.log_json;
        o.resume = &resume_state;
        fprintf(stderr, "resuming %s at epoch %d, batch %ld\n", state_path, resume_state.epoch,
                resume_state.batch);
    } else {
        o = flags;
    }
    snprintf(state_path, sizeof state_path, "%s.state", save);
    o.save_path = save;
    o.state_path = state_path;
    o.stop_after = fl->stop_after;
    o.catch_signals = true;
    char how[512];
    weft_cli_describe_training(&o, how, sizeof how);
    long tgt_tokens = 0;
    for (int i = 0; i < train_c.n; i++) tgt_tokens += train_c.tgt_len[i] + 1;
    const weft_seq2seq_config *cfg = weft_seq2seq_get_config(m);
    fprintf(stderr, "model: seq2seq, encoder %s %d x %d%s, decoder %s %d x %d, attention %s%s, "
            "embed %d, dropout %g, vocabularies %d / %d, %zu parameters\n", cfg->enc_cell,
            cfg->enc_layers, cfg->hidden, cfg->bidirectional ? " bidirectional" : "",
            cfg->dec_cell, cfg->dec_layers, cfg->hidden, weft_attn_score_name(cfg->attention),
            cfg->attention && cfg->input_feed ? " (input feeding)" : "", cfg->embed,
            (double)cfg->dropout, weft_vocab_size(sv), weft_vocab_size(tv),
            weft_params_numel(weft_seq2seq_params(m)));
    fprintf(stderr, "data: %s, %d pairs (%ld target tokens with </s>), batches of %d; "
            "validation: %d pairs\n", name, train_c.n, tgt_tokens, fl->batch, valid_c.n);
    fprintf(stderr, "training: %d epochs, %s; best model -> %s, training state -> %s\n",
            o.epochs, how, save, state_path);
    weft_train_result res;
    if (weft_cli_train(&t, &o, name, &res)) goto done;
    printf("training: %.1f s, %.0f target tokens/s\n", res.train_seconds,
           res.train_seconds > 0 ? res.items / res.train_seconds : 0);
    if (res.stop == WEFT_TRAIN_INTERRUPTED || res.stop == WEFT_TRAIN_STOPPED) {
        fprintf(stderr, "%s at epoch %d, batch %ld: saved %s; continue with 'weft train --task "
                "seq2seq --resume %s' and the same data flags\n",
                res.stop == WEFT_TRAIN_INTERRUPTED ? "interrupted" : "stopped", res.state.epoch,
                res.state.batch, state_path, save);
        status = weft_cli_stop_status(&res);
        goto done;
    }
    status = WEFT_EXIT_OK;
    if (valid_c.n) {
        char b[64];
        printf("best valid ppl: %s per target token (%s)\n",
               weft_train_format_score(res.best, b, sizeof b), save);
        if (!(best = weft_seq2seq_load(save, err, sizeof err))) {
            fprintf(stderr, "weft train: %s\n", err);
            status = WEFT_EXIT_FAIL;
            goto done;
        }
        double em, bleu, secs;
        long toks;
        if (decode_and_score(best, &valid_c, fl->beam, 0.0f, &em, &bleu, &secs, &toks)) {
            status = WEFT_EXIT_FAIL;
            goto done;
        }
        printf("valid (%s): exact match %.4f, bleu %.2f\n", fl->beam == 1 ? "greedy" : "beam",
               em, bleu);
    }
done:
    weft_seq2seq_trainer_free(tr);
    weft_seq2seq_free(m);
    weft_seq2seq_free(best);
    for (int i = 0; i < 2; i++)
        if (handles[i]) weft_cell_plugin_close(handles[i]);
    weft_s2s_corpus_free(&train_c);
    weft_s2s_corpus_free(&valid_c);
    weft_tokens_free(&st);
    weft_tokens_free(&tt);
    for (int i = 0; i < 4; i++) free(text[i]);
    return status;
}

int weft_cli_seq2seq_train(int argc, char **argv)
{
    s2s_flags fl = {
        .task = "seq2seq", .cell = "lstm", .attention = "general", .optim = "adam",
        .examples = 5000, .valid_examples = 500, .min_len = 3, .max_len = 8, .embed = 64,
        .hidden = 64, .layers = 1, .batch = 32, .epochs = 0, .seed = 1, .min_count = 1,
        .decay_start = 1, .beam = 1, .lr = 0.001f, .clip = 5.0f, .decay = 1.0f,
    };
    weft_flag trainer_flags[WEFT_CLI_TRAINER_FLAGS];
    weft_cli_trainer_flags(&fl.tr, trainer_flags);
    const weft_flag data_flags[] = {
        { "task", WEFT_FLAG_STRING, &fl.task, "TASK", "seq2seq (here)", 0, 0 },
        { "src", WEFT_FLAG_STRING, &fl.src, "FILE", "source sentences, one a line", 0, 0 },
        { "tgt", WEFT_FLAG_STRING, &fl.tgt, "FILE", "their translations, line by line", 0, 0 },
        { "valid-src", WEFT_FLAG_STRING, &fl.valid_src, "FILE", "validation sources", 0, 0 },
        { "valid-tgt", WEFT_FLAG_STRING, &fl.valid_tgt, "FILE", "validation targets", 0, 0 },
        { "generate", WEFT_FLAG_STRING, &fl.generate, "TASK",
          "a generated task instead of files: reverse, sort or add", 0, 0 },
        { "epoch-size", WEFT_FLAG_INT, &fl.examples, "N", "generated tasks: training pairs", 1, 1e8 },
        { "valid-size", WEFT_FLAG_INT, &fl.valid_examples, "N",
          "generated tasks: validation pairs (a fixed seed)", 1, 1e7 },
        { "min-len", WEFT_FLAG_INT, &fl.min_len, "T", "reverse, sort: shortest input", 1, 256 },
        { "max-len", WEFT_FLAG_INT, &fl.max_len, "T",
          "reverse, sort: longest input; add: most digits of each number", 1, 256 },
        { "min-count", WEFT_FLAG_INT, &fl.min_count, "N",
          "words seen fewer times become <unk>", 1, 1e9 },
        { "max-vocab", WEFT_FLAG_INT, &fl.max_vocab, "N", "largest vocabulary (0: any)", 0, 1e9 },
    };
    const weft_flag model_flags[] = {
        { "cell", WEFT_FLAG_STRING, &fl.cell, "NAME", "encoder and decoder cell (a built-in name or a plugin FILE.so)", 0, 0 },
        { "enc-cell", WEFT_FLAG_STRING, &fl.enc_cell, "NAME", "the encoder's cell", 0, 0 },
        { "dec-cell", WEFT_FLAG_STRING, &fl.dec_cell, "NAME", "the decoder's cell", 0, 0 },
        { "embed", WEFT_FLAG_INT, &fl.embed, "E", "embedding width", 1, 1 << 20 },
        { "hidden", WEFT_FLAG_INT, &fl.hidden, "H", "hidden width (each encoder direction)", 1,
          1 << 20 },
        { "layers", WEFT_FLAG_INT, &fl.layers, "N", "layers of encoder and decoder", 1,
          WEFT_S2S_MAX_LAYERS },
        { "enc-layers", WEFT_FLAG_INT, &fl.enc_layers, "N", "encoder layers", 0,
          WEFT_S2S_MAX_LAYERS },
        { "dec-layers", WEFT_FLAG_INT, &fl.dec_layers, "N", "decoder layers", 0,
          WEFT_S2S_MAX_LAYERS },
        { "bidirectional", WEFT_FLAG_BOOL, &fl.bidirectional, NULL, "bidirectional encoder", 0, 0 },
        { "attention", WEFT_FLAG_STRING, &fl.attention, "none|dot|general|additive",
          "the attention's score", 0, 0 },
        { "attn-hidden", WEFT_FLAG_INT, &fl.attn_hidden, "A", "additive: width (0: H)", 0,
          1 << 20 },
        { "no-input-feed", WEFT_FLAG_BOOL, &fl.no_input_feed, NULL,
          "do not feed the attentional state to the next step", 0, 0 },
        { "no-bridge", WEFT_FLAG_BOOL, &fl.no_bridge, NULL,
          "start the decoder from zeros, not the encoder's final state", 0, 0 },
        { "tie", WEFT_FLAG_BOOL, &fl.tie, NULL, "readout = target embedding (embed = hidden)",
          0, 0 },
        { "dropout", WEFT_FLAG_FLOAT, &fl.dropout, "P",
          "dropout on the embedded words, between layers and before the readout (training only)",
          0, 0.99 },
    };
    const weft_flag train_flags[] = {
        { "batch", WEFT_FLAG_INT, &fl.batch, "B", "sentence pairs a batch", 1, 1 << 20 },
        { "epochs", WEFT_FLAG_INT, &fl.epochs, "K",
          "passes over the data (default: 10; on --resume, the run's)", 1, 1e6 },
        { "lr", WEFT_FLAG_FLOAT, &fl.lr, "LR", "learning rate", 0, 1e6 },
        { "optim", WEFT_FLAG_STRING, &fl.optim, "sgd|adam|adamw", "optimizer", 0, 0 },
        { "clip", WEFT_FLAG_FLOAT, &fl.clip, "C", "clip the gradient's global norm (0: off)", 0,
          1e9 },
        { "decay", WEFT_FLAG_FLOAT, &fl.decay, "F", "learning rate x F every epoch from "
          "--decay-start", 0, 1 },
        { "decay-start", WEFT_FLAG_INT, &fl.decay_start, "K", "first epoch decayed", 1, 1e6 },
        { "ss-rate", WEFT_FLAG_FLOAT, &fl.ss_rate, "P",
          "scheduled sampling: feed the model's own token with probability P", 0, 1 },
        { "seed", WEFT_FLAG_INT, &fl.seed, "S", "random seed", 0, 2147483647 },
        { "beam", WEFT_FLAG_INT, &fl.beam, "K", "beam of the final validation decoding", 1, 1000 },
        { "save", WEFT_FLAG_STRING, &fl.save, "MODEL",
          "the best model (default seq2seq.safetensors; with --resume, that model)", 0, 0 },
        { "resume", WEFT_FLAG_STRING, &fl.resume, "MODEL",
          "continue the run saved in MODEL.state exactly where it stopped (the same data flags)",
          0, 0 },
        { "stop-after", WEFT_FLAG_INT, &fl.stop_after, "N",
          "stop after N batches, saving as Ctrl-C does (0: never)", 0, 1e9 },
    };
    weft_flag_group groups[] = {
        { "data", data_flags, (int)(sizeof data_flags / sizeof data_flags[0]) },
        { "model", model_flags, (int)(sizeof model_flags / sizeof model_flags[0]) },
        { "training", train_flags, (int)(sizeof train_flags / sizeof train_flags[0]) },
        { "trainer", trainer_flags, WEFT_CLI_TRAINER_FLAGS },
    };
    weft_args_spec spec = {
        .prog = "weft train --task seq2seq",
        .summary = "Train an encoder-decoder with attention on a parallel corpus or a generated "
                   "task.",
        .groups = groups,
        .n_groups = 4,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (strcmp(fl.task, "seq2seq") != 0) {
        fprintf(stderr, "weft train: --task '%s': this command handles seq2seq\n", fl.task);
        return WEFT_EXIT_USAGE;
    }
    return train(&fl);
}

/* --- weft translate ------------------------------------------------------------------------ */

/* All of f, NUL-terminated (owned by the caller); NULL on a read error or
 * out of memory. */
static char *read_whole(FILE *f)
{
    size_t cap = 1 << 16, n = 0;
    char *s = malloc(cap);
    while (s) {
        size_t got = fread(s + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 >= cap) {
            char *t = realloc(s, cap * 2);
            if (!t) free(s);
            s = t;
            cap *= 2;
        }
    }
    if (s) s[n] = '\0';
    if (s && ferror(f)) {
        free(s);
        return NULL;
    }
    return s;
}

/* The heat map of the attention weights w [(T + 1) x S] of one translation
 * (gnuplot; path .png or .svg): the source words along x, the output words and
 * </s> down y, darker for more weight. The first line of text gives the
 * source words as written (unknown ones too). 0, or -1 with a message. */
static int plot_attention(const char *path, const char *line, int S, const char *const *out,
                          int T, const float *w)
{
    const char *ext = strrchr(path, '.');
    bool png = ext && strcasecmp(ext, ".png") == 0, svg = ext && strcasecmp(ext, ".svg") == 0;
    if (!png && !svg) {
        fprintf(stderr, "weft translate: --plot %s: use a .png or .svg file\n", path);
        return -1;
    }
    if (!weft_cli_have_gnuplot()) {
        fprintf(stderr, "weft translate: --plot needs gnuplot on the PATH\n");
        return -1;
    }
    /* gnuplot draws to its standard output when it cannot open the file: not
       into the translations */
    FILE *gp = popen("gnuplot >/dev/null", "w");
    if (!gp) {
        fprintf(stderr, "weft translate: cannot start gnuplot: %s\n", strerror(errno));
        return -1;
    }
    int width = 220 + 44 * S, height = 160 + 26 * (T + 1);
    width = width > 2400 ? 2400 : width;
    height = height > 2400 ? 2400 : height;
    fprintf(gp, "set terminal %s size %d,%d font \"Helvetica,11\"%s\n",
            png ? "pngcairo" : "svg", width, height, png ? "" : " background \"white\"");
    fprintf(gp, "set termoption noenhanced\nset output ");
    weft_cli_gnuplot_string(gp, path);
    fprintf(gp, "\nunset key\nset palette gray negative\nset cbrange [0:1]\n"
            "set cblabel \"attention weight\"\nset xrange [-0.5:%g]\nset yrange [%g:-0.5]\n"
            "set x2label \"source\"\nset ylabel \"output\"\nset tics nomirror\nunset xtics\n"
            "set x2tics rotate by 45 left (", S - 0.5, T + 0.5);
    /* the source words as written: the line's first S whitespace-separated words */
    const char *p = line;
    for (int i = 0; i < S; i++) {
        while (*p == ' ' || *p == '\t') p++;
        size_t n = strcspn(p, " \t\r\n");
        char word[256];
        snprintf(word, sizeof word, "%.*s", (int)(n < 255 ? n : 255), p);
        p += n;
        fprintf(gp, "%s", i ? ", " : "");
        weft_cli_gnuplot_string(gp, word);
        fprintf(gp, " %d", i);
    }
    fprintf(gp, ")\nset ytics (");
    for (int t = 0; t <= T; t++) {
        fprintf(gp, "%s", t ? ", " : "");
        weft_cli_gnuplot_string(gp, t < T ? out[t] : "</s>");
        fprintf(gp, " %d", t);
    }
    /* pixels: also for a grid of one row or column */
    fprintf(gp, ")\nplot '-' matrix with image pixels\n");
    for (int t = 0; t <= T; t++)
        for (int i = 0; i < S; i++)
            fprintf(gp, "%.6f%c", (double)w[(size_t)t * S + i], i + 1 < S ? ' ' : '\n');
    fprintf(gp, "e\n");
    return weft_cli_gnuplot_finish(gp, path, "weft translate");
}

int weft_cmd_translate(int argc, char **argv)
{
    const char *model = NULL, *data = "-", *plot = NULL;
    int beam = 5, nbest = 1, max_len = 0, batch = 32;
    float alpha = 0.0f;
    const weft_flag flags[] = {
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a model saved by weft train --task "
          "seq2seq (required)", 0, 0 },
        { "data", WEFT_FLAG_STRING, &data, "FILE",
          "source sentences, one a line (- : standard input)", 0, 0 },
        { "beam", WEFT_FLAG_INT, &beam, "K", "beam size (1: greedy)", 1, 1000 },
        { "nbest", WEFT_FLAG_INT, &nbest, "N",
          "print N hypotheses a sentence as 'i ||| words ||| log p ||| score' (<= beam)", 1, 1000 },
        { "alpha", WEFT_FLAG_FLOAT, &alpha, "A",
          "length normalisation: rank by log p / (length + 1)^A", 0, 10 },
        { "max-len", WEFT_FLAG_INT, &max_len, "T",
          "longest output with </s> (0: 2 x source length + 10)", 0, 1 << 20 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "sentences decoded together", 1, 1 << 16 },
        { "plot", WEFT_FLAG_STRING, &plot, "FILE",
          "draw the attention weights of the first sentence's translation as a heat map "
          "(FILE.png or FILE.svg) with gnuplot", 0, 0 },
    };
    weft_args_spec spec = {
        .prog = "weft translate",
        .summary = "Translate --data (standard input by default; one sentence a line) with an "
                   "encoder-decoder; hypotheses to standard output.",
        .groups = &(weft_flag_group){ "options", flags, 8 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!model) {
        fprintf(stderr, "weft translate: --model MODEL is required\n");
        return WEFT_EXIT_USAGE;
    }
    if (nbest > beam) {
        fprintf(stderr, "weft translate: --nbest %d is more than --beam %d\n", nbest, beam);
        return WEFT_EXIT_USAGE;
    }
    char err[1024];
    weft_seq2seq *m = weft_seq2seq_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft translate: %s\n", err);
        return WEFT_EXIT_FAIL;
    }
    int status = WEFT_EXIT_FAIL;
    weft_s2s_corpus c = { 0 };
    weft_s2s_nbest *out = NULL;
    float *weights = NULL;
    const char **words = NULL;
    if (plot && weft_seq2seq_get_config(m)->attention == WEFT_ATTN_NONE) {
        fprintf(stderr, "weft translate: --plot: %s has no attention to draw\n", model);
        weft_seq2seq_free(m);
        return WEFT_EXIT_USAGE;
    }
    bool from_stdin = strcmp(data, "-") == 0;
    const char *name = from_stdin ? "standard input" : data;
    FILE *in = from_stdin ? stdin : fopen(data, "rb");
    char *text = in ? read_whole(in) : NULL;
    if (in && !from_stdin) fclose(in);
    if (!text) {
        fprintf(stderr, "weft translate: %s: %s\n", name,
                in ? "cannot read it (or out of memory)" : strerror(errno));
        goto done;
    }
    /* the target side is not used: the source read twice */
    if (weft_s2s_corpus_from_text(text, text, name, weft_seq2seq_src_vocab(m),
                                  weft_seq2seq_src_vocab(m), &c, err, sizeof err)) {
        fprintf(stderr, "weft translate: %s\n", err);
        goto done;
    }
    if (!(out = calloc((size_t)(c.n ? c.n : 1), sizeof *out))) goto done;
    weft_s2s_decode_opts o = { .beam = beam, .nbest = nbest, .alpha = alpha, .max_len = max_len,
                               .batch = batch };
    if (beam == 1 ? weft_seq2seq_greedy(m, (const int *const *)c.src, c.src_len, c.n, max_len,
                                        out, err, sizeof err)
                  : weft_seq2seq_decode(m, (const int *const *)c.src, c.src_len, c.n, &o, out,
                                        err, sizeof err)) {
        fprintf(stderr, "weft translate: %s\n", err);
        goto done;
    }
    const weft_vocab *tv = weft_seq2seq_tgt_vocab(m);
    for (int i = 0; i < c.n; i++)
        for (int k = 0; k < out[i].n && k < nbest; k++) {
            const weft_s2s_hyp *h = &out[i].hyps[k];
            if (nbest > 1) printf("%d ||| ", i);
            for (int j = 0; j < h->len; j++)
                printf("%s%s", j ? " " : "", weft_vocab_token(tv, h->tokens[j]));
            if (nbest > 1) printf(" ||| %.4f ||| %.4f", h->logprob, h->score);
            printf("\n");
        }
    if (weft_cli_flush(stdout, "standard output")) goto done;
    if (plot && c.n > 0 && out[0].n > 0) {
        const weft_s2s_hyp *h = &out[0].hyps[0];
        int S = c.src_len[0];
        weights = malloc((size_t)(h->len + 1) * S * sizeof *weights);
        words = malloc((size_t)(h->len > 0 ? h->len : 1) * sizeof *words);
        if (!weights || !words) {
            fprintf(stderr, "weft translate: out of memory\n");
            goto done;
        }
        for (int j = 0; j < h->len; j++) words[j] = weft_vocab_token(tv, h->tokens[j]);
        if (weft_seq2seq_attention_weights(m, c.src[0], S, h->tokens, h->len, weights, err,
                                           sizeof err)) {
            fprintf(stderr, "weft translate: --plot: %s\n", err);
            goto done;
        }
        /* the first sentence's line: the first line with a word on it */
        const char *line = text + strspn(text, " \t\r\n");
        if (plot_attention(plot, line, S, words, h->len, weights)) goto done;
        fprintf(stderr, "wrote %s (the attention of sentence 1, %d source words x %d output "
                "steps)\n", plot, S, h->len + 1);
    }
    status = WEFT_EXIT_OK;
done:
    free(weights);
    free(words);
    for (int i = 0; out && i < c.n; i++) weft_s2s_nbest_free(&out[i]);
    free(out);
    free(text);
    weft_s2s_corpus_free(&c);
    weft_seq2seq_free(m);
    return status;
}

/* --- weft eval on a seq2seq model -------------------------------------------------------------- */

int weft_cli_seq2seq_eval(int argc, char **argv)
{
    const char *model = NULL, *src = NULL, *tgt = NULL, *task = NULL;
    int beam = 1;
    float alpha = 0.0f;
    const weft_flag flags[] = {
        { "task", WEFT_FLAG_STRING, &task, "TASK", "seq2seq (here)", 0, 0 },
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "a seq2seq model (required)", 0, 0 },
        { "src", WEFT_FLAG_STRING, &src, "FILE", "source sentences (required)", 0, 0 },
        { "tgt", WEFT_FLAG_STRING, &tgt, "FILE", "reference translations (required)", 0, 0 },
        { "beam", WEFT_FLAG_INT, &beam, "K", "beam size (1: greedy)", 1, 1000 },
        { "alpha", WEFT_FLAG_FLOAT, &alpha, "A", "length normalisation", 0, 10 },
    };
    weft_args_spec spec = {
        .prog = "weft eval",
        .summary = "Score an encoder-decoder on a parallel corpus: loss, exact match and, last, "
                   "'bleu: X'.",
        .groups = &(weft_flag_group){ "options", flags, 6 },
        .n_groups = 1,
    };
    int rc = weft_cli_parse(&spec, argc, argv, NULL, NULL);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);
    if (!model || !src || !tgt) {
        fprintf(stderr, "weft eval: --model, --src and --tgt are required\n");
        return WEFT_EXIT_USAGE;
    }
    char err[1024];
    weft_seq2seq *m = weft_seq2seq_load(model, err, sizeof err);
    if (!m) {
        fprintf(stderr, "weft eval: %s\n", err);
        return WEFT_EXIT_FAIL;
    }
    int status = WEFT_EXIT_FAIL;
    weft_s2s_corpus c;
    if (weft_s2s_corpus_read(src, tgt, weft_seq2seq_src_vocab(m), weft_seq2seq_tgt_vocab(m), &c,
                             err, sizeof err)) {
        fprintf(stderr, "weft eval: %s\n", err);
        weft_seq2seq_free(m);
        return WEFT_EXIT_FAIL;
    }
    double nll, em, bleu, secs;
    long toks;
    if (weft_seq2seq_corpus_loss(m, &c, 32, &nll, err, sizeof err)) {
        fprintf(stderr, "weft eval: %s\n", err);
        goto done;
    }
    if (decode_and_score(m, &c, beam, alpha, &em, &bleu, &secs, &toks)) goto done;
    printf("model: %s; data: %s / %s, %d pairs\n", model, src, tgt, c.n);
    printf("nll: %.4f per target token (perplexity %.2f)\n", nll, exp(nll));
    char how[32];
    if (beam == 1) snprintf(how, sizeof how, "greedy");
    else snprintf(how, sizeof how, "beam %d", beam);
    printf("decoding (%s): %.2f s, %.0f output tokens/s\n", how, secs, secs > 0 ? toks / secs : 0);
    printf("exact match: %.4f\n", em);
    printf("bleu: %.2f\n", bleu);
    status = WEFT_EXIT_OK;
done:
    weft_s2s_corpus_free(&c);
    weft_seq2seq_free(m);
    return status;
}
