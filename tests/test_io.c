/* tests/test_io.c — safetensors checkpoints: round trips, a file made by
 * Python, and every kind of bad file rejected with the store untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "weft/io.h"
#include "weft/rng.h"

static char dir[64];               /* a fresh folder for this run's files */
static const char *golden_dir = "tests/golden";
static char err[1024];

static const char *path_in(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

/* --- helpers ------------------------------------------------------------------- */

/* A small model's store: the names and shapes of a 1-layer LSTM LM. */
static weft_params *lm_store(void)
{
    weft_params *s = weft_params_new();
    assert_non_null(weft_params_add(s, "encoder.weight", 2, (int[]){ 7, 3 }));
    assert_non_null(weft_params_add(s, "rnn.weight_ih_l0", 2, (int[]){ 16, 3 }));
    assert_non_null(weft_params_add(s, "rnn.weight_hh_l0", 2, (int[]){ 16, 4 }));
    assert_non_null(weft_params_add(s, "rnn.bias_ih_l0", 1, (int[]){ 16 }));
    assert_non_null(weft_params_add(s, "rnn.bias_hh_l0", 1, (int[]){ 16 }));
    assert_non_null(weft_params_add(s, "decoder.weight", 2, (int[]){ 7, 4 }));
    assert_non_null(weft_params_add(s, "decoder.bias", 1, (int[]){ 7 }));
    assert_non_null(weft_params_add(s, "extra.rank4", 4, (int[]){ 2, 1, 3, 2 }));
    return s;
}

/* Random values, plus the awkward ones (-0, a subnormal, infinities, a NaN
   with a payload) that a bit-exact round trip must keep. */
static void fill_values(weft_params *s, uint64_t seed)
{
    weft_rng r;
    weft_rng_seed(&r, seed);
    for (int i = 0; i < weft_params_count(s); i++) {
        weft_param *p = weft_params_at(s, i);
        weft_rng_fill_normal(&r, &p->value, 0.0f, 1.0f);
    }
    float *e = weft_params_find(s, "encoder.weight")->value.data;
    uint32_t nan_bits = 0x7fc01234u;
    e[0] = -0.0f;
    e[1] = 1e-45f;
    e[2] = INFINITY;
    e[3] = -INFINITY;
    memcpy(&e[4], &nan_bits, 4);
}

/* A copy of every value (padding included) for "unchanged" checks. */
static float *snapshot(weft_params *s)
{
    size_t bytes = weft_params_span(s) * sizeof(float);
    float *copy = malloc(bytes);
    assert_non_null(copy);
    memcpy(copy, weft_params_values(s), bytes);
    return copy;
}

static void assert_unchanged(weft_params *s, const float *before)
{
    assert_memory_equal(weft_params_values(s), before, weft_params_span(s) * sizeof(float));
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

/* A file with this header text (padded to 8) and `data` bytes of 0x3f. */
static void write_raw(const char *path, const char *header, size_t data)
{
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char *buf = malloc(8 + padded + data);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, len);
    memset(buf + 8 + len, ' ', padded - len);
    memset(buf + 8 + padded, 0x3f, data);
    write_bytes(path, buf, 8 + padded + data);
    free(buf);
}

/* Loading `path` into a store of one "a" [2] must fail, leave it alone, and
   say something containing `want` (and the file's name). */
static void assert_rejected_a2(const char *path, const char *want)
{
    weft_params *s = weft_params_new();
    weft_param *a = weft_params_add(s, "a", 1, (int[]){ 2 });
    a->value.data[0] = 1.5f;
    a->value.data[1] = -2.5f;
    err[0] = '\0';
    int rc = weft_checkpoint_load(path, s, 0, err, sizeof err);
    if (rc != -1 || !strstr(err, want) || !strstr(err, path)) {
        print_error("loading %s: rc %d, message \"%s\", wanted one with \"%s\"\n", path, rc, err,
                    want);
        fail();
    }
    assert_float_equal(a->value.data[0], 1.5, 0);
    assert_float_equal(a->value.data[1], -2.5, 0);
    weft_params_free(s);
}

static int save_lm(const char *path, weft_params *s)
{
    const weft_meta_kv meta[] = {
        { "weft.config", "{\"task\":\"lm\",\"cell\":\"lstm\",\"layers\":1,\"hidden\":4}" },
        { "weft.vocab", "[\"<unk>\",\"<eos>\",\"caf\xc3\xa9\",\"\\\"q\\\"\",\"a\\\\b\",\"\\n\",\"x\"]" },
        { "empty", "" },
    };
    return weft_checkpoint_save(path, s, meta, 3, err, sizeof err);
}

/* No temporary file left behind in dir. */
static void assert_no_temp_files(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) {
            print_error("temporary file left behind: %s\n", e->d_name);
            fail();
        }
    closedir(d);
}

