/* models/seq2seq/seq2seq_internal.h — the encoder-decoder's struct, shared by
 * the files of models/seq2seq/. Private to models/. */
#ifndef WEFT_SEQ2SEQ_INTERNAL_H
#define WEFT_SEQ2SEQ_INTERNAL_H

#include "weft/rnn.h"
#include "weft/seq2seq.h"

struct weft_seq2seq {
    weft_seq2seq_config cfg;
    const weft_cell_type *enc_type, *dec_type;
    void *plugin_handles[2];          /* loaded plugins the model owns (weft_seq2seq_load) */
    weft_params *params;
    weft_vocab *src_vocab, *tgt_vocab;
    int V_src, V_tgt;
    weft_param *src_emb, *tgt_emb;    /* [V, E] */
    weft_rnn *encoder;
    weft_cell dec[WEFT_S2S_MAX_LAYERS];
    weft_param *bridge_W[WEFT_S2S_MAX_LAYERS * 4], *bridge_b[WEFT_S2S_MAX_LAYERS * 4];
    weft_attention att;
    weft_param *att_out;              /* W_c [H, K + H] */
    weft_param *out_W, *out_b;        /* [V, H] (NULL when tied: tgt_emb), [V] */
};

/* The model's "weft.config" JSON (malloc'd; NULL when out of memory). */
char *weft_seq2seq_config_json(const weft_seq2seq *m);

#endif
