/* models/vectors/word2vec.c — skip-gram and CBOW trained as word2vec.c trains
 * them (weft/word2vec.h): vocabulary, Huffman tree, noise table, the Hogwild
 * training threads, and the same training on the tape. */
#include "weft/word2vec.h"

#include "models/vectors/w2v_kernels.h"
#include "src/internal.h"
#include "weft/graph.h"
#include "weft/ops.h"
#include "weft/optim.h"
#include "weft/params.h"

#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* --- names and defaults ----------------------------------------------------------------- */

weft_word2vec_options weft_word2vec_defaults(void)
{
    return (weft_word2vec_options){
        .model = WEFT_W2V_SKIPGRAM, .loss = WEFT_W2V_NS, .dim = 100, .window = 5,
        .negative = 5, .min_count = 5, .epochs = 5, .threads = 0, .sample = 1e-3f, .lr = 0,
        .seed = 1,
    };
}

const char *weft_w2v_model_name(weft_w2v_model m)
{
    return m == WEFT_W2V_CBOW ? "cbow" : "skipgram";
}

const char *weft_w2v_loss_name(weft_w2v_loss l)
{
    return l == WEFT_W2V_HS ? "hs" : l == WEFT_W2V_SOFTMAX ? "softmax" : "ns";
}

int weft_w2v_model_parse(const char *s, weft_w2v_model *out)
{
    if (strcmp(s, "skipgram") == 0 || strcmp(s, "skip-gram") == 0) *out = WEFT_W2V_SKIPGRAM;
    else if (strcmp(s, "cbow") == 0) *out = WEFT_W2V_CBOW;
    else return -1;
    return 0;
}

int weft_w2v_loss_parse(const char *s, weft_w2v_loss *out)
{
    if (strcmp(s, "ns") == 0) *out = WEFT_W2V_NS;
    else if (strcmp(s, "hs") == 0) *out = WEFT_W2V_HS;
    else if (strcmp(s, "softmax") == 0) *out = WEFT_W2V_SOFTMAX;
    else return -1;
    return 0;
}

int weft_w2v_which_parse(const char *s, weft_w2v_which *out)
{
    if (strcmp(s, "input") == 0) *out = WEFT_W2V_INPUT;
    else if (strcmp(s, "output") == 0) *out = WEFT_W2V_OUTPUT;
    else if (strcmp(s, "average") == 0) *out = WEFT_W2V_AVERAGE;
    else return -1;
    return 0;
}

double weft_word2vec_keep_probability(int64_t count, int64_t total, double sample)
{
    if (sample <= 0 || count <= 0) return 1.0;
    double t = sample * (double)total;
    double p = (sqrt((double)count / t) + 1) * t / (double)count;
    return p < 1 ? p : 1;
}

float weft_word2vec_lr_at(float lr, int64_t done, int64_t total)
{
    float a = lr * (1.0f - (float)done / (float)(total + 1));
    return a < lr * 1e-4f ? lr * 1e-4f : a;
}

/* --- building the model ------------------------------------------------------------------- */

void weft_word2vec_free(weft_word2vec *m)
{
    if (!m) return;
    weft_vocab_free(m->vocab);
    free(m->counts);
    free(m->text);
    weft_aligned_free(m->syn0);
    weft_aligned_free(m->syn1);
    free(m->codes);
    free(m->points);
    free(m->codelen);
    free(m->noise);
    free(m->exp_table);
    free(m);
}

/* word2vec's CreateBinaryTree: the counts are in decreasing order (but for
 * "</s>" at 0), so the two smallest of the leaves not yet merged and the inner
 * nodes made so far (which come out in increasing order) are found with two
 * cursors. Inner node a is V + a; its row in syn1 is a. */
