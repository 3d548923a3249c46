/* tests/test_reliability.c — hostile files and faults (docs/reliability.md):
 * a model file never makes weft load code; a configuration is checked
 * against the tensors a file holds before anything is built; every command
 * loads a model with the same loader and checks; NUL bytes in training text;
 * write errors on every output. The weft executable comes from meson in
 * WEFT_EXE, the marker plugin's path is argv[1]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/cli_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "weft/cell.h"
#include "weft/classify.h"
#include "weft/io.h"
#include "weft/lm.h"
#include "weft/seq2seq.h"

#include "tests/lm_text.h"

#define GLOBAL_FLAGS "--quiet --threads 1 "

static const char *exe, *marker_so;
static char err[2048];
static char tmpdir[] = "/tmp/weft-reliability-XXXXXX";

static const char *tmp_path(const char *name)
{
    static char paths[16][512];
    static int k = 0;
    char *p = paths[k++ % 16];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *TEXT = "the cat sat on the mat\nthe dog sat on the log\n";

/* A tiny word-level LSTM model (random weights) whose config names `cell`. */
static weft_lm *tiny_lm(void)
{
    weft_lm_config cfg = { .level = WEFT_TEXT_WORDS, .cell = "lstm", .layers = 1, .hidden = 3,
                           .embed = 3 };
    weft_lm *m = weft_lm_new(&cfg, test_vocab_of(TEXT, WEFT_TEXT_WORDS), err, sizeof err);
    assert_non_null(m);
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    assert_int_equal(weft_lm_init(m, &rng, 0.0f), 0);
    return m;
}

/* --- 1. no code from a model file ------------------------------------------------------------ */

static void model_files_never_load_code(void **state)
{
    (void)state;
    const char *marker = tmp_path("marker");
    char env[600];
    snprintf(env, sizeof env, "WEFT_TEST_MARKER=%s", marker);
    setenv("WEFT_TEST_MARKER", marker, 1);
    /* a model and a training state whose config names the marker plugin: by an
     * absolute path, and as ./marker.so beside the model (run from tmpdir) */
    char local[600];
    snprintf(local, sizeof local, "%s/marker.so", tmpdir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", marker_so, local);
    assert_int_equal(system(cmd), 0);
    const char *names[2] = { marker_so, "./marker.so" };
    for (int k = 0; k < 2; k++) {
        weft_lm *m = tiny_lm();
        snprintf(m->cfg.cell, sizeof m->cfg.cell, "%s", names[k]);
        const char *model = tmp_path("evil.safetensors"), *st = tmp_path("evil.safetensors.state");
        assert_int_equal(weft_lm_save(m, model, err, sizeof err), 0);
        weft_lm_run run = { .epoch = 1, .batch = 1, .bptt = 2, .epochs = 1, .lr = 1, .lr0 = 1,
                            .optim = weft_optim_sgd(1.0f) };
        weft_rng_seed(&run.rng, 1);
        assert_int_equal(weft_lm_save_run(m, &run, NULL, st, err, sizeof err), 0);
        weft_lm_free(m);
        assert_int_equal(chdir(tmpdir), 0);

        /* the library: both loaders refuse, naming the plugin and the way to allow it */
        assert_null(weft_lm_load(model, err, sizeof err));
        assert_contains(err, names[k]);
        assert_contains(err, "--allow-plugin");
        weft_state carry;
        assert_null(weft_lm_load_run(st, &run, &carry, err, sizeof err));
        assert_contains(err, "the model's cell is the plugin");
        /* every command */
        weft_test_output *r = weft_test_run(exe, env, GLOBAL_FLAGS "eval --model %s --data %s",
                                            model, model);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, "--allow-plugin");
        r = weft_test_run(exe, env, GLOBAL_FLAGS "sample --model %s --tokens 3", model);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, "--allow-plugin");
        r = weft_test_run(exe, env, GLOBAL_FLAGS "dot --model %s -o %s", model, tmp_path("x.dot"));
        assert_int_equal(r->status, 1);
        assert_contains(r->err, "--allow-plugin");
        /* another plugin allowed is not this one */
        r = weft_test_run(exe, env, GLOBAL_FLAGS "--allow-plugin ./other.so eval --model %s "
                          "--data %s", model, model);
        assert_int_equal(r->status, 1);
        if (exists(marker)) fail_msg("a model file naming %s made weft load it", names[k]);

        /* a sentence classifier naming it: refused the same way */
        weft_classify_config cc = weft_classify_defaults(WEFT_TASK_CLASSIFY);
        cc.hidden = 2;
        cc.embed = 2;
        cc.layers = 1;
        weft_vocab *words = test_vocab_of("<unk> a b", WEFT_TEXT_WORDS), *labels = weft_vocab_new();
        assert_true(weft_vocab_add(labels, "pos", 3) >= 0 && weft_vocab_add(labels, "neg", 3) >= 0);
        weft_classify_model *cm = weft_classify_new(&cc, words, labels, NULL, err, sizeof err);
        assert_non_null(cm);
        snprintf(cm->cfg.cell, sizeof cm->cfg.cell, "%s", names[k]);
        const char *cls = tmp_path("evil-classifier.safetensors");
        assert_int_equal(weft_classify_save(cm, cls, err, sizeof err), 0);
        weft_classify_free(cm);
        assert_null(weft_classify_load(cls, err, sizeof err));
        assert_contains(err, "--allow-plugin");
        if (exists(marker)) fail_msg("a classifier naming %s made weft load it", names[k]);

        /* allowed, it is loaded (and refused as no cell plugin): the test can see a load */
        r = weft_test_run(exe, env, GLOBAL_FLAGS "--allow-plugin %s eval --model %s --data %s",
                          names[k], model, model);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, "is not a cell plugin");
        assert_true(exists(marker));
        unlink(marker);
        weft_cell_plugin_allow_none();
    }
    unsetenv("WEFT_TEST_MARKER");
}

