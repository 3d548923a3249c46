/* weft/data.h — text as token streams, vocabularies, and batches for
 * language modelling.
 *
 * A text file is read as a word stream (tokens split on whitespace, "<eos>"
 * at the end of every line, as in the Penn Treebank LM files and PyTorch's
 * word_language_model example) or as a character stream (UTF-8 code points,
 * newlines included). A vocabulary maps tokens to ids. A stream of ids is
 * cut into B parallel streams (batchify) laid out time-major, [L, B], so that
 * windows of bptt steps are contiguous rows and the hidden state of stream b
 * carries from one window to the next (truncated BPTT).
 */
#ifndef WEFT_DATA_H
#define WEFT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_text_level { WEFT_TEXT_WORDS = 0, WEFT_TEXT_CHARS = 1 } weft_text_level;

#define WEFT_EOS "<eos>"
#define WEFT_UNK "<unk>"

/* "word" or "char": the name of a level, as flags and checkpoints spell it
 * (a static string). */
const char *weft_text_level_name(weft_text_level level);
/* The level called `name` ("word" or "char") into *out: 0, or -1 for any
 * other name (*out untouched). */
int weft_text_level_parse(const char *name, weft_text_level *out);

/* --- tokens ----------------------------------------------------------------------- */

/* The tokens of a text: spans into the file's bytes (owned by the struct). */
typedef struct weft_tokens {
    char *text;          /* the file's bytes, NUL-terminated */
    size_t text_len;
    size_t *start;       /* token k is text[start[k] .. start[k] + len[k]) */
    uint32_t *len;       /* an "<eos>" token points at the static WEFT_EOS */
    size_t count;
    weft_text_level level;
} weft_tokens;

/* Read and split a file. Returns 0, or -1 with a message in err naming the
 * file and what was wrong (missing, a directory, unreadable, empty, invalid
 * UTF-8 or a NUL byte at a line and byte: a vocabulary cannot hold a token
 * with a NUL, so such text is refused before any model is made of it). The caller frees with weft_tokens_free. */
int weft_tokens_read(const char *path, weft_text_level level, weft_tokens *out,
                     char *err, size_t errsize);
/* Split text held in memory (copied) the same way; name is used in errors. */
int weft_tokens_from_string(const char *text, size_t len, const char *name, weft_text_level level,
                            weft_tokens *out, char *err, size_t errsize);
void weft_tokens_free(weft_tokens *t);
/* Token k (not NUL-terminated: use its length). */
const char *weft_token(const weft_tokens *t, size_t k, uint32_t *len);

/* --- vocabulary ------------------------------------------------------------------- */

typedef struct weft_vocab weft_vocab;

/* An empty vocabulary; the caller owns it (weft_vocab_free). */
weft_vocab *weft_vocab_new(void);
void weft_vocab_free(weft_vocab *v);
/* Add a token (copied) if absent; returns its id, or -1 when out of memory. */
int weft_vocab_add(weft_vocab *v, const char *tok, size_t len);
/* The id of a token, or -1. */
int weft_vocab_find(const weft_vocab *v, const char *tok, size_t len);
int weft_vocab_size(const weft_vocab *v);
/* Token of an id (NUL-terminated, borrowed from the vocabulary), or NULL. */
const char *weft_vocab_token(const weft_vocab *v, int id);
/* The id of "<unk>", or -1 when the vocabulary has none. */
int weft_vocab_unk(const weft_vocab *v);

/* Build a vocabulary from tokens: ids in order of first occurrence (as
 * PyTorch's word_language_model does). Tokens seen fewer than min_count times
 * are left out, and so are all but the max_size - 1 most frequent ones when
 * max_size > 0; whenever anything is left out, "<unk>" is added (first) to
 * stand for it. NULL with a message in err when out of memory. */
weft_vocab *weft_vocab_build(const weft_tokens *t, int min_count, int max_size,
                             char *err, size_t errsize);

/* Map tokens to ids. A token missing from the vocabulary becomes "<unk>"; if
 * the vocabulary has no "<unk>", that is an error naming the token and its
 * position (a vocabulary that does not match the text or the model). Returns
 * an array of t->count ids the caller frees with free(), or NULL. */
int *weft_tokens_encode(const weft_tokens *t, const weft_vocab *v, char *err, size_t errsize);

/* Text held in memory (a prime for sampling) to ids: words are split on
 * whitespace (a line end is "<eos>"; none is added after a last line the text
 * does not end), characters are code points. A token v lacks becomes
 * "<unk>", or is an error naming it when v has none. *ids is malloc'd and the
 * caller's (free()); empty text gives *ids NULL and *n 0. Returns 0, or -1
 * with a message in err. */
int weft_vocab_encode_text(const weft_vocab *v, weft_text_level level, const char *text,
                           int **ids, int *n, char *err, size_t errsize);
/* Write ids as text: words joined by spaces with "<eos>" as a line end,
 * characters as they are; ids v lacks are skipped. `after_newline`: the text
 * so far ends a line (no space before the first word). Returns 0, or -1 on a
 * write error. */
int weft_vocab_write_text(const weft_vocab *v, weft_text_level level, const int *ids, int n,
                          bool after_newline, FILE *f);

/* The vocabulary as JSON, as a checkpoint keeps it under "weft.vocab": a list
 * of its tokens in id order. A malloc'd string the caller frees with free(),
 * or NULL when out of memory. */
char *weft_vocab_to_json(const weft_vocab *v);
/* The vocabulary in that JSON: a new one the caller owns (weft_vocab_free).
 * expect_size >= 0: the list must hold that many tokens (the "vocab_size" of
 * the checkpoint's "weft.config"); -1: any number. NULL with a message in err
 * that starts with `path` (the file it came from) when the JSON is not a
 * non-empty list, has another size, or has an entry that is not a non-empty
 * string or that appears twice. */
weft_vocab *weft_vocab_from_json(const char *json, int expect_size, const char *path, char *err,
                                 size_t errsize);

/* --- batches ------------------------------------------------------------------------ */

/* ids cut into `batch` parallel streams of `steps` ids each, time-major:
 * data[t * batch + b] is step t of stream b, and stream b is the b-th
 * contiguous piece of the original stream (the remainder is dropped). */
typedef struct weft_batches {
    int *data;      /* owned; weft_batches_free */
    int steps;      /* L */
    int batch;      /* B */
} weft_batches;

/* Returns 0, or -1 with a message when there are fewer than 2 ids a stream. */
int weft_batchify(const int *ids, size_t n, int batch, weft_batches *out, char *err, size_t errsize);
void weft_batches_free(weft_batches *b);
/* The window starting at step `start`: inputs are steps [start, start + len),
 * targets the steps one later, where len = min(bptt, steps - 1 - start).
 * Both point into b->data ([len, batch], row-major). Returns len (0 when
 * start is past the last window). */
int weft_batches_window(const weft_batches *b, int start, int bptt, const int **inputs,
                        const int **targets);

#ifdef __cplusplus
}
#endif

#endif