/* --- round trips ------------------------------------------------------------------ */

static void round_trip_is_bit_identical(void **state)
{
    (void)state;
    weft_params *a = lm_store(), *b = lm_store();
    fill_values(a, 1);
    fill_values(b, 2);
    const char *path = path_in("lm.safetensors");
    assert_int_equal(save_lm(path, a), 0);
    assert_int_equal(weft_checkpoint_load(path, b, WEFT_LOAD_ALLOW_NONFINITE, err, sizeof err), 0);
    assert_memory_equal(weft_params_values(a), weft_params_values(b),
                        weft_params_span(a) * sizeof(float));

    /* the layout: header length a multiple of 8, data right after, nothing more */
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | bytes[i];
    assert_int_equal(header % 8, 0);
    assert_int_equal(bytes[8], '{');
    assert_int_equal(n, 8 + header + weft_params_numel(a) * sizeof(float));
    /* the first tensor's first float starts the data section, little-endian */
    float first;
    unsigned char le[4];
    memcpy(le, bytes + 8 + header, 4);
    uint32_t bits = (uint32_t)le[0] | (uint32_t)le[1] << 8 | (uint32_t)le[2] << 16 |
                    (uint32_t)le[3] << 24;
    memcpy(&first, &bits, 4);
    assert_true(first == 0.0f && signbit(first));   /* -0 */
    free(bytes);
    assert_no_temp_files();
    weft_params_free(a);
    weft_params_free(b);
}

static void metadata_and_listing(void **state)
{
    (void)state;
    weft_params *s = lm_store();
    fill_values(s, 3);
    const char *path = path_in("meta.safetensors");
    assert_int_equal(save_lm(path, s), 0);

    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(path, &c, err, sizeof err), 0);
    assert_int_equal(c.n_meta, 3);
    assert_string_equal(weft_checkpoint_meta(&c, "weft.config"),
                        "{\"task\":\"lm\",\"cell\":\"lstm\",\"layers\":1,\"hidden\":4}");
    assert_string_equal(weft_checkpoint_meta(&c, "weft.vocab"),
                        "[\"<unk>\",\"<eos>\",\"caf\xc3\xa9\",\"\\\"q\\\"\",\"a\\\\b\",\"\\n\",\"x\"]");
    assert_string_equal(weft_checkpoint_meta(&c, "empty"), "");
    assert_null(weft_checkpoint_meta(&c, "nope"));

    /* every parameter listed with its shape; by offset, contiguous */
    assert_int_equal(c.n_tensors, weft_params_count(s));
    uint64_t at = 0;
    for (int i = 0; i < c.n_tensors; i++) {
        const weft_checkpoint_tensor *t = &c.tensors[i];
        weft_param *p = weft_params_find(s, t->name);
        assert_non_null(p);
        assert_string_equal(t->dtype, "F32");
        assert_int_equal(t->rank, p->value.rank);
        for (int d = 0; d < t->rank; d++) assert_int_equal(t->shape[d], p->value.shape[d]);
        assert_int_equal(t->begin, at);
        assert_int_equal(t->end - t->begin, p->value.size * 4);
        at = t->end;
    }
    assert_int_equal(at, c.data_bytes);
    const weft_checkpoint_tensor *t = weft_checkpoint_find(&c, "extra.rank4");
    assert_non_null(t);
    assert_int_equal(t->rank, 4);
    assert_int_equal(t->shape[2], 3);
    weft_checkpoint_free(&c);
    weft_checkpoint_free(&c);        /* freeing twice is harmless */

    /* a store with no metadata: none comes back */
    assert_int_equal(weft_checkpoint_save(path, s, NULL, 0, err, sizeof err), 0);
    assert_int_equal(weft_checkpoint_read(path, &c, err, sizeof err), 0);
    assert_int_equal(c.n_meta, 0);
    assert_int_equal(c.n_tensors, weft_params_count(s));
    weft_checkpoint_free(&c);
    weft_params_free(s);
}