/* --- 2. a configuration checked against the file before anything is built ----------------- */

/* Save m with its config JSON's `key` set to `value` (a JSON number). */
static void save_with(weft_lm *m, const char *path, const char *key, const char *value)
{
    char *conf = weft_lm_config_json(m), *voc = weft_lm_vocab_json(m);
    char edited[4096], pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *at = strstr(conf, pat);
    assert_non_null(at);
    char *end = at + strlen(pat);
    while (*end && *end != ',' && *end != '}') end++;
    snprintf(edited, sizeof edited, "%.*s%s%s%s", (int)(at - conf), conf, pat, value, end);
    weft_meta_kv meta[2] = { { "weft.config", edited }, { "weft.vocab", voc } };
    assert_int_equal(weft_checkpoint_save(path, m->params, meta, 2, err, sizeof err), 0);
    free(conf);
    free(voc);
}

static void huge_configurations_fail_at_once(void **state)
{
    (void)state;
    weft_lm *m = tiny_lm();
    const char *path = tmp_path("huge.safetensors");
    struct { const char *key, *value, *want; } cases[] = {
        { "layers", "1000000", "asks for 1000000 layers but the file holds 7 tensors" },
        { "layers", "2", "needs tensor 'rnn.weight_ih_l1'" },
        { "hidden", "100000", "weft.config implies tensor 'decoder.weight' F32 [8, 100000]" },
        { "embed", "100000", "weft.config implies tensor 'encoder.weight' F32 [8, 100000]" },
        { "vocab_size", "9", "vocab" },
        { "dropout", "5", "dropout 5 must be in [0, 1)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        save_with(m, path, cases[i].key, cases[i].value);
        double t0 = now();
        weft_lm *bad = weft_lm_load(path, err, sizeof err);
        double secs = now() - t0;
        if (bad) fail_msg("%s %s loaded", cases[i].key, cases[i].value);
        if (!strstr(err, cases[i].want)) fail_msg("\"%s\" lacks \"%s\"", err, cases[i].want);
        if (secs > 1.0) fail_msg("%s %s took %.2f s to refuse", cases[i].key, cases[i].value, secs);
        /* eval and dot: the same loader, the same message, exit 1 */
        weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s",
                                            path, path);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, cases[i].want);
        r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model %s -o %s", path, tmp_path("h.dot"));
        assert_int_equal(r->status, 1);
        assert_contains(r->err, cases[i].want);
    }
    /* level "bytes" and a broken vocabulary: refused by dot as by eval */
    char *conf = weft_lm_config_json(m);
    char *lvl = strstr(conf, "\"word\"");
    assert_non_null(lvl);
    char edited[4096];
    snprintf(edited, sizeof edited, "%.*s\"bytes\"%s", (int)(lvl - conf), conf, lvl + 6);
    weft_meta_kv meta[2] = { { "weft.config", edited }, { "weft.vocab", "[\"a\",\"a\"]" } };
    assert_int_equal(weft_checkpoint_save(path, m->params, meta, 2, err, sizeof err), 0);
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model %s -o %s", path,
                                        tmp_path("h.dot"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "level");
    meta[0].value = conf;
    assert_int_equal(weft_checkpoint_save(path, m->params, meta, 2, err, sizeof err), 0);
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "dot --model %s -o %s", path, tmp_path("h.dot"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "vocab");
    free(conf);
    weft_lm_free(m);
}

