/* examples/tagger.c — a part-of-speech tagger from C, top to bottom.
 *
 *     build/examples/tagger TRAIN.conllu DEV.conllu [OUT.conllu]
 *
 * Words and their characters: a bidirectional LSTM over each word's
 * characters gives it a vector even when the word was never seen; with the
 * word's embedding it goes into a bidirectional LSTM over the sentence, and a
 * softmax per word picks the UPOS tag. The trainer does the rest; the dev
 * file is then written back with the predicted tags in the UPOS field and
 * every other byte as it was. */
#include <stdio.h>
#include <stdlib.h>

#include "weft/weft.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TRAIN.conllu DEV.conllu [OUT.conllu]\n", argv[0]);
        return 2;
    }
    char err[1024];

    /* 1. The data: CoNLL-U, predicting UPOS (field 4). Multiword tokens and
     * empty nodes are skipped, as UD's evaluation does. */
    weft_labeled_data train, dev;
    if (weft_labeled_read(argv[1], WEFT_FORMAT_CONLLU, WEFT_CONLLU_UPOS, &train, err,
                          sizeof err) ||
        weft_labeled_read(argv[2], WEFT_FORMAT_CONLLU, WEFT_CONLLU_UPOS, &dev, err,
                          sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    /* 2. The model: words lowercased, digits folded, plus the character encoder. */
    weft_classify_config cfg = weft_classify_defaults(WEFT_TASK_TAG);
    cfg.char_encoder = true;
    cfg.norm = (weft_word_norm){ .lowercase = true, .digits = true };
    weft_vocab *words, *tags, *chars;
    if (weft_classify_vocabs(&cfg, &train, 2, &words, &tags, &chars, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    weft_classify_model *m = weft_classify_new(&cfg, words, tags, chars, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_classify_init(m, &rng);

    weft_classify_set s_train, s_dev;
    if (weft_classify_set_make(m, &train, &s_train, err, sizeof err) ||
        weft_classify_set_make(m, &dev, &s_dev, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    /* 3. Train: Adam, three epochs, the best model on dev kept. */
    weft_classify_run run = { .model = m, .train = &s_train, .valid = &s_dev, .batch = 32 };
    weft_trainable t;
    weft_classify_trainable(&run, &t);
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_adam(2e-3);
    o.clip = 5.0f;
    o.epochs = 3;
    o.save_path = "tagger.safetensors";
    weft_train_result res;
    if (weft_train(&t, &o, &res, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("best dev accuracy %.2f%% (epoch %d)\n", res.best, res.best_epoch);

    /* 4. Tag dev and write it back as CoNLL-U with the predicted UPOS. */
    weft_graph *g = weft_graph_new();
    int *pred = malloc((size_t)dev.n_words * sizeof *pred);
    const char **names = malloc((size_t)dev.n_words * sizeof *names);
    if (!g || !pred || !names || weft_classify_predict(m, g, &s_dev, 64, pred, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int k = 0; k < dev.n_words; k++) names[k] = weft_vocab_token(m->labels, pred[k]);
    FILE *out = fopen(argc > 3 ? argv[3] : "tagged.conllu", "w");
    if (!out || weft_labeled_write_conllu(&dev, names, out, err, sizeof err) || fclose(out)) {
        fprintf(stderr, "writing the tagged file failed: %s\n", err);
        return 1;
    }

    free(pred);
    free(names);
    weft_graph_free(g);
    weft_classify_run_free(&run);
    weft_classify_set_free(&s_train);
    weft_classify_set_free(&s_dev);
    weft_classify_free(m);
    weft_labeled_free(&train);
    weft_labeled_free(&dev);
    return 0;
}
