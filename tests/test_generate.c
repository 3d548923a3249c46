/* tests/test_generate.c — a token at a time (weft_lm_next, weft_rnn_step):
 * generation driven from C, reading the start token, the prime and then each
 * drawn token in one call each, gives `weft sample`'s text token for token and
 * weft_lm_sample's ids, for built-in cells and for the mgu plugin
 * (examples/mgu.c, argv[1]), word and character models, and B streams at
 * once (weft_lm_sample's batch, `weft sample --batch`) give each stream the
 * text its seed gives alone; weft_rnn_step T times
 * gives weft_unroll's outputs and final states over the T steps; bad input is
 * an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"
#include "cli_text.h"
#include "lm_text.h"

static const char *mgu_path;
static char err[1024];

static const char *TEXT =
    "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n"
    "on the mat the cat ate\n";

/* A model over TEXT's tokens, its parameters drawn from seed 11, saved to path. */
static weft_lm *make_model(weft_text_level level, const char *cell, int layers, const char *path)
{
    weft_lm_config cfg = { .level = level, .layers = layers, .hidden = 12, .embed = 12 };
    snprintf(cfg.cell, sizeof cfg.cell, "%s", cell);
    weft_lm *m = weft_lm_new(&cfg, test_vocab_of(TEXT, level), err, sizeof err);
    if (!m) fail_msg("%s", err);
    weft_rng rng;
    weft_rng_seed(&rng, 11);
    assert_int_equal(weft_lm_init(m, &rng, 0.0f), 0);
    /* wider logits than a fresh model's, so that the draws are not nearly uniform */
    for (int i = 0; i < (int)m->decoder_bias->value.size; i++)
        m->decoder_bias->value.data[i] = 2.0f * weft_rng_normal(&rng);
    if (weft_lm_save(m, path, err, sizeof err)) fail_msg("%s", err);
    return m;
}

/* The generation loop of weft/lm.h's comment: the start token, the prime, then
 * `length` drawn tokens, one weft_lm_next each. out: length ids. */
static void generate(weft_lm *m, const int *prime, int n_prime, int length, float temperature,
                     uint64_t seed, int *out)
{
    int V = m->vocab_size;
    float *logits = malloc((size_t)V * sizeof *logits);
    weft_lm_scored *buf = malloc((size_t)V * sizeof *buf);
    weft_graph *g = weft_graph_new();
    weft_rng rng;
    weft_rng_seed(&rng, seed);
    weft_state h = { 0 };
    int id = weft_lm_start_id(m);
    for (int k = 0; k < n_prime + length; k++) {
        if (weft_lm_next(m, g, id, &h, logits, err, sizeof err)) fail_msg("%s", err);
        weft_lm_sampling how = { .temperature = temperature };
        id = k < n_prime ? prime[k] : weft_lm_draw(logits, V, &how, buf, &rng);
        if (k >= n_prime) out[k - n_prime] = id;
    }
    weft_state_free(&h);
    weft_graph_free(g);
    free(buf);
    free(logits);
}

/* What `weft sample` prints for those ids: the prime, the text, a final newline. */
static char *as_printed(weft_lm *m, const char *prime, const int *ids, int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    fputs(prime, f);
    size_t plen = strlen(prime);
    assert_int_equal(weft_lm_write_text(m, ids, n, plen == 0 || prime[plen - 1] == '\n', f), 0);
    const char *last = weft_vocab_token(m->vocab, ids[n - 1]);
    if (strcmp(last, "\n") != 0 && strcmp(last, "<eos>") != 0) fputc('\n', f);
    fclose(f);
    return text;
}

