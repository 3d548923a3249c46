/* src/cli/cmd_dot.c — `weft dot`: draw a recurrent network unrolled in time.
 *
 *     weft dot --cell NAME [--layers N] [--bidirectional] [--steps T] ... -o FILE
 *     weft dot --model FILE.safetensors [--steps T] ... -o FILE
 *
 * With --cell, a fresh model of that cell (random weights, fixed seed) is
 * unrolled over T steps of random input; the loss is a linear readout of the
 * top layer's output with a cross-entropy against random classes, at every
 * step (--loss-at all, one readout over the stacked outputs, as the language
 * model does) or at the last step only (--loss-at last). With --model, a saved
 * language model is loaded by weft_lm_load (the loader and the checks eval
 * and sample use; a plugin cell only with --allow-plugin) and reads T x B
 * random token ids; a fixed-window model (weft/window_lm.h) reads B random
 * contexts. The graph is drawn with
 * weft_dot_write (weft/dot.h), after backward when --grads. */
#include "src/cli/cli.h"

#include "weft/seq2seq.h"

#include "weft/weft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { READOUT_CLASSES = 3 };

/* What `weft dot` builds: a store, a model, a graph. */
typedef struct drawing {
    weft_params *ps;
    weft_rnn *rnn;
    weft_graph *g;
    weft_var *loss;
    void *plugin;    /* the cell's shared object, when --cell named one */
    weft_lm *lm;     /* --model: the model (rnn is then its own) */
    weft_seq2seq *s2s;   /* --model naming an encoder-decoder */
    weft_window_lm *wlm;   /* --model of a fixed-window model (no rnn) */
} drawing;

static void drawing_free(drawing *d)
{
    weft_graph_free(d->g);
    if (d->s2s) {
        weft_seq2seq_free(d->s2s);
    } else if (d->lm) {
        weft_lm_free(d->lm);
    } else if (d->wlm) {
        weft_window_lm_free(d->wlm);
    } else {
        weft_rnn_free(d->rnn);
        weft_params_free(d->ps);
    }
    weft_cell_plugin_close(d->plugin);
}

/* The readout and loss on top of an unroll: logits = y W_outᵀ + b_out, then
 * cross-entropy against random classes, over every step or the last one. */
static weft_var *readout_loss(weft_graph *g, weft_params *ps, const weft_rnn_out *out,
                              bool last_only, weft_rng *rng)
{
    int W = out->width, rows = last_only ? out->B : out->T * out->B;
    weft_param *pw = weft_params_add(ps, "readout.weight", 2, (int[]){ READOUT_CLASSES, W });
    weft_param *pb = weft_params_add(ps, "readout.bias", 1, (int[]){ READOUT_CLASSES });
    int *targets = malloc((size_t)rows * sizeof *targets);
    if (!pw || !pb || !targets) {
        free(targets);
        return NULL;
    }
    weft_rng_fill_uniform(rng, &pw->value, -0.5f, 0.5f);
    weft_rng_fill_uniform(rng, &pb->value, -0.1f, 0.1f);
    for (int i = 0; i < rows; i++) targets[i] = (int)weft_rng_below(rng, READOUT_CLASSES);
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    weft_var *y = last_only ? out->steps[out->T - 1]
                            : weft_reshape(g, out->seq, 2, (int[]){ rows, W });
    weft_var *logits = weft_linear(g, y, weft_param_var(g, pw), weft_param_var(g, pb));
    weft_var *loss = weft_cross_entropy(g, logits, targets, NULL);
    free(targets);
    return loss;
}