static void general_tensor_form(void **state)
{
    (void)state;
    /* optimizer state as tensors: views of a state slot, saved and loaded by name */
    weft_params *s = lm_store();
    float *slot = weft_params_state(s, 0);
    for (size_t i = 0; i < weft_params_span(s); i++) slot[i] = (float)i * 0.5f;
    int n = weft_params_count(s);
    const char *names[16];
    weft_tensor views[16], back[16];
    for (int i = 0; i < n; i++) {
        weft_param *p = weft_params_at(s, i);
        names[i] = p->name;
        views[i] = weft_tensor_wrap(slot + p->offset, p->value.rank, p->value.shape);
        back[i] = weft_tensor_alloc(p->value.rank, p->value.shape);
    }
    const weft_meta_kv meta[] = { { "weft.optim.step", "12" } };
    const char *path = path_in("optim.safetensors");
    assert_int_equal(weft_checkpoint_save_tensors(path, n, names, views, meta, 1, err,
                                                  sizeof err), 0);
    assert_int_equal(weft_checkpoint_load_tensors(path, n, names, back, 0, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        assert_memory_equal(back[i].data, views[i].data, views[i].size * sizeof(float));
        weft_tensor_release(&back[i]);
    }
    /* a name given twice is refused before anything is written */
    names[1] = names[0];
    assert_int_equal(weft_checkpoint_save_tensors(path, n, names, views, NULL, 0, err,
                                                  sizeof err), -1);
    assert_non_null(strstr(err, "given twice"));
    weft_params_free(s);
}

/* --- a file made by Python ---------------------------------------------------------- */

static void loads_the_python_golden_file(void **state)
{
    (void)state;
    /* written by tests/golden/make_safetensors.py */
    static const float want_bias[4] = { 0x1p+0f, 0x1.8p-1f, 0x1p-1f, 0x1p-2f };
    static const float want_enc[6] = { 0x1.555556p-2f, -0x1.4p+1f, 0x1.99999ap-4f, -0x0p+0f,
                                       0x1p-149f, 0x1.fffffep+127f };
    static const float want_hh[8] = { -0x1p+0f, -0x1.6db6dcp-1f, -0x1.b6db6cp-2f,
                                      -0x1.249244p-3f, 0x1.249244p-3f, 0x1.b6db6cp-2f,
                                      0x1.6db6dcp-1f, 0x1p+0f };
    char path[512];
    snprintf(path, sizeof path, "%s/tiny.safetensors", golden_dir);

    weft_checkpoint c;
    if (weft_checkpoint_read(path, &c, err, sizeof err)) {
        print_error("%s\n", err);
        fail();
    }
    assert_string_equal(weft_checkpoint_meta(&c, "format"), "pt");
    assert_string_equal(weft_checkpoint_meta(&c, "weft.config"),
                        "{\"task\": \"lm\", \"cell\": \"lstm\", \"hidden\": 2}");
    assert_string_equal(weft_checkpoint_meta(&c, "weft.vocab"),
                        "[\"<unk>\", \"<eos>\", \"caf\xc3\xa9\", \"a \\\"quoted\\\" \\\\ word\"]");
    assert_int_equal(c.n_tensors, 3);
    weft_checkpoint_free(&c);

    weft_params *s = weft_params_new();
    weft_param *enc = weft_params_add(s, "encoder.weight", 2, (int[]){ 2, 3 });
    weft_param *hh = weft_params_add(s, "rnn.weight_hh_l0", 3, (int[]){ 2, 2, 2 });
    weft_param *bias = weft_params_add(s, "decoder.bias", 1, (int[]){ 4 });
    if (weft_checkpoint_load(path, s, 0, err, sizeof err)) {
        print_error("%s\n", err);
        fail();
    }
    assert_memory_equal(enc->value.data, want_enc, sizeof want_enc);
    assert_memory_equal(hh->value.data, want_hh, sizeof want_hh);
    assert_memory_equal(bias->value.data, want_bias, sizeof want_bias);
    weft_params_free(s);
}

/* --- bad files --------------------------------------------------------------------- */

static void truncated_files_are_rejected(void **state)
{
    (void)state;
    weft_params *src = lm_store(), *dst = lm_store();
    fill_values(src, 4);
    fill_values(dst, 5);
    float *before = snapshot(dst);
    const char *good = path_in("good.safetensors"), *cut = path_in("cut.safetensors");
    assert_int_equal(save_lm(good, src), 0);
    size_t n;
    unsigned char *bytes = read_bytes(good, &n);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | bytes[i];
    const size_t cuts[] = { 0, 1, 7, 8, 9, 8 + header / 2, 8 + header - 1, 8 + header,
                            8 + header + 1, 8 + header + 100, n - 5, n - 4, n - 1 };
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        write_bytes(cut, bytes, cuts[k]);
        err[0] = '\0';
        int rc = weft_checkpoint_load(cut, dst, 0, err, sizeof err);
        if (rc != -1 || !strstr(err, cut) ||
            (!strstr(err, "truncated") && !strstr(err, "too short"))) {
            print_error("cut at %zu of %zu: rc %d, \"%s\"\n", cuts[k], n, rc, err);
            fail();
        }
        assert_unchanged(dst, before);
    }
    /* and a missing file */
    assert_int_equal(weft_checkpoint_load(path_in("nowhere.safetensors"), dst, 0, err,
                                          sizeof err), -1);
    assert_non_null(strstr(err, "nowhere.safetensors"));
    assert_non_null(strstr(err, "No such file"));
    assert_unchanged(dst, before);
    free(before);
    free(bytes);
    weft_params_free(src);
    weft_params_free(dst);
}