/* One model: the C loop against weft_lm_sample (ids) and `weft sample` (text). */
static void check_generation(weft_text_level level, const char *cell, int layers,
                             const char *prime_text)
{
    char path[] = "/tmp/weft-generate-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    weft_lm *m = make_model(level, cell, layers, path);
    int *prime = NULL, n_prime = 0;
    if (weft_lm_encode_text(m, prime_text, &prime, &n_prime, err, sizeof err)) fail_msg("%s", err);
    enum { LENGTH = 60 };
    int ours[LENGTH], lib[LENGTH];
    generate(m, prime, n_prime, LENGTH, 0.9f, 5, ours);

    weft_graph *g = weft_graph_new();
    weft_lm_sample_opts o = { .prime = prime, .n_prime = n_prime, .length = LENGTH,
                              .temperature = 0.9f, .seed = 5 };
    assert_int_equal(weft_lm_sample(m, g, &o, lib, err, sizeof err), 0);
    weft_graph_free(g);
    assert_memory_equal(ours, lib, sizeof ours);

    const char *exe = getenv("WEFT_EXE");
    assert_non_null(exe);
    char allow[1100] = "";
    if (strchr(cell, '/')) snprintf(allow, sizeof allow, "--allow-plugin '%s'", cell);
    weft_test_output *r = weft_test_run(exe, NULL,
        "--quiet sample --model '%s' %s --prime '%s' --tokens %d --temperature 0.9 --seed 5",
        path, allow, prime_text, LENGTH);
    if (r->status != 0) fail_msg("weft sample: %s", r->err);
    char *want = as_printed(m, prime_text, ours, LENGTH);
    assert_string_equal(r->out, want);
    /* a different seed draws a different text: the comparison can fail */
    int other[LENGTH];
    generate(m, prime, n_prime, LENGTH, 0.9f, 6, other);
    assert_memory_not_equal(ours, other, sizeof ours);

    /* three streams at once: stream b is the C loop's text for seed 5 + b,
     * through the library and through `weft sample --batch 3` */
    enum { STREAMS = 3 };
    int batched[STREAMS * LENGTH], alone[LENGTH];
    g = weft_graph_new();
    o.batch = STREAMS;
    assert_int_equal(weft_lm_sample(m, g, &o, batched, err, sizeof err), 0);
    weft_graph_free(g);
    char *blocks = NULL;
    size_t blocks_len = 0;
    FILE *f = open_memstream(&blocks, &blocks_len);
    for (int b = 0; b < STREAMS; b++) {
        generate(m, prime, n_prime, LENGTH, 0.9f, 5 + (uint64_t)b, alone);
        assert_memory_equal(batched + b * LENGTH, alone, sizeof alone);
        char *text = as_printed(m, prime_text, alone, LENGTH);
        fprintf(f, "# sample %d (seed %d)\n%s", b + 1, 5 + b, text);
        free(text);
    }
    fclose(f);
    weft_test_output *rb = weft_test_run(exe, NULL,
        "--quiet sample --model '%s' %s --prime '%s' --length %d --temperature 0.9 --seed 5 "
        "--batch %d", path, allow, prime_text, LENGTH, STREAMS);
    if (rb->status != 0) fail_msg("weft sample --batch: %s", rb->err);
    assert_string_equal(rb->out, blocks);
    free(blocks);
    free(want);
    free(prime);
    weft_lm_free(m);
    unlink(path);
}

static void words_lstm_matches_weft_sample(void **state)
{
    (void)state;
    check_generation(WEFT_TEXT_WORDS, "lstm", 2, "the cat");
}

static void chars_gru_matches_weft_sample(void **state)
{
    (void)state;
    check_generation(WEFT_TEXT_CHARS, "gru", 1, "the ");
}

static void chars_plugin_matches_weft_sample(void **state)
{
    (void)state;
    assert_int_equal(weft_cell_plugin_allow(mgu_path, err, sizeof err), 0);
    check_generation(WEFT_TEXT_CHARS, mgu_path, 2, "a d");
    check_generation(WEFT_TEXT_WORDS, mgu_path, 1, "");
}

