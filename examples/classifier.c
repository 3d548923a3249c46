/* examples/classifier.c — a sentiment classifier from C, top to bottom.
 *
 *     build/examples/classifier TRAIN DEV [MODEL]
 *
 * TRAIN and DEV hold one example a line, "LABEL word word ..." (SST-2's
 * stsa.binary.train and stsa.binary.dev, for instance). A bidirectional LSTM
 * reads each sentence, max pooling over its real steps makes one vector, a
 * linear layer and a softmax give the label. The library trainer does the
 * epochs, Adam, clipping and keeping the best model on DEV. */
#include <stdio.h>

#include "weft/weft.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TRAIN DEV [MODEL]\n", argv[0]);
        return 2;
    }
    const char *save = argc > 3 ? argv[3] : "classifier.safetensors";
    char err[1024];

    /* 1. The data: sentences and their labels. */
    weft_labeled_data train, dev;
    if (weft_labeled_read(argv[1], WEFT_FORMAT_CLASSIFY, 0, &train, err, sizeof err) ||
        weft_labeled_read(argv[2], WEFT_FORMAT_CLASSIFY, 0, &dev, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    /* 2. The model: its configuration, and vocabularies from the training data. */
    weft_classify_config cfg = weft_classify_defaults(WEFT_TASK_CLASSIFY);
    snprintf(cfg.cell, sizeof cfg.cell, "lstm");   /* or "gru", or a plugin "./mgu.so" */
    cfg.embed = 100;
    cfg.hidden = 100;
    cfg.bidirectional = true;
    cfg.pool = WEFT_POOL_MAX;
    weft_vocab *words, *labels, *chars;
    if (weft_classify_vocabs(&cfg, &train, 1, &words, &labels, &chars, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    weft_classify_model *m = weft_classify_new(&cfg, words, labels, chars, err, sizeof err);
    if (!m) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_classify_init(m, &rng);

    /* 3. The data encoded for this model (word and label ids). */
    weft_classify_set s_train, s_dev;
    if (weft_classify_set_make(m, &train, &s_train, err, sizeof err) ||
        weft_classify_set_make(m, &dev, &s_dev, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    /* 4. Train through the library trainer: batches of 32 sentences of similar
     * length, Adam, the best model on DEV saved to `save`. */
    weft_classify_run run = { .model = m, .train = &s_train, .valid = &s_dev, .batch = 32 };
    weft_trainable t;
    weft_classify_trainable(&run, &t);
    weft_train_opts o = weft_train_defaults();
    o.optim = weft_optim_adam(1e-3);
    o.clip = 5.0f;
    o.epochs = 5;
    o.save_path = save;
    weft_train_result res;
    if (weft_train(&t, &o, &res, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("best dev accuracy %.2f%% after epoch %d, saved to %s\n", res.best, res.best_epoch,
           save);

    /* 5. Use it: the label of the first dev sentence. */
    weft_graph *g = weft_graph_new();
    int first = 0;
    weft_var *logits = weft_classify_logits(m, g, &s_dev, &first, 1);
    const float *z = logits->value.data;
    int best = 0;
    for (int c = 1; c < m->n_labels; c++)
        if (z[c] > z[best]) best = c;
    int n;
    const char *const *w = weft_labeled_words(&dev, 0, &n);
    printf("\"%s ...\" -> %s (gold %s)\n", w[0], weft_vocab_token(m->labels, best),
           dev.label[0]);

    weft_graph_free(g);
    weft_classify_run_free(&run);
    weft_classify_set_free(&s_train);
    weft_classify_set_free(&s_dev);
    weft_classify_free(m);
    weft_labeled_free(&train);
    weft_labeled_free(&dev);
    return 0;
}