/* A copy of the safetensors file `from` at `to` with the first `was` in its
 * header replaced by `now` (the data as it was: its offsets are relative). */
static void edit_header(const char *from, const char *to, const char *was, const char *now)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 8 && n < sizeof buf);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = hn << 8 | (unsigned char)buf[i];
    char *header = buf + 8, *at = strstr(header, was);
    assert_non_null(at);
    assert_true(at + strlen(was) <= header + hn);
    static char out[1 << 16];
    size_t len = (size_t)(at - header);
    memcpy(out + 8, header, len);
    len += (size_t)sprintf(out + 8 + len, "%s", now);
    size_t rest = hn - (size_t)(at + strlen(was) - header);
    memcpy(out + 8 + len, at + strlen(was), rest);
    len += rest;
    while (len % 8) out[8 + len++] = ' ';
    for (int i = 0; i < 8; i++) out[i] = (char)(len >> (8 * i) & 0xff);
    memcpy(out + 8 + len, header + hn, n - 8 - hn);
    weft_test_write_file(to, out, 8 + len + (n - 8 - hn));
}

/* The classifiers (classify, tag, window) and the encoder-decoder: the same
 * promise, a header asking for more than its tensors is refused at once */
static void huge_task_configurations_fail_at_once(void **state)
{
    (void)state;
    const char *cls = tmp_path("cls.txt"), *conllu = tmp_path("tag.conllu"),
               *src = tmp_path("src.txt"), *tgt = tmp_path("tgt.txt");
    const char *cls_text = "pos good fine film\nneg bad awful film\npos great good\n";
    const char *tag_text = "1\tthe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n"
                           "2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_\n\n";
    weft_test_write_file(cls, cls_text, strlen(cls_text));
    weft_test_write_file(conllu, tag_text, strlen(tag_text));
    weft_test_write_file(src, "a b c\nb c a\n", 12);
    weft_test_write_file(tgt, "c b a\na c b\n", 12);
    const char *model = tmp_path("task.safetensors"), *bad = tmp_path("task-bad.safetensors");
    struct {
        const char *train, *was, *now, *want;
    } cases[] = {
        { "--task classify --data %s --hidden 4 --embed 3", "\\\"layers\\\":1,",
          "\\\"layers\\\":1000000,", "asks for 1000000 layers" },
        { "--task classify --data %s --hidden 4 --embed 3", "\\\"hidden\\\":4,",
          "\\\"hidden\\\":100000,", "needs tensor 'rnn.weight_ih_l0'" },
        { "--task classify --data %s --hidden 4 --embed 3", "\\\"embed\\\":3,",
          "\\\"embed\\\":100000,", "embedding.weight" },
        { "--task tag --data %s --hidden 3 --embed 3 --char-encoder --char-embed 2 "
          "--char-hidden 2", "\\\"char_hidden\\\":2,", "\\\"char_hidden\\\":100000,",
          "char_rnn." },
        { "--task window --data %s --embed 3 --window 1 --window-hidden 4",
          "\\\"window_hidden\\\":4,", "\\\"window_hidden\\\":1000000,", "hidden.weight" },
        { "--task seq2seq --src %s --tgt %s --hidden 4 --embed 4", "\\\"hidden\\\":4,",
          "\\\"hidden\\\":1000000,", "needs tensor 'enc." },
        { "--task seq2seq --src %s --tgt %s --hidden 4 --embed 4 --attention additive "
          "--attn-hidden 3", "\\\"attn_hidden\\\":3,", "\\\"attn_hidden\\\":1000000,",
          "attn.w" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char flags[512];
        if (strstr(cases[i].train, "seq2seq")) snprintf(flags, sizeof flags, cases[i].train, src, tgt);
        else snprintf(flags, sizeof flags, cases[i].train, strstr(cases[i].train, "classify") ? cls
                                                                                        : conllu);
        weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train %s --epochs 1 "
                                            "--save %s", flags, model);
        if (r->status != 0) fail_msg("train %s: %s", flags, r->err);
        edit_header(model, bad, cases[i].was, cases[i].now);
        double t0 = now();
        bool is_s2s = strstr(flags, "seq2seq") != NULL;
        void *m = is_s2s ? (void *)weft_seq2seq_load(bad, err, sizeof err)
                         : (void *)weft_classify_load(bad, err, sizeof err);
        double secs = now() - t0;
        if (m) fail_msg("%s: %s loaded", flags, cases[i].now);
        if (!strstr(err, cases[i].want)) fail_msg("\"%s\" lacks \"%s\"", err, cases[i].want);
        if (secs > 1.0) fail_msg("%s took %.2f s to refuse", cases[i].now, secs);
        /* and the command that reads it: exit 1 with the same message */
        if (is_s2s) r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --task seq2seq --model %s "
                                      "--src %s --tgt %s", bad, src, tgt);
        else r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", bad,
                               strstr(flags, "classify") ? cls : conllu);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, cases[i].want);
    }
}