static int build_huffman(weft_word2vec *m, char *err, size_t errsize)
{
    int V = m->vocab_size;
    int64_t *count = malloc((size_t)2 * V * sizeof *count);
    uint8_t *binary = calloc((size_t)2 * V, 1);
    int *parent = calloc((size_t)2 * V, sizeof *parent);
    m->codes = calloc((size_t)V * WEFT_W2V_MAX_CODE, 1);
    m->points = calloc((size_t)V * WEFT_W2V_MAX_CODE, sizeof *m->points);
    m->codelen = calloc((size_t)V, 1);
    int rc = -1;
    if (!count || !binary || !parent || !m->codes || !m->points || !m->codelen) {
        weft_say(err, errsize, "word2vec: out of memory for the Huffman tree");
        goto done;
    }
    for (int a = 0; a < V; a++) count[a] = m->counts[a];
    for (int a = V; a < 2 * V; a++) count[a] = INT64_MAX / 4;
    int pos1 = V - 1, pos2 = V;
    for (int a = 0; a < V - 1; a++) {
        int min[2];
        for (int k = 0; k < 2; k++) {
            if (pos1 >= 0 && count[pos1] < count[pos2]) min[k] = pos1--;
            else min[k] = pos2++;
        }
        count[V + a] = count[min[0]] + count[min[1]];
        parent[min[0]] = V + a;
        parent[min[1]] = V + a;
        binary[min[1]] = 1;
    }
    for (int a = 0; a < V; a++) {
        uint8_t code[WEFT_W2V_MAX_CODE];
        int point[WEFT_W2V_MAX_CODE];
        int i = 0;
        for (int b = a; b != 2 * V - 2; b = parent[b]) {
            if (i == WEFT_W2V_MAX_CODE) {
                weft_say(err, errsize, "word2vec: a Huffman code longer than %d bits",
                        WEFT_W2V_MAX_CODE);
                goto done;
            }
            code[i] = binary[b];
            point[i] = b;
            i++;
        }
        /* root first: the path's inner nodes are the parents of the nodes met */
        m->codelen[a] = (uint8_t)i;
        uint8_t *c = m->codes + (size_t)a * WEFT_W2V_MAX_CODE;
        int *p = m->points + (size_t)a * WEFT_W2V_MAX_CODE;
        p[0] = V - 2;
        for (int b = 0; b < i; b++) {
            c[i - b - 1] = code[b];
            if (i - b < WEFT_W2V_MAX_CODE && b > 0) p[i - b] = point[b] - V;
        }
    }
    rc = 0;
done:
    free(count);
    free(binary);
    free(parent);
    return rc;
}

/* word2vec's InitUnigramTable: word i fills a share count_i^0.75 / Σ count^0.75
 * of the table. */
static int build_noise(weft_word2vec *m, char *err, size_t errsize)
{
    int n = m->opt.noise_table_size > 0 ? m->opt.noise_table_size : WEFT_W2V_NOISE_TABLE;
    m->noise = malloc((size_t)n * sizeof *m->noise);
    if (!m->noise) {
        weft_say(err, errsize, "word2vec: out of memory for the noise table (%d entries)", n);
        return -1;
    }
    m->noise_size = n;
    double total = 0;
    for (int a = 0; a < m->vocab_size; a++) total += pow((double)m->counts[a], 0.75);
    int i = 0;
    double d1 = pow((double)m->counts[0], 0.75) / total;
    for (int a = 0; a < n; a++) {
        m->noise[a] = i;
        if (a / (double)n > d1 && i < m->vocab_size - 1) {
            i++;
            d1 += pow((double)m->counts[i], 0.75) / total;
        }
    }
    return 0;
}

/* Order of the vocabulary: decreasing count, ties by first appearance, "</s>" first. */
typedef struct vocab_entry {
    int64_t count;
    int first;       /* id in order of appearance */
} vocab_entry;

static int by_count(const void *pa, const void *pb)
{
    const vocab_entry *a = pa, *b = pb;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return a->first - b->first;
}

