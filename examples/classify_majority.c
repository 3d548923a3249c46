/* examples/classify_majority.c — a sequence classifier in a handful of calls
 * (weft/layers.h): embedding -> LSTM -> linear on the last state -> softmax.
 *
 * Each sequence is 9 tokens of 0s and 1s; its class is the token it holds more
 * of. Every layer is made with its parameters initialised as PyTorch's are;
 * Adam trains it for 150 steps of 32 sequences, then it is scored on 256 new
 * ones.
 *
 *     build/examples/classify_majority
 */
#include <stdio.h>
#include "weft/weft.h"

enum { V = 2, E = 8, H = 16, C = 2, T = 9, B = 32, STEPS = 150, TEST = 256 };

/* A batch of n sequences, time-major ids[t * n + b], and their classes. */
static void make_batch(weft_rng *rng, int n, int *ids, int *labels)
{
    for (int b = 0; b < n; b++) {
        int ones = 0;
        for (int t = 0; t < T; t++) {
            ids[t * n + b] = (int)weft_rng_below(rng, 2);
            ones += ids[t * n + b];
        }
        labels[b] = 2 * ones > T;
    }
}

typedef struct model {
    weft_embedding_layer emb;
    weft_rnn *lstm;
    weft_linear_layer fc;
} model;

/* logits [n, C] of the n sequences in ids */
static weft_var *forward(const model *m, weft_graph *g, const int *ids, int n)
{
    weft_var *x = weft_embedding_layer_apply(&m->emb, g, ids, T * n);    /* [T·n, E] */
    weft_rnn_out o;
    if (weft_unroll(g, m->lstm, weft_reshape(g, x, 3, (int[]){ T, n, E }), NULL, &o)) return NULL;
    return weft_linear_layer_apply(&m->fc, g, o.final[0]);             /* h of the last step */
}

int main(void)
{
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 7);
    weft_params *s = weft_params_new();
    weft_rnn_config cfg = { .cell = weft_cell_find("lstm"), .input_size = E, .hidden_size = H,
                            .num_layers = 1, .prefix = "lstm." };
    model m = {
        .emb = weft_embedding_layer_new(s, "emb", V, E, 0.0f, &rng),
        .lstm = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err),
        .fc = weft_linear_layer_new(s, "fc", H, C, true, &rng),
    };
    if (!m.emb.weight || !m.lstm || !m.fc.weight) {
        fprintf(stderr, "classify_majority: %s\n", m.lstm ? weft_params_error(s) : err);
        return 1;
    }

    weft_optim adam = weft_optim_adam(0.01);
    weft_graph *g = weft_graph_new();
    int ids[T * TEST], labels[TEST];
    for (int step = 1; step <= STEPS; step++) {
        make_batch(&rng, B, ids, labels);
        weft_graph_reset(g);
        weft_params_zero_grad(s);
        weft_var *loss = weft_cross_entropy(g, forward(&m, g, ids, B), labels, NULL);
        if (weft_graph_failed(g) || weft_backward(g, loss) || weft_optim_step(&adam, s)) break;
        if (step % 50 == 0) printf("step %3d  loss %.4f\n", step, weft_scalar(loss));
    }

    make_batch(&rng, TEST, ids, labels);
    weft_graph_reset(g);
    weft_var *logits = forward(&m, g, ids, TEST);
    int right = 0;
    if (!weft_graph_failed(g))
        for (int b = 0; b < TEST; b++) {
            const float *z = weft_value(logits)->data + b * C;
            right += (z[1] > z[0]) == labels[b];
        }
    int rc = weft_graph_failed(g);
    if (rc) fprintf(stderr, "classify_majority: %s\n", weft_graph_error(g));
    else printf("test accuracy %.3f (%d of %d)\n", (double)right / TEST, right, TEST);
    weft_graph_free(g);
    weft_rnn_free(m.lstm);
    weft_params_free(s);
    return rc || right < TEST * 9 / 10;
}