/* A fresh model of one cell, unrolled on random input. */
static int build_cell(drawing *d, const weft_cell_type *type, int layers, bool bidirectional,
                      int T, int B, int I, int H, bool fast, bool last_only, uint64_t seed)
{
    char err[512];
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    d->ps = weft_params_new();
    d->g = weft_graph_new();
    if (!d->ps || !d->g) {
        fprintf(stderr, "weft dot: out of memory\n");
        return -1;
    }
    weft_rnn_config cfg = { .cell = type, .input_size = I, .hidden_size = H,
                            .num_layers = layers, .bidirectional = bidirectional,
                            .prefix = "rnn." };
    d->rnn = weft_rnn_new(d->ps, &cfg, err, sizeof err);
    if (!d->rnn) {
        fprintf(stderr, "weft dot: %s\n", err);
        return -1;
    }
    weft_rnn_reset_parameters(d->rnn, &rng);
    weft_graph *g = d->g;
    weft_tensor xt = weft_tensor_alloc(3, (int[]){ T, B, I });
    if (!xt.data) return -1;
    weft_rng_fill_normal(&rng, &xt, 0.0f, 1.0f);
    weft_var *xs = weft_input(g, &xt, "x", false);
    weft_tensor_release(&xt);
    weft_rnn_out out;
    weft_unroll_opts uo = { .composed = !fast };
    if (weft_unroll(g, d->rnn, xs, &uo, &out) == 0)
        d->loss = readout_loss(g, d->ps, &out, last_only, &rng);
    if (!d->loss || weft_graph_failed(g)) {
        fprintf(stderr, "weft dot: building the graph failed: %s\n",
                weft_graph_error(g) ? weft_graph_error(g) : "out of memory");
        return -1;
    }
    return 0;
}

/* A saved language model, loaded by weft_lm_load (the loader and the checks
 * eval and sample use), reading T x B random ids with random targets. */
static int build_model(drawing *d, const char *path, int T, int B, bool fast, uint64_t seed)
{
    char err[1024];
    d->lm = weft_lm_load(path, err, sizeof err);
    if (!d->lm) {
        fprintf(stderr, "weft dot: --model: %s\n", err);
        return -1;
    }
    d->rnn = d->lm->rnn;   /* the model's; for the title */
    d->g = weft_graph_new();
    int n = T * B, V = d->lm->vocab_size;
    int *ids = malloc((size_t)n * sizeof *ids), *targets = malloc((size_t)n * sizeof *targets);
    if (!d->g || !ids || !targets) {
        free(ids);
        free(targets);
        fprintf(stderr, "weft dot: out of memory\n");
        return -1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) ids[i] = (int)weft_rng_below(&rng, (uint32_t)V);
    for (int i = 0; i < n; i++) targets[i] = (int)weft_rng_below(&rng, (uint32_t)V);
    /* the model's forward without dropout (weft/lm.h), on the composed step
     * unless --fast */
    weft_lm *m = d->lm;
    weft_graph *g = d->g;
    int E = m->cfg.embed, H = m->cfg.hidden;
    weft_var *emb = weft_embedding(g, weft_param_var(g, m->encoder), ids, n);
    weft_var *xs = weft_reshape(g, emb, 3, (int[]){ T, B, E });
    weft_rnn_out out;
    weft_unroll_opts uo = { .composed = !fast };
    if (xs && weft_unroll(g, m->rnn, xs, &uo, &out) == 0) {
        weft_graph_set_scope(g, WEFT_NO_SCOPE);
        weft_var *y = weft_reshape(g, out.seq, 2, (int[]){ n, H });
        weft_var *logits = weft_linear(g, y, weft_param_var(g, m->decoder_weight),
                                       weft_param_var(g, m->decoder_bias));
        d->loss = weft_cross_entropy(g, logits, targets, NULL);
    }
    free(ids);
    free(targets);
    if (!d->loss || weft_graph_failed(d->g)) {
        fprintf(stderr, "weft dot: --model: building the graph of %s failed: %s\n", path,
                weft_graph_error(d->g) ? weft_graph_error(d->g) : "out of memory");
        return -1;
    }
    return 0;
}

/* A saved fixed-window model (weft/window_lm.h), reading B random contexts with
 * random targets: one graph, no time steps. */