weft_word2vec *weft_word2vec_new(const weft_tokens *text, const weft_word2vec_options *opt,
                                 char *err, size_t errsize)
{
    if (opt->dim < 1 || opt->dim > WEFT_VECTORS_MAX_DIM || opt->window < 1 ||
        opt->negative < 0 || opt->negative > 63 || opt->epochs < 1 || opt->min_count < 1 || opt->sample < 0 ||
        opt->lr < 0 || opt->threads < 0 ||
        (opt->loss == WEFT_W2V_NS && opt->negative < 1)) {
        weft_say(err, errsize, "word2vec: an option is out of range (dim %d, window %d, "
                "negative %d, epochs %d, min-count %d, sample %g, lr %g)", opt->dim, opt->window,
                opt->negative, opt->epochs, opt->min_count, opt->sample, opt->lr);
        return NULL;
    }
    if (text->level != WEFT_TEXT_WORDS) {
        weft_say(err, errsize, "word2vec: the text must be read as words");
        return NULL;
    }
    weft_word2vec *m = calloc(1, sizeof *m);
    weft_vocab *all = weft_vocab_new();
    int *first_ids = malloc((text->count ? text->count : 1) * sizeof *first_ids);
    vocab_entry *ent = NULL;
    int64_t *cnt = NULL;
    int *remap = NULL;
    if (!m || !all || !first_ids) goto oom;
    m->opt = *opt;
    if (m->opt.lr == 0) m->opt.lr = opt->model == WEFT_W2V_CBOW ? 0.05f : 0.025f;
    m->dim = opt->dim;

    /* count: "</s>" is id 0 of the appearance order whatever comes first */
    if (weft_vocab_add(all, "</s>", 4) != 0) goto oom;
    int cap = 0;
    for (size_t k = 0; k < text->count; k++) {
        uint32_t len;
        const char *tok = weft_token(text, k, &len);
        /* a line end ("<eos>") is word2vec's "</s>" */
        int id = len == 5 && memcmp(tok, WEFT_EOS, 5) == 0 ? 0 : weft_vocab_add(all, tok, len);
        if (id < 0) goto oom;
        if (id >= cap) {
            int c = cap ? 2 * cap : 4096;
            int64_t *cc = realloc(cnt, (size_t)c * sizeof *cc);
            if (!cc) goto oom;
            memset(cc + cap, 0, (size_t)(c - cap) * sizeof *cc);
            cnt = cc;
            cap = c;
        }
        cnt[id]++;
        first_ids[k] = id;
    }
    int n_all = weft_vocab_size(all);
    if (cap == 0) {
        weft_say(err, errsize, "word2vec: the text is empty");
        goto fail;
    }
    ent = malloc((size_t)n_all * sizeof *ent);
    remap = malloc((size_t)n_all * sizeof *remap);
    if (!ent || !remap) goto oom;
    for (int i = 0; i < n_all; i++) ent[i] = (vocab_entry){ i < cap ? cnt[i] : 0, i };
    qsort(ent + 1, (size_t)(n_all - 1), sizeof *ent, by_count);
    int V = 0;
    for (int i = 0; i < n_all; i++) remap[i] = -1;
    for (int i = 0; i < n_all; i++)
        if (i == 0 || ent[i].count >= opt->min_count) remap[ent[i].first] = V++;
    if (V < 2) {
        weft_say(err, errsize, "word2vec: no word occurs %d times or more (--min-count)",
                opt->min_count);
        goto fail;
    }
    m->vocab_size = V;
    m->vocab = weft_vocab_new();
    m->counts = malloc((size_t)V * sizeof *m->counts);
    if (!m->vocab || !m->counts) goto oom;
    for (int i = 0; i < n_all; i++) {
        if (remap[ent[i].first] < 0) continue;
        const char *w = weft_vocab_token(all, ent[i].first);
        if (weft_vocab_add(m->vocab, w, strlen(w)) != remap[ent[i].first]) goto oom;
        m->counts[remap[ent[i].first]] = ent[i].count;
    }
    /* the text as ids of the vocabulary (words outside it left out, as word2vec reads it) */
    m->text = malloc((text->count ? text->count : 1) * sizeof *m->text);
    if (!m->text) goto oom;
    for (size_t k = 0; k < text->count; k++) {
        int id = remap[first_ids[k]];
        if (id >= 0) m->text[m->text_len++] = id;
    }
    m->train_words = (int64_t)m->text_len;

    /* vectors: input uniform in [-0.5/D, 0.5/D) from word2vec's generator, output 0 */
    size_t n = (size_t)V * (size_t)m->dim;
    m->syn0 = weft_aligned_alloc(n * sizeof *m->syn0);
    m->syn1 = weft_aligned_alloc(n * sizeof *m->syn1);
    m->exp_table = malloc((WEFT_W2V_EXP_TABLE + 1) * sizeof *m->exp_table);
    if (!m->syn0 || !m->syn1 || !m->exp_table) goto oom;
    uint64_t r = opt->seed;
    for (size_t i = 0; i < n; i++)
        m->syn0[i] = (((float)(w2v_next(&r) & 0xFFFF) / 65536.0f) - 0.5f) / (float)m->dim;
    memset(m->syn1, 0, n * sizeof *m->syn1);
    for (int i = 0; i <= WEFT_W2V_EXP_TABLE; i++) {
        double e = exp(((double)i / WEFT_W2V_EXP_TABLE * 2 - 1) * WEFT_W2V_MAX_EXP);
        m->exp_table[i] = (float)(e / (e + 1));
    }
    if (opt->loss == WEFT_W2V_HS && build_huffman(m, err, errsize)) goto fail;
    if (opt->loss == WEFT_W2V_NS && build_noise(m, err, errsize)) goto fail;
    weft_vocab_free(all);
    free(first_ids);
    free(ent);
    free(cnt);
    free(remap);
    return m;
oom:
    weft_say(err, errsize, "word2vec: out of memory");
fail:
    weft_word2vec_free(m);
    weft_vocab_free(all);
    free(first_ids);
    free(ent);
    free(cnt);
    free(remap);
    return NULL;
}

