/* weft/seq2seq.h — encoder-decoder models with attention: conditional
 * generation (translation, reversal, addition).
 *
 * The model (Luong et al. 2015, with Bahdanau's additive score as an option):
 *
 *   source ids -> embedding [E] -> encoder (any cell, built-in or plugin;
 *                 stacked, bidirectional; ragged source lengths) -> states [S, K]
 *   bridge     -> the decoder's initial states: tanh(W_l,k [→h;←h] + b_l,k) of the
 *                 encoder's final states, layer l from encoder layer min(l, L_enc-1)
 *                 (or zeros)
 *   decoder    -> x_t = [embed(y_{t-1}); h̃_{t-1}] (input feeding), any cell, stacked;
 *                 top state h_t
 *   attention  -> c_t = attention(h_t, states) (weft/attention.h);
 *                 h̃_t = tanh(W_c [c_t; h_t])    (without attention h̃_t = h_t)
 *   readout    -> p(y_t | y_<t, x) = softmax(W_o h̃_t + b_o); W_o may be the
 *                 target embedding (tied; needs E = H)
 *
 * Training is teacher forcing (the gold y_{t-1} is fed), optionally with
 * scheduled sampling (with probability rate the model's own most likely
 * y_{t-1}); the loss is the mean cross-entropy over the target tokens and the
 * end-of-sentence. Both vocabularies start with the special tokens "<s>" (0,
 * the decoder's first input), "</s>" (1, end of sentence) and "<unk>" (2).
 *
 * Decoding: greedy, and beam search (beam size, length normalisation, EOS
 * handling, batched over sentences) returning n-best lists with scores.
 * Models train through the library trainer (weft/train.h) with
 * weft_seq2seq_trainer; they save themselves with their configuration and
 * both vocabularies (weft_seq2seq_save / weft_seq2seq_load). docs/seq2seq.md
 * has the commands.
 */
#ifndef WEFT_SEQ2SEQ_H
#define WEFT_SEQ2SEQ_H

#include "weft/attention.h"
#include "weft/cell.h"
#include "weft/data.h"
#include "weft/graph.h"
#include "weft/params.h"
#include "weft/rng.h"
#include "weft/train.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { WEFT_S2S_BOS = 0, WEFT_S2S_EOS = 1, WEFT_S2S_UNK = 2 };

#define WEFT_S2S_MAX_LAYERS 8

typedef struct weft_seq2seq_config {
    char enc_cell[256], dec_cell[256];   /* built-in names or plugin paths */
    int embed;                           /* E, both embeddings */
    int hidden;                          /* H: each encoder direction and the decoder */
    int enc_layers, dec_layers;          /* 1..WEFT_S2S_MAX_LAYERS */
    bool bidirectional;                  /* the encoder */
    weft_attn_score attention;           /* WEFT_ATTN_NONE: the plain encoder-decoder */
    int attn_hidden;                     /* additive's A (0: H) */
    bool input_feed;                     /* with attention: feed h̃_{t-1} to the decoder */
    bool bridge;                         /* false: the decoder starts from zeros */
    bool tied;                           /* the readout is the target embedding */
    float dropout;                       /* in training (0: none; < 1): the embedded source
                                            and target words, between stacked layers of
                                            the encoder and of the decoder, and h̃_t before
                                            the readout (and its input feeding); a fresh
                                            mask at every step. Never in decoding. */
} weft_seq2seq_config;

/* The defaults: LSTM 1 layer, E = H = 64, general attention, input feeding, a
 * bridge, nothing tied, no dropout. */
weft_seq2seq_config weft_seq2seq_defaults(void);

typedef struct weft_seq2seq weft_seq2seq;

/* A model for cfg with the two cell types (borrowed: they must outlive the
 * model) and the two vocabularies (taken: the model owns and frees them; each
 * must start with the special tokens, weft_seq2seq_vocab). Parameters
 * initialised from rng. NULL with a message on a bad configuration (the
 * vocabularies are freed then too). */
weft_seq2seq *weft_seq2seq_new(const weft_seq2seq_config *cfg, const weft_cell_type *enc,
                               const weft_cell_type *dec, weft_vocab *src_vocab,
                               weft_vocab *tgt_vocab, weft_rng *rng, char *err, size_t errsize);
void weft_seq2seq_free(weft_seq2seq *m);

const weft_seq2seq_config *weft_seq2seq_get_config(const weft_seq2seq *m);
weft_params *weft_seq2seq_params(weft_seq2seq *m);
const weft_vocab *weft_seq2seq_src_vocab(const weft_seq2seq *m);
const weft_vocab *weft_seq2seq_tgt_vocab(const weft_seq2seq *m);

/* Save atomically (weft/io.h): parameters, "weft.config", "weft.vocab" (the
 * target's) and "weft.src_vocab". Load: the configuration and the
 * vocabularies checked against the file's tensors before anything is built;
 * a plugin cell only when allowed (weft_cell_plugin_allow). */
