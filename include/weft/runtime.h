/* weft/runtime.h — threads and what weft runs on.
 *
 * One setting decides the threads of both OpenMP (weft's elementwise loops)
 * and BLIS (its GEMMs): weft_set_num_threads(), or WEFT_NUM_THREADS in the
 * environment, read by weft_runtime_init(). The default is the number of
 * cores. weft never nests parallel regions: BLIS is only called from outside
 * them.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Read WEFT_NUM_THREADS (or use the number of cores) and apply it, and check
 * WEFT_PACKED_KERNEL, the micro-kernel of the packed per-step products:
 * 'auto' (the default: the best of weft's own this CPU runs, AVX-512 or
 * AVX2 + FMA, else BLIS's; on an AVX2 CPU BLIS's beside it for the products
 * its tiles suit, chosen by shape), 'weft' (weft's best alone),
 * 'weft-avx512', 'weft-avx2' (that one) or 'blis' (BLIS's). Returns 0, or -1 with a message in err when either is not one of
 * its values or names a kernel this CPU cannot run (the default is used
 * then). err may be NULL. */
int weft_runtime_init(char *err, size_t errsize);
/* The micro-kernel the packed products run on: "weft-avx512", "weft-avx2",
 * "blis", or "weft-avx2+blis" (both, by shape) (a static string). */
const char *weft_packed_kernel(void);
/* Threads that give way to other processes. On a machine whose cores other
 * processes also want, a team of threads waits at every barrier for the
 * member the kernel has not scheduled (BLIS's barriers spin): two threads
 * beside one busy process ran a training step several times slower than one
 * thread. A training loop that calls weft_thread_tuner_step after each step
 * (the library's trainer does) lets the tuner time steps with the threads
 * asked for and with half as many (or back up), interleaved a few steps
 * each, and keep the faster: again after a second of training when the
 * choice changed, then at intervals that double up to WEFT_TUNER_MAX_GAP
 * seconds, and never sooner than ten times the time the slower count lost
 * in the last try.
 * Any thread count gives the same bits, so the results do not change.
 * WEFT_ADAPT_THREADS=0 in the environment keeps the threads fixed. */
#define WEFT_TUNER_ROUNDS 4
#define WEFT_TUNER_MAX_GAP 20.0
typedef struct weft_thread_tuner {
    int most;                        /* the threads asked for */
    int level;                       /* the threads it runs with when not trying */
    int other;                       /* trying: the count timed against level */
    int phase;                       /* 0 warming up, 1 settled, 2 trying */
    int n;                           /* steps seen in this phase */
    double t_level[WEFT_TUNER_ROUNDS], t_other[WEFT_TUNER_ROUNDS];
    double since, gap;               /* settled: seconds since the last try, and until the next */
    int switches;                    /* times the choice changed (for logs and tests) */
    int down_next;                   /* between 1 and most: try fewer (1) or more (0) next */
} weft_thread_tuner;
/* Start from weft_num_threads() (nothing to tune at 1 thread, or with
 * WEFT_ADAPT_THREADS=0). */
void weft_thread_tuner_init(weft_thread_tuner *t);
/* The step just run took `seconds`; sets the threads for the next step. */
void weft_thread_tuner_step(weft_thread_tuner *t, double seconds);
/* Restore the threads asked for. */
void weft_thread_tuner_end(weft_thread_tuner *t);

/* Set OpenMP and BLIS threads together; n < 1 means the number of cores. */
void weft_set_num_threads(int n);
int weft_num_threads(void);
int weft_num_cores(void);

const char *weft_version(void);
const char *weft_blis_version(void);
/* The BLIS kernel configuration chosen for this CPU ("zen3", "haswell", ...). */
const char *weft_blis_arch(void);
/* Print one line: "weft 0.1.0: 2 threads (OpenMP + BLIS 0.9.0, zen3 kernels;
 * packed products on weft-avx2)". */
void weft_print_runtime(FILE *f);

/* The floating-point operations of every matrix product weft has run since
 * the program started, counted 2·M·N·K as each product is called (BLIS's
 * sgemm and weft's packed kernel alike), from all threads: the work a
 * benchmark divides by its time. Products an op skips (an input that wants
 * no gradient) are not counted because they are not run. */
unsigned long long weft_gemm_flops(void);

/* The BLIS context (a cntx_t *; borrowed, made once) that every one of
 * weft's BLIS sgemm calls passes: BLIS's own for this CPU, with its KC
 * blocking raised to 1024 where the core's L2 cache holds an MC x 1024 block
 * of A in 60% of it (1 MB on Zen 4; BLIS's zen3 configuration assumes 512
 * KB). For a benchmark that compares against BLIS with weft's settings: pass
 * it as bli_sgemm_ex's cntx. void * so that this header needs no blis.h. */
void *weft_blis_context(void);

#ifdef __cplusplus
}
#endif

#endif
