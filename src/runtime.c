/* src/runtime.c — threads and versions (weft/runtime.h). */
#include "weft/runtime.h"
#include "src/internal.h"
#include "src/matmul.h"

#include <blis.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEFT_VERSION_STRING "0.1.0"

static int current_threads = 0;
static _Atomic unsigned long long gemm_flops = 0;

void weft_count_gemm(int m, int n, int k)
{
    atomic_fetch_add_explicit(&gemm_flops, 2ull * (unsigned long long)m * (unsigned long long)n *
                                               (unsigned long long)k, memory_order_relaxed);
}

unsigned long long weft_gemm_flops(void)
{
    return atomic_load_explicit(&gemm_flops, memory_order_relaxed);
}

/* BLIS 0.9's sgemm packs A in blocks of MC x KC (144 x 256 in its zen3
 * configuration, sized for Zen 3's 512 KB L2) and adds into C once per KC
 * rows of K. On a core with 1 MB of L2 (Zen 4, which Debian's BLIS runs with
 * the zen3 configuration) a KC of 1024 keeps the block in L2 and visits C a
 * quarter as often: measured at 2 threads, 3200 x 2048 x 512 (the H = 512
 * layer's input projection) 208-209 -> 217-219 GFLOP/s, its weight gradient
 * 2048 x 512 x 3200 202 -> 206-208, 700 x 650 x 2600 203-204 -> 211-212, the
 * per-step 64 x 2048 x 1024 160 -> 166-168 (docs/performance-profile.md).
 * The sum over K is grouped by KC, so KC is fixed once: the bits still do
 * not depend on the thread count. */
static cntx_t blis_context;

static void blis_context_make(void)
{
    cntx_t *own = bli_gks_query_cntx();
    blis_context = *own;
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    dim_t mc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MC, own);
    dim_t kc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, own);
    if (l2 > 0 && kc < WEFT_BLIS_KC &&
        (double)mc * WEFT_BLIS_KC * sizeof(float) <= 0.6 * (double)l2) {
        blksz_t b = *bli_cntx_get_blksz(BLIS_KC, &blis_context);
        bli_blksz_set_def(WEFT_BLIS_KC, BLIS_FLOAT, &b);
        bli_blksz_set_max(WEFT_BLIS_KC, BLIS_FLOAT, &b);
        blis_context.blkszs[BLIS_KC] = b;
    }
}

void *weft_blis_context(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, blis_context_make);
    return &blis_context;
}

int weft_num_cores(void)
{
    return omp_get_num_procs();
}

void weft_set_num_threads(int n)
{
    if (n < 1) n = weft_num_cores();
    current_threads = n;
    omp_set_num_threads(n);
    /* BLIS does not follow omp_set_num_threads: tell it too. */
    bli_thread_set_num_threads(n);
}

int weft_num_threads(void)
{
    return current_threads ? current_threads : omp_get_max_threads();
}

/* --- threads that give way (weft/runtime.h) ------------------------------------------- */

static double median_of(const double *x, int n)
{
    double v[WEFT_TUNER_ROUNDS];
    memcpy(v, x, (size_t)n * sizeof *v);
    for (int i = 1; i < n; i++)   /* insertion sort: n is 4 */
        for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
            double tmp = v[j];
            v[j] = v[j - 1];
            v[j - 1] = tmp;
        }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void weft_thread_tuner_init(weft_thread_tuner *t)
{
    memset(t, 0, sizeof *t);
    t->most = t->level = weft_num_threads();
    const char *env = getenv("WEFT_ADAPT_THREADS");
    if (t->most <= 1 || (env && strcmp(env, "0") == 0)) t->most = 0;   /* off */
}

/* Begin trying: the neighbour of level, fewer threads first (half as many),
 * from 1 thread more (twice as many, up to most), in between by turns. */
static void tuner_try(weft_thread_tuner *t)
{
    bool down = t->level == t->most ? true : t->level == 1 ? false : t->down_next;
    t->down_next = !down;
    t->other = down ? (t->level / 2 > 0 ? t->level / 2 : 1)
                    : (t->level * 2 < t->most ? t->level * 2 : t->most);
    t->phase = 2;
    t->n = 0;
    weft_set_num_threads(t->level);
}

