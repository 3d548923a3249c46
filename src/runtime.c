/* src/runtime.c — threads and versions (weft/runtime.h). */
#include "weft/runtime.h"
#include "internal.h"

#include <blis.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

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

int weft_runtime_init(char *err, size_t errsize)
{
    const char *env = getenv("WEFT_NUM_THREADS");
    int n = 0, rc = 0;
    if (env && env[0]) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end != '\0' || v < 1 || v > 4096) {
            if (err) snprintf(err, errsize, "WEFT_NUM_THREADS='%s' is not a positive integer; "
                              "using %d (the number of cores)", env, weft_num_cores());
            rc = -1;
        } else {
            n = (int)v;
        }
    }
    weft_set_num_threads(n);
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

void weft_print_runtime(FILE *f)
{
    fprintf(f, "weft %s: %d thread%s (OpenMP + BLIS %s, %s kernels)\n", weft_version(),
            weft_num_threads(), weft_num_threads() == 1 ? "" : "s", weft_blis_version(),
            weft_blis_arch());
}
