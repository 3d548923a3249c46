/* weft/labeled.h — labelled text for classification and tagging: the three
 * file formats, word normalisation, vocabularies over words, labels and
 * characters, and predictions written back.
 *
 * Formats:
 *
 *   classify  one example a line, "LABEL word word ...": the label is the
 *             first whitespace-separated field (any string: "0", "pos"),
 *             the words the rest (at least one). Blank lines are skipped.
 *   conllu    CoNLL-U (universaldependencies.org/format.html): comment lines
 *             start with '#', a blank line ends a sentence, a word line has
 *             10 tab-separated fields. The word is FORM (field 2), the tag the
 *             chosen field (4 UPOS by default, 5 XPOS, or any other). Lines
 *             whose ID holds '-' (multiword-token ranges) or '.' (empty
 *             nodes) are kept in the text but are not words, as UD's own
 *             evaluation (conll18_ud_eval.py) scores syntactic words only.
 *   bio       the CoNLL-2000/2003 column format: one token a line, fields
 *             separated by whitespace, the word first and the tag last
 *             (B-TYPE, I-TYPE, O; E- and S- too), a blank line between
 *             sentences; "-DOCSTART-" lines are skipped.
 *   text      sentences to classify, one a line, words only (what `weft
 *             predict` reads for a classifier).
 *
 * A malformed line is an error naming the file, the line and what was wrong.
 * Strings are NUL-terminated and belong to the struct.
 */
#ifndef WEFT_LABELED_H
#define WEFT_LABELED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_labeled_format {
    WEFT_FORMAT_CLASSIFY = 0,
    WEFT_FORMAT_CONLLU = 1,
    WEFT_FORMAT_BIO = 2,
    WEFT_FORMAT_TEXT = 3,       /* sentences to classify: one a line, words only, no label */
} weft_labeled_format;

/* "classify", "conllu", "bio", "text" (a static string). */
const char *weft_labeled_format_name(weft_labeled_format f);
/* The format called name into *out: 0, or -1 for any other name. */
int weft_labeled_format_parse(const char *name, weft_labeled_format *out);

/* CoNLL-U fields, numbered from 1 as the format's documentation does. */
enum { WEFT_CONLLU_FORM = 2, WEFT_CONLLU_UPOS = 4, WEFT_CONLLU_XPOS = 5 };

typedef struct weft_labeled_data {
    weft_labeled_format format;
    char *path;                 /* the name given when read (for messages) */
    int n_sents, n_words;
    int *sent_start;            /* n_sents + 1: sentence s is words [sent_start[s], sent_start[s+1]) */
    const char **word;          /* n_words */
    const char **tag;           /* n_words (conllu, bio), NULL for classify */
    const char **label;         /* n_sents (classify), NULL otherwise (text: no labels) */
    int *line;                  /* n_words: the line each word is on (from 1) */
    /* conllu: the file's bytes and where each word's chosen field lies in them,
     * for weft_labeled_write_conllu */
    int column;
    char *text;
    size_t text_len;
    size_t *field_at;           /* n_words */
    uint32_t *field_len;        /* n_words */
    char *strings;              /* owned storage of the strings above */
} weft_labeled_data;

/* Read a file of the given format (column: the CoNLL-U field to predict,
 * 1..10 without FORM; ignored for the other formats). Returns 0, or -1 with
 * a message "FILE:LINE: what" in err. The caller frees with
 * weft_labeled_free. An empty file (no examples) is an error. */
int weft_labeled_read(const char *path, weft_labeled_format format, int column,
                      weft_labeled_data *out, char *err, size_t errsize);
/* The same from text in memory (copied); name stands for the file in messages. */
int weft_labeled_from_string(const char *text, size_t len, const char *name,
                             weft_labeled_format format, int column, weft_labeled_data *out,
                             char *err, size_t errsize);
void weft_labeled_free(weft_labeled_data *d);

/* Sentence s's words: *n of them. */
const char *const *weft_labeled_words(const weft_labeled_data *d, int s, int *n);

/* Write d back as CoNLL-U with word k's chosen field replaced by tags[k]
 * (borrowed, n_words of them): every other byte as read (comments,
 * multiword tokens, empty nodes, the other fields, line ends). A tag must be
 * non-empty and hold no tab or line end. Returns 0, or -1 on a write error
 * or a bad tag (message in err). */
int weft_labeled_write_conllu(const weft_labeled_data *d, const char *const *tags, FILE *f,
                              char *err, size_t errsize);

/* --- word normalisation ----------------------------------------------------------
 *
 * Applied to a word before it is looked up in (or added to) the word
 * vocabulary; the character encoder sees the word as written. lowercase:
 * ASCII letters A-Z; digits: every ASCII digit becomes '0' ("1984" and
 * "2001" share a vector, as in Collobert et al. 2011 and most taggers). */
typedef struct weft_word_norm {
    bool lowercase;
    bool digits;
} weft_word_norm;

/* w normalised into buf (bufsize bytes; a longer word is cut at bufsize - 1
 * bytes); returns buf. */
const char *weft_word_normalize(const char *w, weft_word_norm norm, char *buf, size_t bufsize);

/* --- vocabularies ---------------------------------------------------------------- */

/* Words of d (normalised) seen at least min_count times, in order of first
 * occurrence, after the n_specials tokens given (e.g. "<unk>", "<pad>"),
 * which come first in that order. A new vocabulary the caller owns, or NULL
 * with a message. */
weft_vocab *weft_labeled_word_vocab(const weft_labeled_data *d, weft_word_norm norm,
                                    int min_count, const char *const *specials, int n_specials,
                                    char *err, size_t errsize);
/* The labels (classify) or tags (conllu, bio) of d, sorted (numerically when
 * every one is a whole number, else by bytes), so that the order of a
 * confusion matrix reads naturally. */
weft_vocab *weft_labeled_label_vocab(const weft_labeled_data *d, char *err, size_t errsize);
/* The characters (UTF-8 code points) of d's words as written, seen at least
 * min_count times, after "<unk>". */
weft_vocab *weft_labeled_char_vocab(const weft_labeled_data *d, int min_count, char *err,
                                    size_t errsize);

/* Ids of every word of d (n_words, normalised; "<unk>" for words v lacks),
 * a malloc'd array the caller frees, or NULL when out of memory or v has no
 * "<unk>". */
int *weft_labeled_encode_words(const weft_labeled_data *d, const weft_vocab *v,
                               weft_word_norm norm, char *err, size_t errsize);
/* Ids of d's labels (n_sents, classify) or tags (n_words): -1 for one v
 * lacks (it can be scored, never predicted) and for every sentence of plain
 * text. malloc'd, or NULL. */
int *weft_labeled_encode_labels(const weft_labeled_data *d, const weft_vocab *v, char *err,
                                size_t errsize);

#ifdef __cplusplus
}
#endif

#endif