static int build_window_model(drawing *d, const char *path, int B, uint64_t seed)
{
    char err[1024];
    d->wlm = weft_window_lm_load(path, err, sizeof err);
    if (!d->wlm) {
        fprintf(stderr, "weft dot: --model: %s\n", err);
        return -1;
    }
    d->g = weft_graph_new();
    int ctx_len = d->wlm->cfg.order - 1, V = d->wlm->vocab_size;
    int *ctx = malloc((size_t)B * ctx_len * sizeof *ctx), *targets = malloc((size_t)B * sizeof *targets);
    if (!d->g || !ctx || !targets) {
        free(ctx);
        free(targets);
        fprintf(stderr, "weft dot: out of memory\n");
        return -1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    for (int i = 0; i < B * ctx_len; i++) ctx[i] = (int)weft_rng_below(&rng, (uint32_t)V);
    for (int i = 0; i < B; i++) targets[i] = (int)weft_rng_below(&rng, (uint32_t)V);
    d->loss = weft_window_lm_forward(d->wlm, d->g, ctx, targets, B, NULL);
    free(ctx);
    free(targets);
    if (!d->loss || weft_graph_failed(d->g)) {
        fprintf(stderr, "weft dot: --model: building the graph of %s failed: %s\n", path,
                weft_graph_error(d->g) ? weft_graph_error(d->g) : "out of memory");
        return -1;
    }
    return 0;
}

/* A saved encoder-decoder (weft/seq2seq.h) on B random source sentences of
 * T words and targets of T - 1 words: the encoder's steps, the decoder's
 * above them (its layers after the encoder's) and the attention on top. */
static int build_seq2seq(drawing *d, const char *path, int T, int B, uint64_t seed)
{
    char err[1024];
    if (!(d->s2s = weft_seq2seq_load(path, err, sizeof err))) {
        fprintf(stderr, "weft dot: --model: %s\n", err);
        return -1;
    }
    d->g = weft_graph_new();
    int *ids = malloc((size_t)2 * T * B * sizeof *ids), *len = malloc((size_t)2 * B * sizeof *len);
    const int **rows = malloc((size_t)2 * B * sizeof *rows);
    if (!d->g || !ids || !len || !rows) {
        free(ids), free(len), free(rows);
        fprintf(stderr, "weft dot: out of memory\n");
        return -1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    int V[2] = { weft_vocab_size(weft_seq2seq_src_vocab(d->s2s)),
                 weft_vocab_size(weft_seq2seq_tgt_vocab(d->s2s)) };
    for (int side = 0; side < 2; side++)
        for (int b = 0; b < B; b++) {
            int *row = ids + (size_t)(side * B + b) * T;
            for (int t = 0; t < T; t++) row[t] = 3 + (int)weft_rng_below(&rng, (uint32_t)(V[side] - 3));
            rows[side * B + b] = row;
            len[side * B + b] = side ? T - 1 : T;
        }
    double tokens;
    if (weft_seq2seq_loss(d->g, d->s2s, rows, len, rows + B, len + B, B, 0.0f, NULL, &d->loss,
                          &tokens))
        fprintf(stderr, "weft dot: --model: building the graph of %s failed: %s\n", path,
                weft_graph_error(d->g));
    free(ids);
    free(len);
    free(rows);
    return d->loss ? 0 : -1;
}

/* The output's extension is one weft_dot_write knows. */
static bool known_extension(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return false;
    const char *ok[] = { ".dot", ".gv", ".svg", ".png", ".pdf" };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcasecmp(dot, ok[i]) == 0) return true;
    return false;
}

int weft_cmd_dot(int argc, char **argv)
{
    const char *cell = NULL, *model = NULL, *output = NULL, *level = "cells", *title = NULL,
               *loss_at = "all";
    int layers = 1, steps = 4, hidden = 4, input = 3, batch = 2, seed = 1;
    int max_steps = -1;   /* not given: the library's default cap */
    bool bidirectional = false, grads = false, fast = false;
    const weft_flag flags[] = {
        { "cell", WEFT_FLAG_STRING, &cell, "NAME", "draw a fresh model of this cell (see "
          "'weft cells')", 0, 0 },
        { "model", WEFT_FLAG_STRING, &model, "MODEL", "draw a saved language model (a "
          "checkpoint of 'weft train', recurrent or --task window-lm)", 0, 0 },
        { "output", WEFT_FLAG_STRING, &output, "FILE", "where to write: FILE.dot, .gv, .svg, "
          ".png or .pdf (also -o FILE)", 0, 0 },
        { "layers", WEFT_FLAG_INT, &layers, "N", "stacked layers (--cell)", 1, 16 },
        { "bidirectional", WEFT_FLAG_BOOL, &bidirectional, NULL, "both directions (--cell)",
          0, 0 },
        { "steps", WEFT_FLAG_INT, &steps, "T", "time steps to unroll", 1, 100000 },
        { "hidden", WEFT_FLAG_INT, &hidden, "H", "hidden width (--cell)", 1, 4096 },
        { "input", WEFT_FLAG_INT, &input, "I", "input width (--cell)", 1, 4096 },
        { "batch", WEFT_FLAG_INT, &batch, "B", "sequences in the batch", 1, 4096 },
        { "detail", WEFT_FLAG_STRING, &level, "ops|cells", "one box per cell per step, or "
          "every op", 0, 0 },
        { "max-steps", WEFT_FLAG_INT, &max_steps, "K", "draw longer sequences as their first "
          "K/2 steps, a marker and the last step; 0: every step (default: 12)", 0, 100000 },
        { "grads", WEFT_FLAG_BOOL, &grads, NULL, "run backward and show each state's "
          "gradient norm", 0, 0 },
        { "loss-at", WEFT_FLAG_STRING, &loss_at, "all|last", "the readout's loss at every step "
          "or at the last step only (--cell)", 0, 0 },
        { "fast", WEFT_FLAG_BOOL, &fast, NULL, "draw the fast path training runs (fused "
          "steps), not the cell's composed step", 0, 0 },
        { "seed", WEFT_FLAG_INT, &seed, "S", "seed of the weights and the input", 0, 0 },
        { "title", WEFT_FLAG_STRING, &title, "S", "a title above the picture (default: what "
          "was drawn)", 0, 0 },
    };
    const weft_flag_group groups[] = { { "options", flags, (int)(sizeof flags / sizeof *flags) } };
    weft_args_spec spec = {
        .prog = "weft dot",
        .summary = "Draw a recurrent network unrolled in time (Graphviz): one cluster per step, "
                   "each weight once\nwith an edge to every step that uses it, states from step "
                   "to step; with --grads, each\nstate's gradient norm on one colour scale.",
        .details = "The model reads random input (fixed seed); a linear readout with a "
                   "cross-entropy loss sits on\nthe top layer's output (--loss-at). The format "
                   "follows the extension of -o; .svg, .png and .pdf\nneed a weft built with "
                   "Graphviz's libraries (otherwise the .dot is written beside it).\n"
                   "examples:\n"
                   "  weft dot --cell lstm --layers 2 --bidirectional --steps 4 -o lstm.svg\n"
                   "  weft dot --cell gru --detail ops --steps 2 --grads -o gru.png\n"
                   "  weft dot --model lm.safetensors --steps 3 -o lm.svg\n"
                   "docs/visualizing.md explains the picture.",
        .groups = groups,
        .n_groups = 1,
    };
    /* -o FILE is --output FILE */
    char **args = malloc((size_t)(argc + 1) * sizeof *args);
    if (!args) return WEFT_EXIT_FAIL;
    for (int i = 0; i < argc; i++)
        args[i] = strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
    args[argc] = NULL;
    int rc = weft_cli_parse(&spec, argc, args, NULL, NULL);
    free(args);
    if (rc != WEFT_ARGS_OK) return weft_cli_exit(rc);

    if (!output) {
        fprintf(stderr, "weft dot: no output file: give -o FILE.svg (or .dot, .gv, .png, .pdf)\n");
        return WEFT_EXIT_USAGE;
    }
    if (!known_extension(output)) {
        fprintf(stderr, "weft dot: -o %s: cannot tell the format from the extension: use .dot, "
                ".gv, .svg, .png or .pdf\n", output);
        return WEFT_EXIT_USAGE;
    }
    if (!cell == !model) {
        fprintf(stderr, "weft dot: give %s: --cell NAME (a fresh model) or --model FILE (a saved "
                "one)\n", cell ? "only one of --cell and --model" : "what to draw");
        return WEFT_EXIT_USAGE;
    }
    weft_dot_opts o = { .grads = grads, .title = title };
    if (strcmp(level, "cells") == 0) o.level = WEFT_DOT_CELLS;
    else if (strcmp(level, "ops") == 0) o.level = WEFT_DOT_OPS;
    else {
        fprintf(stderr, "weft dot: --detail: '%s' is not ops or cells\n", level);
        return WEFT_EXIT_USAGE;
    }
    if (strcmp(loss_at, "all") != 0 && strcmp(loss_at, "last") != 0) {
        fprintf(stderr, "weft dot: --loss-at: '%s' is not all or last\n", loss_at);
        return WEFT_EXIT_USAGE;
    }
    /* the command line's 0 is "no cap"; the API's is "the default cap" */
    o.max_steps = max_steps < 0 ? 0 : max_steps == 0 ? WEFT_DOT_ALL_STEPS : max_steps;

    drawing d = { 0 };
    const weft_cell_type *type = NULL;
    if (cell) {
        char err[1024];
        type = weft_cell_lookup(cell, &d.plugin, err, sizeof err);
        if (!type) {
            fprintf(stderr, "weft dot: --cell: %s\n", err);
            return WEFT_EXIT_USAGE;
        }
    }

    rc = cell ? build_cell(&d, type, layers, bidirectional, steps, batch, input, hidden, fast,
                           strcmp(loss_at, "last") == 0, (uint64_t)seed)
              : weft_cli_seq2seq_file_is(model) ? build_seq2seq(&d, model, steps, batch, (uint64_t)seed)
              : weft_window_lm_file_is(model) ? build_window_model(&d, model, batch, (uint64_t)seed)
              : build_model(&d, model, steps, batch, fast, (uint64_t)seed);
    if (rc) {
        drawing_free(&d);
        return WEFT_EXIT_FAIL;
    }
    if (grads && weft_backward(d.g, d.loss)) {
        fprintf(stderr, "weft dot: backward failed: %s\n", weft_graph_error(d.g));
        drawing_free(&d);
        return WEFT_EXIT_FAIL;
    }
    char auto_title[512];
    if (!title && d.s2s) {
        const weft_seq2seq_config *c = weft_seq2seq_get_config(d.s2s);
        snprintf(auto_title, sizeof auto_title, "%.64s (encoder %.32s x %d%s, decoder %.32s x "
                 "%d, attention %s, hidden %d): %d source and %d target steps, batch %d", model,
                 c->enc_cell, c->enc_layers, c->bidirectional ? " bidirectional" : "", c->dec_cell,
                 c->dec_layers, weft_attn_score_name(c->attention), c->hidden, steps, steps,
                 batch);
        o.title = auto_title;
    } else if (!title && d.wlm) {
        const weft_window_lm_config *c = &d.wlm->cfg;
        snprintf(auto_title, sizeof auto_title, "%s: fixed-window model, order %d, batch %d, "
                 "embed %d, hidden %d%s", model, c->order, batch, c->embed, c->hidden,
                 c->direct ? ", direct connections" : "");
        o.title = auto_title;
    } else if (!title) {
        /* "lstm: 2 layers, ..." or "lm.safetensors: lstm, 2 layers, ..." */
        const weft_rnn_config *c = weft_rnn_get_config(d.rnn);
        char what[160];
        if (model) snprintf(what, sizeof what, "%s: %s,", model, c->cell->name);
        else snprintf(what, sizeof what, "%s:", c->cell->name);
        snprintf(auto_title, sizeof auto_title, "%s %d layer%s%s, %d steps, batch %d, "
                 "input %d, hidden %d", what,
                 c->num_layers, c->num_layers == 1 ? "" : "s",
                 c->bidirectional ? ", bidirectional" : "", steps, batch, c->input_size,
                 c->hidden_size);
        o.title = auto_title;
    }
    rc = weft_dot_write(d.g, output, &o);
    if (rc == 0 && !weft_cli_quiet())
        fprintf(stderr, "weft dot: wrote %s (%d nodes on the tape)\n", output,
                weft_graph_size(d.g));
    drawing_free(&d);
    return rc < 0 ? WEFT_EXIT_FAIL : WEFT_EXIT_OK;
}