/* --- training ------------------------------------------------------------------------------ */

/* What the threads share: the words processed (for the learning rate and the
 * progress line) and the start time. */
typedef struct shared_state {
    int64_t words_done;      /* atomically added to */
    int64_t total;           /* epochs x train_words */
    int threads;
    double start;
    double last_print;
    bool tty;
} shared_state;

/* The random stream of thread tid. */
static uint64_t thread_seed(uint64_t seed, int tid)
{
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (uint64_t)(tid + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Keep probabilities as word2vec compares them: keep when p >= u, u uniform
 * in 16 bits. Above 1 for rare words (always kept). */
static float *keep_table(const weft_word2vec *m)
{
    float *keep = malloc((size_t)m->vocab_size * sizeof *keep);
    if (!keep) return NULL;
    double t = m->opt.sample * (double)m->train_words;
    for (int w = 0; w < m->vocab_size; w++)
        keep[w] = m->opt.sample > 0 ? (float)((sqrt(m->counts[w] / t) + 1) * t / m->counts[w])
                                    : 2.0f;
    return keep;
}

/* The next sentence of text[*pos .. end): up to "</s>" (not included) or
 * MAX_SENTENCE words, each kept with its keep probability. *word_count counts
 * every word read. Returns its length. */
static int read_sentence(const weft_word2vec *m, const float *keep, size_t *pos, size_t end,
                         int *sen, int64_t *word_count, uint64_t *rnd)
{
    int len = 0;
    while (*pos < end) {
        int w = m->text[(*pos)++];
        (*word_count)++;
        if (w == 0) break;
        if (keep[w] < 2.0f && keep[w] < (float)(w2v_next(rnd) & 0xFFFF) / 65536.0f) continue;
        sen[len++] = w;
        if (len >= WEFT_W2V_MAX_SENTENCE) break;
    }
    return len;
}

static void print_progress(const weft_word2vec *m, shared_state *sh, float alpha, bool last)
{
    FILE *f = m->opt.progress;
    double t = now() - sh->start;
    int64_t done = __atomic_load_n(&sh->words_done, __ATOMIC_RELAXED);
    double frac = (double)done / (double)sh->total;
    double wps = t > 0 ? (double)done / t / sh->threads : 0;
    double eta = done > 0 ? t * (1 - frac) / frac : 0;
    if (!sh->tty && !last && t - sh->last_print < 10) return;
    sh->last_print = t;
    fprintf(f, "%sprogress %5.1f%%  lr %.6f  words/s/thread %.1fk  elapsed %.1fs  ETA %d:%02d%s",
            sh->tty ? "\r" : "", 100 * frac, alpha, wps / 1000, t, (int)eta / 60, (int)eta % 60,
            sh->tty && !last ? "" : "\n");
    fflush(f);
}

/* Scratch of one thread. */
typedef struct thread_buf {
    float *neu1, *neu1e;     /* [D]: CBOW's input; the step for the input vectors */
    float *scratch;          /* [V]: the softmax's scores */
    int sen[WEFT_W2V_MAX_SENTENCE];
    int targets[64];         /* NS: the word and its noise words */
} thread_buf;

/* The output-side step of one pair (input h, predicted word `word`): adds the
 * step for h into e. */
static inline void pair_update(const weft_word2vec *m, const float *h, float *e, int word,
                               float alpha, uint64_t *rnd, thread_buf *b,
                               const float *exp_table)
{
    const int D = m->dim;
    switch (m->opt.loss) {
    case WEFT_W2V_NS: {
        int n = 0;
        b->targets[n++] = word;
        for (int d = 0; d < m->opt.negative; d++) {
            uint64_t r = w2v_next(rnd);
            int t = m->noise[(r >> 16) % (uint64_t)m->noise_size];
            if (t == 0) t = (int)(r % (uint64_t)(m->vocab_size - 1)) + 1;
            if (t == word) continue;
            b->targets[n++] = t;
        }
        w2v_ns_update(h, e, m->syn1, b->targets, n, D, alpha, exp_table);
        break;
    }
    case WEFT_W2V_HS:
        w2v_hs_update(h, e, m->syn1, m->points + (size_t)word * WEFT_W2V_MAX_CODE,
                      m->codes + (size_t)word * WEFT_W2V_MAX_CODE, m->codelen[word], D, alpha,
                      exp_table);
        break;
    case WEFT_W2V_SOFTMAX:
        w2v_softmax_update(h, e, m->syn1, m->vocab_size, word, D, alpha, b->scratch);
        break;
    }
}

/* One thread's share: every epoch over its slice of the text (word2vec's
 * TrainModelThread). Checks the stop flag and the learning rate every 10000
 * words. */
static void train_thread(weft_word2vec *m, shared_state *sh, const float *keep, int tid,
                         int nthreads, thread_buf *b)
{
    const int D = m->dim, W = m->opt.window;
    const float *exp_table = m->opt.exact_sigmoid ? NULL : m->exp_table;
    const size_t begin = m->text_len * (size_t)tid / (size_t)nthreads;
    const size_t end = m->text_len * (size_t)(tid + 1) / (size_t)nthreads;
    uint64_t rnd = thread_seed(m->opt.seed, tid);
    int64_t word_count = 0, last_word_count = 0;
    float alpha = m->opt.lr;
    for (int epoch = 0; epoch < m->opt.epochs; epoch++) {
        size_t pos = begin;
        while (pos < end) {
            if (word_count - last_word_count > 10000) {
                int64_t done = __atomic_add_fetch(&sh->words_done, word_count - last_word_count,
                                                  __ATOMIC_RELAXED);
                last_word_count = word_count;
                alpha = weft_word2vec_lr_at(m->opt.lr, done, sh->total);
                if (m->opt.stop && *m->opt.stop) return;
                if (tid == 0 && m->opt.progress && now() - sh->last_print > 0.5)
                    print_progress(m, sh, alpha, false);
            }
            int len = read_sentence(m, keep, &pos, end, b->sen, &word_count, &rnd);
            for (int sp = 0; sp < len; sp++) {
                int word = b->sen[sp];
                int shrink = (int)(w2v_next(&rnd) % (uint64_t)W);
                int lo = sp - W + shrink, hi = sp + W - shrink;
                if (lo < 0) lo = 0;
                if (hi > len - 1) hi = len - 1;
                if (m->opt.model == WEFT_W2V_CBOW) {
                    memset(b->neu1, 0, (size_t)D * sizeof *b->neu1);
                    memset(b->neu1e, 0, (size_t)D * sizeof *b->neu1e);
                    int cw = 0;
                    for (int c = lo; c <= hi; c++) {
                        if (c == sp) continue;
                        w2v_axpy(b->neu1, 1.0f, m->syn0 + (size_t)b->sen[c] * D, D);
                        cw++;
                    }
                    if (cw == 0) continue;
                    if (!m->opt.cbow_sum)
                        for (int j = 0; j < D; j++) b->neu1[j] /= (float)cw;
                    pair_update(m, b->neu1, b->neu1e, word, alpha, &rnd, b, exp_table);
                    for (int c = lo; c <= hi; c++) {
                        if (c == sp) continue;
                        w2v_axpy(m->syn0 + (size_t)b->sen[c] * D, 1.0f, b->neu1e, D);
                    }
                } else {
                    for (int c = lo; c <= hi; c++) {
                        if (c == sp) continue;
                        float *l1 = m->syn0 + (size_t)b->sen[c] * D;
                        memset(b->neu1e, 0, (size_t)D * sizeof *b->neu1e);
                        pair_update(m, l1, b->neu1e, word, alpha, &rnd, b, exp_table);
                        w2v_axpy(l1, 1.0f, b->neu1e, D);
                    }
                }
            }
        }
    }
    __atomic_add_fetch(&sh->words_done, word_count - last_word_count, __ATOMIC_RELAXED);
}

int weft_word2vec_train(weft_word2vec *m, char *err, size_t errsize)
{
    int nthreads = m->opt.threads > 0 ? m->opt.threads : omp_get_max_threads();
    if ((size_t)nthreads > m->text_len) nthreads = m->text_len > 0 ? (int)m->text_len : 1;
    float *keep = keep_table(m);
    thread_buf *bufs = calloc((size_t)nthreads, sizeof *bufs);
    bool ok = keep && bufs;
    for (int t = 0; ok && t < nthreads; t++) {
        bufs[t].neu1 = weft_aligned_alloc((size_t)m->dim * sizeof(float));
        bufs[t].neu1e = weft_aligned_alloc((size_t)m->dim * sizeof(float));
        bufs[t].scratch = m->opt.loss == WEFT_W2V_SOFTMAX
                              ? malloc((size_t)m->vocab_size * sizeof(float))
                              : NULL;
        ok = bufs[t].neu1 && bufs[t].neu1e &&
             (m->opt.loss != WEFT_W2V_SOFTMAX || bufs[t].scratch);
    }
    if (ok) {
        shared_state sh = { .total = (int64_t)m->opt.epochs * m->train_words,
                            .threads = nthreads, .start = now(), .last_print = 0,
                            .tty = m->opt.progress && isatty(fileno(m->opt.progress)) };
#pragma omp parallel num_threads(nthreads)
        train_thread(m, &sh, keep, omp_get_thread_num(), nthreads, &bufs[omp_get_thread_num()]);
        m->words_done += sh.words_done;
        m->interrupted = m->opt.stop && *m->opt.stop;
        if (m->opt.progress)
            print_progress(m, &sh, weft_word2vec_lr_at(m->opt.lr, sh.words_done, sh.total), true);
    } else {
        weft_say(err, errsize, "word2vec: out of memory for the training threads");
    }
    for (int t = 0; bufs && t < nthreads; t++) {
        weft_aligned_free(bufs[t].neu1);
        weft_aligned_free(bufs[t].neu1e);
        free(bufs[t].scratch);
    }
    free(bufs);
    free(keep);
    return ok ? 0 : -1;
}

/* --- the same model on the tape ---------------------------------------------------------------- */

int weft_word2vec_train_tape(weft_word2vec *m, char *err, size_t errsize)
{
    if (m->opt.model != WEFT_W2V_SKIPGRAM || m->opt.loss != WEFT_W2V_SOFTMAX) {
        weft_say(err, errsize, "word2vec: the tape model is skip-gram with --loss softmax");
        return -1;
    }
    const int D = m->dim, V = m->vocab_size, W = m->opt.window;
    weft_params *params = weft_params_new();
    weft_graph *g = weft_graph_new();
    float *keep = keep_table(m);
    int *sen = malloc(WEFT_W2V_MAX_SENTENCE * sizeof *sen);
    int rc = -1;
    if (!params || !g || !keep || !sen) {
        weft_say(err, errsize, "word2vec: out of memory");
        goto done;
    }
    /* input.weight: the rows v_c; output.weight: the rows u_j (weft_linear's [out, in]) */
    weft_param *in = weft_params_add(params, "input.weight", 2, (int[]){ V, D });
    weft_param *out = weft_params_add(params, "output.weight", 2, (int[]){ V, D });
    if (!in || !out) {
        weft_say(err, errsize, "word2vec: %s", weft_params_error(params));
        goto done;
    }
    memcpy(in->value.data, m->syn0, (size_t)V * D * sizeof(float));
    memcpy(out->value.data, m->syn1, (size_t)V * D * sizeof(float));
    weft_optim sgd = weft_optim_sgd(m->opt.lr);

    /* the loop of train_thread with one thread: the same draws in the same order */
    uint64_t rnd = thread_seed(m->opt.seed, 0);
    int64_t total = (int64_t)m->opt.epochs * m->train_words, done_words = 0;
    int64_t word_count = 0, last_word_count = 0;
    float alpha = m->opt.lr;
    for (int epoch = 0; epoch < m->opt.epochs; epoch++) {
        size_t pos = 0;
        while (pos < m->text_len) {
            if (word_count - last_word_count > 10000) {
                done_words += word_count - last_word_count;
                last_word_count = word_count;
                alpha = weft_word2vec_lr_at(m->opt.lr, done_words, total);
            }
            int len = read_sentence(m, keep, &pos, m->text_len, sen, &word_count, &rnd);
            for (int sp = 0; sp < len; sp++) {
                int word = sen[sp];
                int shrink = (int)(w2v_next(&rnd) % (uint64_t)W);
                int lo = sp - W + shrink, hi = sp + W - shrink;
                if (lo < 0) lo = 0;
                if (hi > len - 1) hi = len - 1;
                for (int c = lo; c <= hi; c++) {
                    if (c == sp) continue;
                    /* L = cross_entropy(linear(embedding(v, c), U), word); one SGD step */
                    weft_graph_reset(g);
                    weft_var *h = weft_embedding(g, weft_param_var(g, in), &sen[c], 1);
                    weft_var *logits = weft_linear(g, h, weft_param_var(g, out), NULL);
                    weft_var *loss = weft_cross_entropy(g, logits, &word, NULL);
                    weft_params_zero_grad(params);
                    if (weft_graph_failed(g) || weft_backward(g, loss)) {
                        weft_say(err, errsize, "word2vec: tape: %s", weft_graph_error(g));
                        goto done;
                    }
                    sgd.lr = alpha;
                    if (weft_optim_step(&sgd, params)) {
                        weft_say(err, errsize, "word2vec: tape: the SGD step failed");
                        goto done;
                    }
                }
            }
        }
    }
    done_words += word_count - last_word_count;
    m->words_done += done_words;
    memcpy(m->syn0, in->value.data, (size_t)V * D * sizeof(float));
    memcpy(m->syn1, out->value.data, (size_t)V * D * sizeof(float));
    rc = 0;
done:
    free(sen);
    free(keep);
    weft_graph_free(g);
    weft_params_free(params);
    return rc;
}

/* --- handing out the vectors ---------------------------------------------------------------------- */

weft_vectors *weft_word2vec_vectors(const weft_word2vec *m, weft_w2v_which which, char *err,
                                    size_t errsize)
{
    if (which != WEFT_W2V_INPUT && m->opt.loss == WEFT_W2V_HS) {
        weft_say(err, errsize, "word2vec: a hierarchical-softmax model has no output vector per "
                "word (its output vectors are the tree's inner nodes): write the input vectors");
        return NULL;
    }
    const int V = m->vocab_size, D = m->dim;
    const char **words = malloc((size_t)V * sizeof *words);
    float *data = malloc((size_t)V * D * sizeof *data);
    weft_vectors *v = NULL;
    if (words && data) {
        for (int i = 0; i < V; i++) words[i] = weft_vocab_token(m->vocab, i);
        for (size_t i = 0; i < (size_t)V * D; i++)
            data[i] = which == WEFT_W2V_INPUT    ? m->syn0[i]
                      : which == WEFT_W2V_OUTPUT ? m->syn1[i]
                                                 : 0.5f * (m->syn0[i] + m->syn1[i]);
        v = weft_vectors_from(words, data, V, D, err, errsize);
    } else {
        weft_say(err, errsize, "word2vec: out of memory");
    }
    free(words);
    free(data);
    return v;
}
