/* weft/distributed.h — the processes of a data-parallel run (MPI).
 *
 * A weft_comm is the group of processes ("ranks") that train one model
 * together: each computes the gradient of its share of the global batch, the
 * gradients are averaged (one MPI_Allreduce over the parameter store's
 * contiguous gradient buffer), and every rank applies the same update. The
 * trainer does all of that when weft_train_opts.comm is set (weft/train.h);
 * this header is what a program needs around it: start and end the processes,
 * ask which one it is, and the few collectives the trainer and the task models
 * use.
 *
 * MPI's own types stay out of this header: a program that includes it builds
 * and links the same whether weft was built with MPI (meson -Dmpi) or not.
 * Without MPI, weft_dist_init gives a communicator of one process and every
 * collective is a copy or nothing: the same program runs on one process.
 * weft_dist_available says which build this is.
 *
 * Errors: every MPI call is checked (the communicator is set to return
 * errors, MPI_ERRORS_RETURN, not to abort silently); a failed collective
 * returns -1 with MPI's message in err. A rank that cannot go on while the
 * others wait in a collective ends the whole job with weft_comm_abort (the
 * trainer does that on its own errors, after printing them): Open MPI's
 * mpirun then stops every process and says which one failed, so a job never
 * hangs on a dead or failed rank.
 *
 * Threads: call these from one thread per process (MPI_THREAD_FUNNELED);
 * OpenMP and BLIS threads inside a rank are fine.
 */
#ifndef WEFT_DISTRIBUTED_H
#define WEFT_DISTRIBUTED_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_comm weft_comm;

/* Was weft built with MPI? (False: weft_dist_init gives one process.) */
bool weft_dist_available(void);

/* Start the processes' communication (MPI_Init_thread; argc and argv may be
 * NULL) and return the communicator of all of them (MPI_COMM_WORLD's
 * processes), owned by the caller: weft_dist_finalize. Without MPI, or when
 * the program was not started by mpirun, a communicator of one process.
 * NULL with a message in err when MPI cannot start. */
weft_comm *weft_dist_init(int *argc, char ***argv, char *err, size_t errsize);
/* Free the communicator and end MPI (MPI_Finalize) when weft_dist_init
 * started it. NULL is fine. */
void weft_dist_finalize(weft_comm *c);

/* This process's rank (0 .. size-1) and the number of processes. NULL is the
 * single process: rank 0 of 1. */
int weft_comm_rank(const weft_comm *c);
int weft_comm_size(const weft_comm *c);

/* Sum x[0..n) over all ranks, in place, on every rank (MPI_Allreduce). 0, or
 * -1 with a message. The floats' sum is MPI's: on one host Open MPI adds the
 * ranks' vectors in rank order, so the result is the same on every rank. */
int weft_comm_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize);
int weft_comm_sum_doubles(weft_comm *c, double *x, size_t n, char *err, size_t errsize);
/* The same sum started and left to run (MPI_Iallreduce, in place): x must
 * stay untouched until weft_comm_wait returns. Every rank starts the same
 * sums in the same order. weft_comm_progress lets MPI move the sums started
 * on (call it now and then while computing: Open MPI advances a nonblocking
 * collective only inside MPI calls); weft_comm_wait waits for all of them.
 * 0, or -1 with a message. */
int weft_comm_start_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize);
int weft_comm_progress(weft_comm *c, char *err, size_t errsize);
int weft_comm_wait(weft_comm *c, char *err, size_t errsize);
/* The largest of x[0..n) over all ranks, in place (a stop flag any rank raised). */
int weft_comm_max_ints(weft_comm *c, int *x, size_t n, char *err, size_t errsize);
/* Copy root's bytes [0, n) to every rank (MPI_Bcast). */
int weft_comm_broadcast(weft_comm *c, void *buf, size_t n, int root, char *err,
                        size_t errsize);
/* Gather each rank's n_mine floats into all[] on root, in rank order
 * (MPI_Gatherv); all is used on root only and holds the sum of every rank's
 * n_mine. */
int weft_comm_gather_floats(weft_comm *c, const float *mine, size_t n_mine, float *all,
                            int root, char *err, size_t errsize);
/* Wait for every rank (MPI_Barrier). */
int weft_comm_barrier(weft_comm *c, char *err, size_t errsize);

/* End every process of the job with exit status code (MPI_Abort); on one
 * process, exit(code). Does not return. */
void weft_comm_abort(weft_comm *c, int code) __attribute__((noreturn));

/* The share of n items (examples, streams) that rank `rank` of `size` takes:
 * items [*first, *first + return) of the n, the ranks in order, the first
 * n % size ranks taking one more. */
size_t weft_dist_share(size_t n, int rank, int size, size_t *first);

#ifdef __cplusplus
}
#endif

#endif