/* Overwrite every byte of the header, one at a time, with each of a few
   values: a load either fails, leaving the store alone, or (the byte was
   padding, or inside a metadata string) gives exactly the saved values. */
static void corrupted_header_bytes_never_load_wrong_values(void **state)
{
    (void)state;
    weft_params *src = lm_store(), *dst = lm_store();
    fill_values(src, 6);
    fill_values(dst, 7);
    const float *saved = weft_params_values(src);
    float *before = snapshot(dst);
    const char *good = path_in("good2.safetensors"), *bad = path_in("bad2.safetensors");
    assert_int_equal(save_lm(good, src), 0);
    size_t n;
    unsigned char *bytes = read_bytes(good, &n);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | bytes[i];
    const unsigned char subst[] = { 0x00, '}', '9', 0xff };
    int rejected = 0, accepted = 0;
    for (size_t pos = 0; pos < 8 + header; pos++)
        for (size_t k = 0; k < sizeof subst; k++) {
            if (bytes[pos] == subst[k]) continue;
            unsigned char old = bytes[pos];
            bytes[pos] = subst[k];
            write_bytes(bad, bytes, n);
            bytes[pos] = old;
            err[0] = '\0';
            if (weft_checkpoint_load(bad, dst, 0, err, sizeof err) == 0) {
                assert_memory_equal(weft_params_values(dst), saved,
                                    weft_params_span(dst) * sizeof(float));
                memcpy(weft_params_values(dst), before, weft_params_span(dst) * sizeof(float));
                accepted++;
            } else {
                assert_non_null(strstr(err, bad));
                assert_unchanged(dst, before);
                rejected++;
            }
        }
    /* nearly every corruption is caught */
    assert_true(rejected > 4 * accepted);
    free(before);
    free(bytes);
    weft_params_free(src);
    weft_params_free(dst);
}

static void malformed_headers_are_rejected(void **state)
{
    (void)state;
    const char *p = path_in("raw.safetensors");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8);
    assert_rejected_a2(p, "not valid JSON");
    write_raw(p, "[{\"a\":1}]", 0);
    assert_rejected_a2(p, "does not start with '{'");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8);
    assert_rejected_a2(p, "unexpected bytes after");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    assert_rejected_a2(p, "overlaps");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20);
    assert_rejected_a2(p, "unused bytes");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12);
    assert_rejected_a2(p, "trailing bytes");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
    assert_rejected_a2(p, "past the end");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8);
    assert_rejected_a2(p, "end before");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "needs 12 bytes");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
    assert_rejected_a2(p, "appears twice");
    write_raw(p, "{\"__metadata__\":{\"k\":1},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "metadata \"k\" is not a string");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-0.5,8]}}", 8);
    assert_rejected_a2(p, "data_offsets");
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "shape entry 0");
    write_raw(p, "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "dtype");
    write_raw(p, "{\"a\":[1,2]}", 0);
    assert_rejected_a2(p, "not an object");
}