int weft_seq2seq_save(const weft_seq2seq *m, const char *path, char *err, size_t errsize);
weft_seq2seq *weft_seq2seq_load(const char *path, char *err, size_t errsize);

/* A vocabulary of the three special tokens followed by the tokens of t
 * (word level) seen at least min_count times (most frequent first, at most
 * max_size in all; 0: no limit). The caller owns it. */
weft_vocab *weft_seq2seq_vocab(const weft_tokens *t, int min_count, int max_size, char *err,
                               size_t errsize);

/* --- a parallel corpus --------------------------------------------------------------- */

/* Sentences as ids: sent[i] has len[i] ids (no specials). Owned by the struct. */
typedef struct weft_s2s_corpus {
    int n;
    int **src, **tgt;
    int *src_len, *tgt_len;
} weft_s2s_corpus;

void weft_s2s_corpus_free(weft_s2s_corpus *c);
/* Two files of one sentence a line (whitespace-separated tokens), line i of
 * one the translation of line i of the other, encoded with the vocabularies
 * (unknown words: <unk>). Empty source lines are refused (a message naming
 * the file and line); src_vocab or tgt_vocab may be NULL to read the text
 * only as tokens (then *src_tokens / *tgt_tokens, when not NULL, receive
 * them, for building vocabularies). */
int weft_s2s_corpus_read(const char *src_path, const char *tgt_path, const weft_vocab *src_vocab,
                         const weft_vocab *tgt_vocab, weft_s2s_corpus *c, char *err,
                         size_t errsize);
/* The same from text held in memory (a generated task; name for messages). */
int weft_s2s_corpus_from_text(const char *src_text, const char *tgt_text, const char *name,
                              const weft_vocab *src_vocab, const weft_vocab *tgt_vocab,
                              weft_s2s_corpus *c, char *err, size_t errsize);

/* Generated tasks (digits as tokens, one a word), n examples from rng:
 *   "reverse"  a sequence of min_len..max_len digits -> the same reversed
 *   "sort"     the same -> sorted ascending
 *   "add"      "a + b" of numbers of 1..max_len digits -> the digits of a + b
 *              (the Keras addition example; min_len unused)
 * into two malloc'd texts of one example a line (the caller frees). 0, or -1
 * with a message (an unknown task). */
int weft_s2s_generate(const char *task, int n, int min_len, int max_len, weft_rng *rng,
                      char **src_text, char **tgt_text, char *err, size_t errsize);

/* --- the model on a graph ---------------------------------------------------------------- */

/* The teacher-forced loss of B pairs (src[b]: src_len[b] >= 1 ids; tgt[b]:
 * tgt_len[b] >= 0 ids, end of sentence added): the mean over the B·(len+1)
 * target positions. rng is the training stream: dropout (cfg.dropout) and,
 * with ss_rate > 0, scheduled sampling draw from it; NULL: neither (scoring).
 * *tokens receives the positions averaged over. 0, or -1 with the graph's
 * error set. */
int weft_seq2seq_loss(weft_graph *g, const weft_seq2seq *m, const int *const *src,
                      const int *src_len, const int *const *tgt, const int *tgt_len, int B,
                      float ss_rate, weft_rng *rng, weft_var **loss, double *tokens);

/* The decoder of B sentences step by step (what decoding runs): begin encodes
 * them; each step feeds prev[b] (the token before, WEFT_S2S_BOS first) and
 * gives the log-probabilities [B, V] of the next token, and the attention
 * weights [B, S] (NULL without attention). Nodes of g. */
typedef struct weft_s2s_decoder {
    int B;
    weft_attention_memory mem;
    weft_var *states[WEFT_S2S_MAX_LAYERS * 4];   /* dec_layers · n_states, as weft/rnn.h */
    int n_states;
    weft_var *feed;                              /* h̃_{t-1} (input feeding) */
    weft_var *weights;                           /* the last step's attention */
    int t;                                       /* steps taken */
    weft_rng *rng;                               /* dropout's stream in training (borrowed;
                                                    NULL: no dropout, as in decoding) */
} weft_s2s_decoder;

int weft_seq2seq_begin(weft_graph *g, const weft_seq2seq *m, const int *const *src,
                       const int *src_len, int B, weft_s2s_decoder *d);
weft_var *weft_seq2seq_step(weft_graph *g, const weft_seq2seq *m, weft_s2s_decoder *d,
                            const int *prev);

/* --- decoding ------------------------------------------------------------------------ */

typedef struct weft_s2s_hyp {
    int *tokens;        /* len ids, end of sentence not included */
    int len;
    double logprob;     /* log p(tokens, </s> | source) */
    double score;       /* logprob / (len + 1)^alpha: what the n-best list is sorted by */
} weft_s2s_hyp;

typedef struct weft_s2s_nbest {
    int n;
    weft_s2s_hyp *hyps;   /* best first */
} weft_s2s_nbest;