/* An id outside the vocabulary: an error naming it, the state as it was. */
static void next_refuses_a_bad_id(void **state)
{
    (void)state;
    char path[] = "/tmp/weft-generate-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    weft_lm *m = make_model(WEFT_TEXT_WORDS, "gru", 1, path);
    weft_graph *g = weft_graph_new();
    weft_state h = { 0 };
    float *logits = malloc((size_t)m->vocab_size * sizeof *logits);
    assert_int_equal(weft_lm_next(m, g, 0, &h, logits, err, sizeof err), 0);
    assert_int_equal(h.n, 1);
    float before = h.t[0].data[0];
    assert_int_equal(weft_lm_next(m, g, m->vocab_size, &h, logits, err, sizeof err), -1);
    assert_non_null(strstr(err, "id"));
    assert_int_equal(h.n, 1);
    assert_true(h.t[0].data[0] == before);
    free(logits);
    weft_state_free(&h);
    weft_graph_free(g);
    weft_lm_free(m);
    unlink(path);
}

/* weft_rnn_step T times from zeros: the outputs and final states of one
 * weft_unroll over the T steps (2 layers, B = 3), to 1e-6, for a built-in
 * cell and the plugin; a bidirectional model refused. */
static void check_rnn_steps(const weft_cell_type *cell)
{
    enum { T = 6, B = 3, I = 4, H = 5 };
    weft_params *s = weft_params_new();
    weft_rng rng;
    weft_rng_seed(&rng, 9);
    weft_rnn_config cfg = { .cell = cell, .input_size = I, .hidden_size = H, .num_layers = 2,
                            .prefix = "rnn." };
    weft_rnn *r = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
    if (!r) fail_msg("%s", err);
    float x[T * B * I];
    for (int i = 0; i < T * B * I; i++) x[i] = weft_rng_normal(&rng);

    weft_graph *g = weft_graph_new();
    weft_var *xs = weft_input_zeros(g, 3, (int[]){ T, B, I }, "x", false);
    memcpy(xs->value.data, x, sizeof x);
    weft_rnn_out o;
    assert_int_equal(weft_unroll(g, r, xs, NULL, &o), 0);

    weft_graph *g1 = weft_graph_new();
    weft_state h = { 0 };
    float out[B * H];
    for (int t = 0; t < T; t++) {
        if (weft_rnn_step(r, g1, x + t * B * I, B, &h, out, err, sizeof err)) fail_msg("%s", err);
        for (int k = 0; k < B * H; k++)
            assert_float_equal(out[k], weft_value(o.steps[t])->data[k], 1e-6);
    }
    assert_int_equal(h.n, o.n_final);
    for (int i = 0; i < h.n; i++)
        for (int k = 0; k < B * H; k++)
            assert_float_equal(h.t[i].data[k], weft_value(o.final[i])->data[k], 1e-6);
    weft_state_free(&h);
    weft_rnn_free(r);

    cfg.bidirectional = true;
    cfg.prefix = "bi.";
    r = weft_rnn_new(s, &cfg, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(weft_rnn_step(r, g1, x, B, &h, out, err, sizeof err), -1);
    assert_non_null(strstr(err, "bidirectional"));
    weft_rnn_free(r);
    weft_graph_free(g1);
    weft_graph_free(g);
    weft_params_free(s);
}

static void rnn_step_matches_unroll(void **state)
{
    (void)state;
    check_rnn_steps(weft_cell_find("lstm"));
    void *handle = NULL;
    const weft_cell_type *mgu = weft_cell_plugin_open(mgu_path, &handle, err, sizeof err);
    if (!mgu) fail_msg("%s", err);
    check_rnn_steps(mgu);
    weft_cell_plugin_close(handle);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_generate MGU_PLUGIN.so\n");
        return 1;
    }
    mgu_path = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(words_lstm_matches_weft_sample),
        cmocka_unit_test(chars_gru_matches_weft_sample),
        cmocka_unit_test(chars_plugin_matches_weft_sample),
        cmocka_unit_test(next_refuses_a_bad_id),
        cmocka_unit_test(rnn_step_matches_unroll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