static void huge_header_lengths_are_rejected(void **state)
{
    (void)state;
    const char *p = path_in("huge.safetensors");
    unsigned char buf[64];
    memset(buf, ' ', sizeof buf);
    buf[8] = '{';
    buf[9] = '}';
    /* 2^63, 10^9 (over the 100 MB limit), then just past the end of the file */
    const uint64_t lengths[] = { 1ull << 63, 1000000000ull, 57 };
    const char *want[] = { "more than", "more than", "truncated" };
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(lengths[k] >> (8 * i));
        write_bytes(p, buf, sizeof buf);
        assert_rejected_a2(p, want[k]);
    }
    /* an empty header object with nothing after it is a valid, empty file */
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(56ull >> (8 * i));
    write_bytes(p, buf, sizeof buf);
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(p, &c, err, sizeof err), 0);
    assert_int_equal(c.n_tensors, 0);
    weft_checkpoint_free(&c);
    assert_rejected_a2(p, "'a' [2] is missing");
}

static void mismatched_models_are_rejected(void **state)
{
    (void)state;
    const char *p = path_in("mismatch.safetensors");
    weft_params *s = weft_params_new();
    weft_param *w = weft_params_add(s, "rnn.weight_hh_l0", 2, (int[]){ 12, 3 });
    weft_param *b = weft_params_add(s, "rnn.bias_hh_l0", 1, (int[]){ 12 });
    weft_tensor_fill(&w->value, 0.25f);
    weft_tensor_fill(&b->value, -1.0f);
    assert_int_equal(weft_checkpoint_save(p, s, NULL, 0, err, sizeof err), 0);

    /* wrong shape: both shapes named */
    weft_params *t = weft_params_new();
    weft_params_add(t, "rnn.weight_hh_l0", 2, (int[]){ 3, 12 });
    weft_params_add(t, "rnn.bias_hh_l0", 1, (int[]){ 12 });
    float *before = snapshot(t);
    assert_int_equal(weft_checkpoint_load(p, t, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "'rnn.weight_hh_l0'"));
    assert_non_null(strstr(err, "[12, 3] in the file"));
    assert_non_null(strstr(err, "expected [3, 12]"));
    assert_unchanged(t, before);
    free(before);
    weft_params_free(t);

    /* a tensor the file lacks (the other one matches, and is not loaded either) */
    t = weft_params_new();
    weft_param *tb = weft_params_add(t, "rnn.bias_hh_l0", 1, (int[]){ 12 });
    weft_params_add(t, "rnn.weight_ih_l0", 2, (int[]){ 12, 3 });
    before = snapshot(t);
    assert_int_equal(weft_checkpoint_load(p, t, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "'rnn.weight_ih_l0' [12, 3] is missing"));
    assert_unchanged(t, before);
    free(before);
    weft_params_free(t);

    /* a tensor the store lacks: an error, or ignored when allowed */
    t = weft_params_new();
    tb = weft_params_add(t, "rnn.bias_hh_l0", 1, (int[]){ 12 });
    assert_int_equal(weft_checkpoint_load(p, t, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "'rnn.weight_hh_l0' [12, 3] that is not expected"));
    assert_float_equal(tb->value.data[0], 0.0, 0);
    assert_int_equal(weft_checkpoint_load(p, t, WEFT_LOAD_ALLOW_EXTRA, err, sizeof err), 0);
    for (int i = 0; i < 12; i++) assert_float_equal(tb->value.data[i], -1.0, 0);
    weft_params_free(t);

    /* a dtype other than F32: listed, not loaded */
    write_raw(p, "{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(p, &c, err, sizeof err), 0);
    assert_string_equal(c.tensors[0].dtype, "F64");
    weft_checkpoint_free(&c);
    assert_rejected_a2(p, "'a' has dtype F64; weft loads F32 only");
    write_raw(p, "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4);
    assert_rejected_a2(p, "dtype BF16");
    weft_params_free(s);
}

/* --- saving never damages what is already saved --------------------------------------- */

static void failed_saves_leave_the_old_file(void **state)
{
    (void)state;
    weft_params *s = lm_store(), *other = lm_store(), *check = lm_store();
    fill_values(s, 8);
    fill_values(other, 9);
    const char *path = path_in("keep.safetensors");
    assert_int_equal(save_lm(path, s), 0);
    size_t n0;
    unsigned char *orig = read_bytes(path, &n0);

    /* a folder that does not exist */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/such/folder/m.safetensors", dir);
    assert_int_equal(save_lm(missing, other), -1);
    assert_non_null(strstr(err, missing));
    assert_non_null(strstr(err, "No such file or directory"));

    /* the target is a folder: the rename fails, the temporary file is removed */
    const char *folder = path_in("a-folder");
    assert_int_equal(mkdir(folder, 0755), 0);
    assert_int_equal(save_lm(folder, other), -1);
    assert_non_null(strstr(err, "cannot rename"));
    assert_int_equal(rmdir(folder), 0);

    /* the disk fills up halfway through the data: the write fails, the old
       file is intact (RLIMIT_FSIZE makes write() fail with EFBIG) */
    struct rlimit old_limit, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    small = old_limit;
    small.rlim_cur = 8 + 512;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    int rc = save_lm(path, other);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "cannot write the temporary file"));
    assert_non_null(strstr(err, "is unchanged"));

    /* bad arguments: refused before any file is made */
    const weft_meta_kv dup[] = { { "k", "1" }, { "k", "2" } };
    assert_int_equal(weft_checkpoint_save(path, other, dup, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "'k' given twice"));

    /* a read-only folder (root writes anyway: skipped then) */
    if (geteuid() != 0) {
        const char *ro = path_in("ro");
        assert_int_equal(mkdir(ro, 0755), 0);
        char target[300];
        snprintf(target, sizeof target, "%s/m.safetensors", ro);
        assert_int_equal(save_lm(target, s), 0);
        assert_int_equal(chmod(ro, 0555), 0);
        assert_int_equal(save_lm(target, other), -1);
        assert_non_null(strstr(err, "temporary file"));
        assert_int_equal(weft_checkpoint_load(target, check, WEFT_LOAD_ALLOW_NONFINITE, err, sizeof err), 0);
        assert_memory_equal(weft_params_values(check), weft_params_values(s),
                            weft_params_span(s) * sizeof(float));
        chmod(ro, 0755);
        unlink(target);
        rmdir(ro);
    }

    size_t n1;
    unsigned char *now = read_bytes(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(orig, now, n0);
    assert_int_equal(weft_checkpoint_load(path, check, WEFT_LOAD_ALLOW_NONFINITE, err, sizeof err), 0);
    assert_memory_equal(weft_params_values(check), weft_params_values(s),
                        weft_params_span(s) * sizeof(float));
    assert_no_temp_files();

    /* and a save that succeeds replaces it whole, keeping its mode */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(save_lm(path, other), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(weft_checkpoint_load(path, check, WEFT_LOAD_ALLOW_NONFINITE, err, sizeof err), 0);
    assert_memory_equal(weft_params_values(check), weft_params_values(other),
                        weft_params_span(s) * sizeof(float));
    free(orig);
    free(now);
    weft_params_free(s);
    weft_params_free(other);
    weft_params_free(check);
}

/* --- setup: a fresh folder, removed at the end ----------------------------------------- */

static int make_dir(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/weft-test-io-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(path_in(e->d_name));
    closedir(d);
    return rmdir(dir);
}

/* A key twice in the header is refused, whichever it is, and nothing leaks
   (the sanitizer build checks that): cJSON would keep the first of two equal
   keys, Python's json the last. */
static void duplicate_keys_are_rejected(void **state)
{
    (void)state;
    const char *p = path_in("dup.safetensors");
    write_raw(p, "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},"
                 "\"__metadata__\":{\"c\":\"3\",\"d\":\"4\",\"e\":\"5\"},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "\"__metadata__\" appears twice");
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(p, &c, err, sizeof err), -1);
    weft_checkpoint_free(&c);
    write_raw(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16);
    assert_rejected_a2(p, "\"a\" appears twice");
    write_raw(p, "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    assert_rejected_a2(p, "metadata \"k\" appears twice");
}

/* A NaN or an infinity in a tensor: refused, naming the tensor and the element
   (unless the caller asks for the values as they are). */
static void non_finite_values_are_rejected(void **state)
{
    (void)state;
    const char *p = path_in("nan.safetensors");
    const char *header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t len = strlen(header), padded = (len + 7) / 8 * 8;
    unsigned char buf[256];
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, header, len);
    memset(buf + 8 + len, ' ', padded - len);
    float vals[2] = { 1.0f, INFINITY };
    memcpy(buf + 8 + padded, vals, sizeof vals);
    write_bytes(p, buf, 8 + padded + sizeof vals);
    assert_rejected_a2(p, "tensor 'a' element 1 is infinite");
    vals[0] = NAN;
    memcpy(buf + 8 + padded, vals, sizeof vals);
    write_bytes(p, buf, 8 + padded + sizeof vals);
    assert_rejected_a2(p, "tensor 'a' element 0 is NaN");
    weft_params *s = weft_params_new();
    weft_param *a = weft_params_add(s, "a", 1, (int[]){ 2 });
    assert_int_equal(weft_checkpoint_load(p, s, WEFT_LOAD_ALLOW_NONFINITE, err, sizeof err), 0);
    assert_true(isnan(a->value.data[0]) && isinf(a->value.data[1]));
    weft_params_free(s);
}