typedef struct weft_s2s_decode_opts {
    int beam;             /* hypotheses kept (1: the same result as weft_seq2seq_greedy) */
    int nbest;            /* hypotheses kept per sentence (<= beam; 0: 1) */
    float alpha;          /* length normalisation: score = log p / (len + 1)^alpha */
    int max_len;          /* longest output incl. </s> (0: 2 · source length + 10) */
    int batch;            /* sentences decoded together (0: 32) */
} weft_s2s_decode_opts;

/* Decode N sentences: out[i] (N of them, the caller frees each with
 * weft_s2s_nbest_free) the n-best list of sentence i. Beam search keeps, at
 * every step, the 2·beam best extensions of the live hypotheses: an </s> among
 * the first beam of them ends a hypothesis, the first beam others go on; a
 * sentence is done when nbest hypotheses have ended and no live one can beat
 * them (or none is live, or max_len is reached, where only </s> may follow).
 * "<s>" is never generated. 0, or -1 with a message. */
int weft_seq2seq_decode(const weft_seq2seq *m, const int *const *src, const int *src_len, int N,
                        const weft_s2s_decode_opts *o, weft_s2s_nbest *out, char *err,
                        size_t errsize);
/* Greedy decoding: the most likely token at each step until </s>. */
int weft_seq2seq_greedy(const weft_seq2seq *m, const int *const *src, const int *src_len, int N,
                        int max_len, weft_s2s_nbest *out, char *err, size_t errsize);
void weft_s2s_nbest_free(weft_s2s_nbest *l);

/* The attention weights of the decoder producing tgt (tgt_len ids, then </s>)
 * from src, fed the tokens of tgt (a hypothesis decoding returned, say): row
 * t of weights (the caller's, (tgt_len + 1) · src_len floats) is the
 * distribution over the source positions at the step that predicts tgt[t],
 * the last row the step that predicts </s>. What a heat map of a translation
 * draws (`weft translate --plot`). 0, or -1 with a message (a model without
 * attention, a bad id). */
int weft_seq2seq_attention_weights(const weft_seq2seq *m, const int *src, int src_len,
                                   const int *tgt, int tgt_len, float *weights, char *err,
                                   size_t errsize);

/* --- metrics ------------------------------------------------------------------------ */

/* Corpus BLEU (Papineni et al. 2002) of n hypotheses against one reference
 * each, over token ids: n-grams up to 4, clipped counts summed over the
 * corpus, geometric mean of the four precisions, brevity penalty exp(1 - r/c)
 * when c < r — sacreBLEU's default (no smoothing) on tokenised text. 0..100. */
double weft_bleu(const int *const *hyp, const int *hyp_len, const int *const *ref,
                 const int *ref_len, int n);
/* The fraction of hypotheses equal to their reference, 0..1. */
double weft_exact_match(const int *const *hyp, const int *hyp_len, const int *const *ref,
                        const int *ref_len, int n);

/* --- training --------------------------------------------------------------------------- */

typedef struct weft_s2s_train_data {
    const weft_s2s_corpus *train, *valid;   /* borrowed; valid may be NULL */
    int batch;                              /* sentences per batch */
    float ss_rate;                          /* scheduled sampling (0: pure teacher forcing) */
} weft_s2s_train_data;

/* The model's trainable for weft_train: batches of sentences of similar source
 * length (sorted, cut into batches, the batches shuffled each epoch); scored
 * by the validation perplexity per target token (exp of the mean loss; lower
 * is better); saves with weft_seq2seq_save, and its training state (for
 * --resume: weft_seq2seq_load_state) with weft_train_save_params_state. The
 * returned trainer holds what it needs (free with weft_seq2seq_trainer_free);
 * NULL with a message. */
typedef struct weft_s2s_trainer weft_s2s_trainer;
weft_s2s_trainer *weft_seq2seq_trainer(weft_seq2seq *m, const weft_s2s_train_data *d,
                                       weft_trainable *t, char *err, size_t errsize);
void weft_seq2seq_trainer_free(weft_s2s_trainer *tr);
/* Read a training state file of the trainer (SAVE.state, written after every
 * epoch and on a stop): the model built from its metadata with the weights and
 * optimiser slots of the run (weft_train_load_params_state), the run's
 * settings into *o, its state into *st, and what the data must match: the
 * training pairs, the batch and the scheduled-sampling rate. NULL with a
 * message naming the file. */
weft_seq2seq *weft_seq2seq_load_state(const char *path, weft_train_opts *o, weft_train_state *st,
                                      int *pairs, int *batch, float *ss_rate, char *err,
                                      size_t errsize);
/* The mean loss per target token over a corpus (no dropout, no sampling). */
int weft_seq2seq_corpus_loss(const weft_seq2seq *m, const weft_s2s_corpus *c, int batch,
                             double *nll, char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
