/* tests/test_distributed.c — data-parallel training over MPI against one process.
 *
 * Runs `mpirun -np N weft train ... --distributed` (WEFT_EXE, MPIRUN; built
 * and registered only when meson found MPI) on a tiny text it writes, and
 * checks what docs/distributed.md promises:
 *   - after K steps the training state (weights, optimiser slots, the carried
 *     hidden state of every stream) of 2 and 4 ranks equals the one-process
 *     run on the same global batch within 1e-5 relative (not bit for bit: each
 *     rank's loss is the mean over its share, and the shares' gradients are
 *     summed by MPI_Allreduce, another order of float additions);
 *   - the model file of rank 0 equals the one-process model file;
 *   - the window LM and the sentence classifier (examples, shuffled, a short last
 *     batch) likewise;
 *   - a run stopped on 2 ranks and resumed on 4 (and one rank resumed on 2)
 *     ends where the uninterrupted one-process run ends;
 *   - a rank killed mid-run ends the job within seconds with a message, and so
 *     does an output rank 0 cannot write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "weft/io.h"
#include "tests/rel_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *exe, *mpirun;
static char tmpdir[] = "/tmp/weft-dist-test-XXXXXX";

static const char *path_in(const char *name)
{
    static char paths[32][512];
    static int k = 0;
    char *p = paths[k++ % 32];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Run a shell command (output to OUT in the temp folder); its exit status. */