/* 20,000 parameters: the store's names and the file's are looked up by hash
   and by binary search, not by comparing every pair (400 million strcmps). */
static void many_tensors_load_quickly(void **state)
{
    (void)state;
    enum { N = 20000 };
    weft_params *s = weft_params_new(), *t = weft_params_new();
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p%d", i);
        weft_param *a = weft_params_add(s, name, 1, (int[]){ 1 });
        assert_non_null(a);
        a->value.data[0] = (float)i;
        assert_non_null(weft_params_add(t, name, 1, (int[]){ 1 }));
    }
    assert_null(weft_params_add(s, "p123", 1, (int[]){ 1 }));
    assert_non_null(strstr(weft_params_error(s), "'p123' already exists"));
    assert_int_equal(weft_params_find(s, "p19999")->id, 19999);
    assert_null(weft_params_find(s, "p20000"));
    const char *p = path_in("many.safetensors");
    assert_int_equal(weft_checkpoint_save(p, s, NULL, 0, err, sizeof err), 0);
    assert_int_equal(weft_checkpoint_load(p, t, 0, err, sizeof err), 0);
    assert_float_equal(weft_params_find(t, "p12345")->value.data[0], 12345.0, 0);
    weft_checkpoint c;
    assert_int_equal(weft_checkpoint_read(p, &c, err, sizeof err), 0);
    assert_non_null(weft_checkpoint_find(&c, "p7"));
    assert_null(weft_checkpoint_find(&c, "p"));
    weft_checkpoint_free(&c);
    weft_params_free(s);
    weft_params_free(t);
}

int main(int argc, char **argv)
{
    /* the folder of the golden files, given by tests/meson.build */
    if (argc > 1) golden_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_is_bit_identical),
        cmocka_unit_test(metadata_and_listing),
        cmocka_unit_test(general_tensor_form),
        cmocka_unit_test(loads_the_python_golden_file),
        cmocka_unit_test(truncated_files_are_rejected),
        cmocka_unit_test(corrupted_header_bytes_never_load_wrong_values),
        cmocka_unit_test(malformed_headers_are_rejected),
        cmocka_unit_test(huge_header_lengths_are_rejected),
        cmocka_unit_test(mismatched_models_are_rejected),
        cmocka_unit_test(failed_saves_leave_the_old_file),
        cmocka_unit_test(duplicate_keys_are_rejected),
        cmocka_unit_test(non_finite_values_are_rejected),
        cmocka_unit_test(many_tensors_load_quickly),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