/* --- 12. out of memory is a failure (1), not a usage error (2) -------------------------------- */

static void out_of_memory_exits_1(void **state)
{
    (void)state;
    const char *text = tmp_path("oom.txt");
    weft_test_write_file(text, TEXT, strlen(TEXT));
    /* 4H x H floats of the recurrent matrix: 16 TiB, more than any machine gives */
    const char *env = "ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=0";
    weft_test_output *r = weft_test_run(exe, env, GLOBAL_FLAGS "train --data %s --hidden 1048576 "
                                        "--embed 4 --epochs 1 --save %s", text,
                                        tmp_path("oom.safetensors"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "out of memory");
    assert_contains(r->err, "does not fit in memory");
    /* a configuration weft refuses is still a usage error */
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data %s --hidden 4 --embed 3 --tie "
                      "--epochs 1 --save %s", text, tmp_path("oom.safetensors"));
    assert_int_equal(r->status, 2);
    assert_contains(r->err, "tied weights need embed == hidden");
}

/* --- 3. text a vocabulary cannot hold ---------------------------------------------------------- */

static void nul_bytes_are_refused_before_training(void **state)
{
    (void)state;
    const char *text = tmp_path("nul.txt"), *model = tmp_path("nul.safetensors");
    const char bytes[] = "the cat\nsat on\0the mat\n";
    weft_test_write_file(text, bytes, sizeof bytes - 1);
    const char *levels[2] = { "word", "char" };
    for (int k = 0; k < 2; k++) {
        unlink(model);
        weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data %s --level %s "
                                            "--layers 1 --hidden 4 --embed 4 --batch 1 --bptt 3 "
                                            "--epochs 1 --save %s", text, levels[k], model);
        assert_int_equal(r->status, 1);
        assert_contains(r->err, text);
        assert_contains(r->err, "line 2: a NUL byte at byte 14");
        assert_false(exists(model));
    }
    /* the library says the same for text in memory */
    weft_tokens t;
    assert_int_equal(weft_tokens_from_string(bytes, sizeof bytes - 1, "mem", WEFT_TEXT_CHARS, &t,
                                             err, sizeof err), -1);
    assert_contains(err, "mem: line 2: a NUL byte at byte 14");
    /* a folder for --data: said so (not "out of memory reading 0 bytes") */
    weft_test_output *r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data %s --epochs 1 "
                                        "--save %s", tmpdir, model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "is a directory");
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "eval --model %s --data %s", tmpdir, tmpdir);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "not a regular file");
}

/* --- 5. every output checked ------------------------------------------------------------------ */

/* No file in tmpdir whose name holds `part` (a temporary file left behind). */
static void assert_no_file_with(const char *part)
{
    char cmd[700];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q -- '%s'", tmpdir, part);
    if (system(cmd) == 0) fail_msg("a file with '%s' in its name was left in %s", part, tmpdir);
}