void weft_thread_tuner_step(weft_thread_tuner *t, double seconds)
{
    if (t->most <= 0) return;
    if (t->phase == 0) {   /* the first step grows arenas and packs weights: not timed */
        tuner_try(t);
        return;
    }
    if (t->phase == 1) {
        t->since += seconds;
        if (t->since >= t->gap) tuner_try(t);
        return;
    }
    /* trying: steps alternate level, other, level, other ... */
    int round = t->n / 2;
    if (t->n % 2 == 0) t->t_level[round] = seconds;
    else t->t_other[round] = seconds;
    t->n++;
    /* a count more than twice as slow in every step so far loses at once: a
     * step on a core another process holds can take several times a free
     * one's, and trying costs those steps */
    bool early = false, early_move = false;
    if (t->n % 2 == 0) {
        double lmin = 1e300, lmax = 0, omin = 1e300, omax = 0;
        for (int i = 0; i < t->n / 2; i++) {
            lmin = t->t_level[i] < lmin ? t->t_level[i] : lmin;
            lmax = t->t_level[i] > lmax ? t->t_level[i] : lmax;
            omin = t->t_other[i] < omin ? t->t_other[i] : omin;
            omax = t->t_other[i] > omax ? t->t_other[i] : omax;
        }
        early_move = 2 * omax < lmin;
        early = early_move || omin > 2 * lmax;
    }
    if (!early && t->n < 2 * WEFT_TUNER_ROUNDS) {
        weft_set_num_threads(t->n % 2 == 0 ? t->level : t->other);
        return;
    }
    /* else the other count must be clearly faster (5%) to take over */
    bool moved = early ? early_move
                       : median_of(t->t_other, WEFT_TUNER_ROUNDS) <
                             0.95 * median_of(t->t_level, WEFT_TUNER_ROUNDS);
    if (moved) {
        t->level = t->other;
        t->switches++;
    }
    t->gap = moved || t->gap <= 0 ? 1.0 : (2 * t->gap < WEFT_TUNER_MAX_GAP ? 2 * t->gap
                                                                            : WEFT_TUNER_MAX_GAP);
    /* and at least ten times what the losing count's steps cost over the
     * winner's, so that trying again costs under a tenth of the time (a step
     * beside a busy process can take several seconds more) */
    double lmin = 1e300, omin = 1e300;
    for (int i = 0; i < t->n / 2; i++) {
        lmin = t->t_level[i] < lmin ? t->t_level[i] : lmin;
        omin = t->t_other[i] < omin ? t->t_other[i] : omin;
    }
    double lost = (moved ? lmin - omin : omin - lmin) * (t->n / 2);
    if (10 * lost > t->gap) t->gap = 10 * lost;
    t->since = 0;
    t->phase = 1;
    weft_set_num_threads(t->level);
}

void weft_thread_tuner_end(weft_thread_tuner *t)
{
    if (t->most > 0) weft_set_num_threads(t->most);
}

int weft_runtime_init(char *err, size_t errsize)
{
    const char *env = getenv("WEFT_NUM_THREADS");
    int n = 0, rc = 0;
    if (env && env[0]) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end != '\0' || v < 1 || v > 4096) {
            if (err) snprintf(err, errsize, "WEFT_NUM_THREADS='%s' is not a whole number from 1 "
                              "to 4096; using %d (the number of cores)", env, weft_num_cores());
            rc = -1;
        } else {
            n = (int)v;
        }
    }
    weft_set_num_threads(n);
    /* read where the packed products find their micro-kernel (src/matmul_kernel.c) */
    const char *kernel = getenv("WEFT_PACKED_KERNEL");
    if (rc == 0 && kernel && kernel[0]) {
        int which = weft_packed_kernel_parse(kernel);
        if (which < 0) {
            if (err) snprintf(err, errsize, "WEFT_PACKED_KERNEL='%s' is not one of auto, "
                              "weft, weft-avx512, weft-avx2, blis; using %s", kernel,
                              weft_packed_kernel());
            rc = -1;
        } else if (!weft_packed_kernel_available(which)) {
            if (err) snprintf(err, errsize, "WEFT_PACKED_KERNEL='%s': this CPU cannot run it; "
                              "using %s", kernel, weft_packed_kernel());
            rc = -1;
        }
    }
    return rc;
}

const char *weft_version(void)
{
    return WEFT_VERSION_STRING;
}

const char *weft_blis_version(void)
{
    return bli_info_get_version_str();
}

const char *weft_blis_arch(void)
{
    return bli_arch_string(bli_arch_query_id());
}

const char *weft_packed_kernel(void)
{
    /* 'auto' with two kernels: weft's AVX2 tiles and BLIS's, by shape */
    if (weft_packed_kernel_by_shape()) return "weft-avx2+blis";
    return weft_packed_kernel_name(weft_gemm_kernel()->which);
}

void weft_print_runtime(FILE *f)
{
    fprintf(f, "weft %s: %d thread%s (OpenMP + BLIS %s, %s kernels; packed products on %s)\n",
            weft_version(), weft_num_threads(), weft_num_threads() == 1 ? "" : "s",
            weft_blis_version(), weft_blis_arch(), weft_packed_kernel());
}