static int run(const char *fmt, ...)
{
    char cmd[4096], full[4600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "cd %s && (%s) > out.txt 2>&1", tmpdir, cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static void show_output(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cat %s/out.txt >&2", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "(no output)\n");
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[len] = '\0';
    if (n) *n = (size_t)len;
    return buf;
}

/* Every F32 tensor of checkpoint a equals b's of the same name within tol
 * (rel_diff); the two hold the same names. Returns the worst difference. */
static double compare_files(const char *a, const char *b, double tol)
{
    weft_checkpoint ca, cb;
    char err[512];
    size_t na, nb;
    assert_int_equal(weft_checkpoint_read(a, &ca, err, sizeof err), 0);
    assert_int_equal(weft_checkpoint_read(b, &cb, err, sizeof err), 0);
    char *da = read_all(a, &na), *db = read_all(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(ca.n_tensors, cb.n_tensors);
    double worst = 0;
    for (int i = 0; i < ca.n_tensors; i++) {
        const weft_checkpoint_tensor *ta = &ca.tensors[i];
        if (strcmp(ta->dtype, "F32") != 0) continue;
        const weft_checkpoint_tensor *tb = NULL;
        for (int j = 0; j < cb.n_tensors; j++)
            if (strcmp(cb.tensors[j].name, ta->name) == 0) tb = &cb.tensors[j];
        assert_non_null(tb);
        assert_int_equal(ta->end - ta->begin, tb->end - tb->begin);
        size_t n = (size_t)(ta->end - ta->begin) / sizeof(float);
        float *x = malloc(n * sizeof *x + 1), *y = malloc(n * sizeof *y + 1);
        memcpy(x, da + 8 + ca.header_bytes + ta->begin, n * sizeof *x);
        memcpy(y, db + 8 + cb.header_bytes + tb->begin, n * sizeof *y);
        double d = rel_diff(x, y, n);
        if (d > tol) fprintf(stderr, "%s: %s differs from %s by %g\n", ta->name, a, b, d);
        if (d > worst) worst = d;
        free(x);
        free(y);
    }
    free(da);
    free(db);
    weft_checkpoint_free(&ca);
    weft_checkpoint_free(&cb);
    assert_true(worst <= tol);
    return worst;
}

/* A tiny LSTM LM: 4 streams (--batch is the global batch), windows of 5. */
#define LM_FLAGS "train --data train.txt --valid valid.txt --layers 1 --hidden 12 --embed 10 " \
                 "--batch 4 --bptt 5 --epochs 1 --dropout 0 --lr 1 --clip 0.5 --seed 3"
/* The window LM with Adam: 30 examples a batch of 2599 (a short last batch). */
#define WLM_FLAGS "train --task window-lm --data train.txt --valid valid.txt --order 3 " \
                  "--embed 8 --hidden 12 --batch 30 --epochs 1 --dropout 0 --seed 3"

static const char *mpi(int ranks)
{
    static char buf[2][1024];
    static int k = 0;
    char *b = buf[k++ % 2];
    snprintf(b, 1024, "%s --oversubscribe -np %d %s --quiet --threads 1", mpirun, ranks, exe);
    return b;
}

static void lm_equals_one_process(int ranks)
{
    assert_int_equal(run("%s --quiet --threads 1 " LM_FLAGS " --stop-after 12 --save one.st",
                         exe), 0);
    int rc = run("%s " LM_FLAGS " --stop-after 12 --save dist%d.st --distributed", mpi(ranks),
                 ranks);
    if (rc) show_output();
    assert_int_equal(rc, 0);
    char a[64], b[64];
    snprintf(a, sizeof a, "dist%d.st.state", ranks);
    snprintf(b, sizeof b, "dist%d.st", ranks);
    double d = compare_files(path_in("one.st.state"), path_in(a), 1e-5);
    fprintf(stderr, "lm, %d ranks, 12 steps: state within %.2g of one process\n", ranks, d);
    compare_files(path_in("one.st"), path_in(b), 1e-5);
}

static void test_lm_two_ranks(void **s)
{
    (void)s;
    lm_equals_one_process(2);
}

static void test_lm_four_ranks(void **s)
{
    (void)s;
    lm_equals_one_process(4);
}

static void test_window_lm_two_and_four_ranks(void **s)
{
    (void)s;
    /* a whole epoch: 87 batches, the last of 19 examples */
    assert_int_equal(run("%s --quiet --threads 1 " WLM_FLAGS " --save wone.st", exe), 0);
    for (int ranks = 2; ranks <= 4; ranks += 2) {
        int rc = run("%s " WLM_FLAGS " --save wdist.st --distributed", mpi(ranks));
        if (rc) show_output();
        assert_int_equal(rc, 0);
        double d = compare_files(path_in("wone.st.state"), path_in("wdist.st.state"), 1e-5);
        fprintf(stderr, "window-lm, %d ranks, one epoch: state within %.2g\n", ranks, d);
    }
}

static void test_classifier_two_and_four_ranks(void **s)
{
    (void)s;
    /* the sentence classifier: bucketed, shuffled batches of 10 sentences (the last of 5) */
    const char *flags = "train --task classify --data cls.txt --hidden 8 --embed 8 --batch 10 "
                        "--epochs 2 --dropout 0 --seed 5";
    assert_int_equal(run("%s --quiet --threads 1 %s --save cone.st", exe, flags), 0);
    for (int ranks = 2; ranks <= 4; ranks += 2) {
        int rc = run("%s %s --save cdist.st --distributed", mpi(ranks), flags);
        if (rc) show_output();
        assert_int_equal(rc, 0);
        double d = compare_files(path_in("cone.st"), path_in("cdist.st"), 1e-5);
        fprintf(stderr, "classify, %d ranks, two epochs: model within %.2g\n", ranks, d);
    }
}

/* An encoder-decoder on generated reversal: 45 pairs in batches of 8 (a short last batch). */
#define S2S_FLAGS "train --task seq2seq --generate reverse --epoch-size 45 --valid-size 8 " \
                  "--min-len 2 --max-len 5 --embed 8 --hidden 8 --batch 8 --epochs 1 --seed 3"

static void test_seq2seq_two_and_four_ranks(void **s)
{
    (void)s;
    assert_int_equal(run("%s --quiet --threads 1 " S2S_FLAGS " --save sone.st", exe), 0);
    for (int ranks = 2; ranks <= 4; ranks += 2) {
        int rc = run("%s " S2S_FLAGS " --save sdist.st --distributed", mpi(ranks));
        if (rc) show_output();
        assert_int_equal(rc, 0);
        /* the model after one epoch (its best by validation: the only one) */
        double d = compare_files(path_in("sone.st"), path_in("sdist.st"), 1e-5);
        fprintf(stderr, "seq2seq, %d ranks, one epoch: weights within %.2g\n", ranks, d);
    }
}

static void test_resume_with_other_rank_counts(void **s)
{
    (void)s;
    /* one process, 15 windows straight */
    assert_int_equal(run("%s --quiet --threads 1 " LM_FLAGS " --stop-after 15 --save straight.st",
                         exe), 0);
    /* 2 ranks for 6 windows, then 4 ranks for 5, then one process for 4 */
    int rc = run("%s " LM_FLAGS " --stop-after 6 --save cut.st --distributed", mpi(2));
    if (!rc) rc = run("%s train --resume cut.st --data train.txt --valid valid.txt --stop-after 5 "
                      "--distributed", mpi(4));
    if (!rc) rc = run("%s --quiet --threads 1 train --resume cut.st --data train.txt --valid "
                      "valid.txt --stop-after 4", exe);
    if (rc) show_output();
    assert_int_equal(rc, 0);
    double d = compare_files(path_in("straight.st.state"), path_in("cut.st.state"), 1e-5);
    fprintf(stderr, "lm resumed 2 -> 4 -> 1 ranks: state within %.2g of one straight run\n", d);
}

static void test_killed_rank_ends_the_job(void **s)
{
    (void)s;
    /* rank 1 kills itself (SIGKILL, no clean-up) a second into a long run */
    double t0 = now();
    int rc = run("%s --oversubscribe -np 2 sh -c 'if [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then "
                 "(sleep 1; kill -9 $$) & fi; exec %s --quiet --threads 1 " LM_FLAGS
                 " --epochs 100000 --save killed.st --distributed'", mpirun, exe);
    double secs = now() - t0;
    char *out = read_all(path_in("out.txt"), NULL);
    assert_non_null(out);
    fprintf(stderr, "killed rank: exit %d after %.1f s\n", rc, secs);
    assert_int_not_equal(rc, 0);
    assert_true(secs < 30.0);
    /* Open MPI's mpirun names the process that died */
    if (!strstr(out, "signal 9") && !strstr(out, "Killed")) {
        show_output();
        fail_msg("no message about the killed rank");
    }
    free(out);
}

static void test_unwritable_output_on_rank_zero_ends_the_job(void **s)
{
    (void)s;
    double t0 = now();
    int rc = run("%s " LM_FLAGS " --save no-such-folder/m.st --distributed", mpi(2));
    double secs = now() - t0;
    char *out = read_all(path_in("out.txt"), NULL);
    assert_non_null(out);
    assert_int_not_equal(rc, 0);
    assert_true(secs < 30.0);
    if (!strstr(out, "rank 0 of 2") || !strstr(out, "no-such-folder/m.st")) {
        show_output();
        fail_msg("no message naming rank 0 and the file");
    }
    free(out);
}

static int setup(void **s)
{
    (void)s;
    if (!mkdtemp(tmpdir)) return -1;
    /* a tiny text of 13 words */
    const char *w[] = { "the", "cat", "dog", "sat", "on", "mat", "a", "ran", "big", "red",
                        "blue", "house", "tree" };
    uint32_t x = 12345;
    for (int f = 0; f < 2; f++) {
        FILE *o = fopen(path_in(f ? "valid.txt" : "train.txt"), "w");
        if (!o) return -1;
        for (int line = 0; line < (f ? 20 : 200); line++) {
            for (int k = 0; k < 12; k++) {
                x = x * 1664525u + 1013904223u;
                fprintf(o, "%s%s", k ? " " : "", w[(x >> 16) % 13]);
            }
            fputc('\n', o);
        }
        if (fclose(o)) return -1;
    }
    /* 45 labelled sentences: the label is whether "cat" comes before "dog" */
    FILE *o = fopen(path_in("cls.txt"), "w");
    if (!o) return -1;
    for (int line = 0; line < 45; line++) {
        int len = 3 + line % 5;
        fprintf(o, "%s", line % 2 ? "pos" : "neg");
        for (int k = 0; k < len; k++) {
            x = x * 1664525u + 1013904223u;
            fprintf(o, " %s", k == 0 ? (line % 2 ? "cat" : "dog") : w[(x >> 16) % 13]);
        }
        fputc('\n', o);
    }
    if (fclose(o)) return -1;
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    exe = getenv("WEFT_EXE");
    mpirun = getenv("MPIRUN");
    if (!exe || !mpirun) {
        fprintf(stderr, "test_distributed: set WEFT_EXE and MPIRUN (meson test does)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lm_two_ranks),
        cmocka_unit_test(test_lm_four_ranks),
        cmocka_unit_test(test_window_lm_two_and_four_ranks),
        cmocka_unit_test(test_classifier_two_and_four_ranks),
        cmocka_unit_test(test_seq2seq_two_and_four_ranks),
        cmocka_unit_test(test_resume_with_other_rank_counts),
        cmocka_unit_test(test_killed_rank_ends_the_job),
        cmocka_unit_test(test_unwritable_output_on_rank_zero_ends_the_job),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