static void write_errors_are_reported(void **state)
{
    (void)state;
    const char *text = tmp_path("words.txt"), *model = tmp_path("ok.safetensors");
    weft_test_write_file(text, TEXT, strlen(TEXT));
    weft_lm *m = tiny_lm();
    assert_int_equal(weft_lm_save(m, model, err, sizeof err), 0);
    weft_lm_free(m);
    /* standard output on a full device: a message and exit 1 (the redirection inside
     * a shell, after weft_test_run's own) */
    const char *full = "sh -c 'exec \"$0\" \"$@\" >/dev/full'";
    weft_test_output *r = weft_test_run(exe, full, GLOBAL_FLAGS "eval --model %s --data %s",
                                        model, text);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "weft eval: standard output: cannot write: No space left on device");
    r = weft_test_run(exe, full, GLOBAL_FLAGS "ops");
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "weft ops: standard output: cannot write");
    r = weft_test_run(exe, full, GLOBAL_FLAGS "sample --model %s --tokens 50", model);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "weft sample: standard output: cannot write");
    /* the training log */
    r = weft_test_run(exe, NULL, GLOBAL_FLAGS "train --data %s --layers 1 --hidden 3 --embed 3 "
                      "--batch 1 --bptt 3 --epochs 1 --log /dev/full --save %s", text,
                      tmp_path("log.safetensors"));
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "/dev/full: cannot write the log: No space left on device");
    /* a drawing on a full disk (a file size limit stands in for it): weft's message, no
     * Graphviz internal error, no temporary file left, the old file kept */
    const char *svg = tmp_path("net.svg");
    weft_test_write_file(svg, "old", 3);
    r = weft_test_run(exe, "trap '' XFSZ; ulimit -f 2;", GLOBAL_FLAGS "dot --cell lstm "
                      "--layers 2 --steps 3 -o %s", svg);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "cannot write");
    assert_contains(r->err, "File too large");
    char back[16];
    weft_test_slurp(svg, back, sizeof back);
    assert_string_equal(back, "old");
    assert_no_file_with(".tmp");
    /* gnuplot: a failure, and a chart cut short while gnuplot says all is well */
    const char *bin = tmp_path("fakebin");
    assert_int_equal(mkdir(bin, 0755), 0);
    const char *fake = tmp_path("fakebin/gnuplot");
    const char *script = "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\n"
                         "out=$(sed -n 's/^set output \"\\(.*\\)\"$/\\1/p')\n"
                         "printf '<svg' > \"$out\"\nexit ${FAKE_STATUS:-0}\n";
    weft_test_write_file(fake, script, strlen(script));
    assert_int_equal(chmod(fake, 0755), 0);
    char env[1200];
    const char *plot = tmp_path("flow.svg");
    snprintf(env, sizeof env, "PATH='%s':\"$PATH\"", bin);
    r = weft_test_run(exe, env, GLOBAL_FLAGS "gradflow --cell rnn --steps 4 --hidden 3 "
                      "--samples 1 --plot %s", plot);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "cut short");
    assert_false(exists(plot));
    snprintf(env, sizeof env, "FAKE_STATUS=3 PATH='%s':\"$PATH\"", bin);
    r = weft_test_run(exe, env, GLOBAL_FLAGS "gradflow --cell rnn --steps 4 --hidden 3 "
                      "--samples 1 --plot %s", plot);
    assert_int_equal(r->status, 1);
    assert_contains(r->err, "exited with status 3");
    assert_false(exists(plot));
}

int main(int argc, char **argv)
{
    exe = getenv("WEFT_EXE");
    if (!exe || argc < 2) {
        fprintf(stderr, "usage: WEFT_EXE=weft %s MARKER.so\n", argv[0]);
        return 1;
    }
    char here[4096];
    if (!getcwd(here, sizeof here) || !mkdtemp(tmpdir)) return 1;
    /* absolute paths: the plugin test runs in tmpdir */
    static char so[8192], exe_abs[8192];
    if (argv[1][0] == '/') snprintf(so, sizeof so, "%s", argv[1]);
    else snprintf(so, sizeof so, "%s/%s", here, argv[1]);
    if (exe[0] == '/') snprintf(exe_abs, sizeof exe_abs, "%s", exe);
    else snprintf(exe_abs, sizeof exe_abs, "%s/%s", here, exe);
    marker_so = so;
    exe = exe_abs;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(model_files_never_load_code),
        cmocka_unit_test(huge_configurations_fail_at_once),
        cmocka_unit_test(huge_task_configurations_fail_at_once),
        cmocka_unit_test(out_of_memory_exits_1),
        cmocka_unit_test(nul_bytes_are_refused_before_training),
        cmocka_unit_test(write_errors_are_reported),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) return 1;
    return failed;
}
