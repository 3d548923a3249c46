/* src/distributed.c — the processes of a data-parallel run (weft/distributed.h).
 *
 * With MPI (WEFT_HAVE_MPI, meson -Dmpi): thin checked wrappers over one
 * duplicate of MPI_COMM_WORLD, set to return errors. Without: one process,
 * every collective a no-op. */
#include "weft/distributed.h"
#include "src/internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef WEFT_HAVE_MPI
#include <mpi.h>
#endif

struct weft_comm {
    int rank, size;
    bool finalize;          /* weft_dist_init started MPI: weft_dist_finalize ends it */
#ifdef WEFT_HAVE_MPI
    MPI_Comm mpi;           /* MPI_COMM_NULL: the single process */
    MPI_Request *pending;   /* the sums started and not yet waited for (malloc'd) */
    int n_pending, cap_pending;
#endif
};

bool weft_dist_available(void)
{
#ifdef WEFT_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int weft_comm_rank(const weft_comm *c)
{
    return c ? c->rank : 0;
}

int weft_comm_size(const weft_comm *c)
{
    return c ? c->size : 1;
}

size_t weft_dist_share(size_t n, int rank, int size, size_t *first)
{
    size_t r = (size_t)rank, s = size > 0 ? (size_t)size : 1, base = n / s, extra = n % s;
    *first = r * base + (r < extra ? r : extra);
    return base + (r < extra ? 1 : 0);
}

#ifdef WEFT_HAVE_MPI

/* Is c a group of several processes, with MPI underneath? */
static bool is_mpi(const weft_comm *c)
{
    return c && c->mpi != MPI_COMM_NULL;
}

/* 0, or -1 with "what: MPI's message" in err. */
static int check(int rc, const char *what, char *err, size_t errsize)
{
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    weft_say(err, errsize, "%s failed: %s (another rank may have died)", what, msg);
    return -1;
}

weft_comm *weft_dist_init(int *argc, char ***argv, char *err, size_t errsize)
{
    weft_comm *c = calloc(1, sizeof *c);
    if (!c) {
        weft_say(err, errsize, "out of memory");
        return NULL;
    }
    c->size = 1;
    c->mpi = MPI_COMM_NULL;
    int started = 0, provided = 0;
    if (check(MPI_Initialized(&started), "MPI_Initialized", err, errsize)) goto fail;
    if (!started) {
        if (check(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread",
                  err, errsize))
            goto fail;
        c->finalize = true;
    }
    if (check(MPI_Comm_dup(MPI_COMM_WORLD, &c->mpi), "MPI_Comm_dup", err, errsize) ||
        check(MPI_Comm_set_errhandler(c->mpi, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler",
              err, errsize) ||
        check(MPI_Comm_rank(c->mpi, &c->rank), "MPI_Comm_rank", err, errsize) ||
        check(MPI_Comm_size(c->mpi, &c->size), "MPI_Comm_size", err, errsize))
        goto fail;
    return c;
fail:
    if (c->finalize) MPI_Finalize();
    free(c);
    return NULL;
}

void weft_dist_finalize(weft_comm *c)
{
    if (!c) return;
    if (c->mpi != MPI_COMM_NULL) MPI_Comm_free(&c->mpi);
    if (c->finalize) MPI_Finalize();
    free(c->pending);
    free(c);
}

/* MPI counts are ints: a long buffer goes in pieces of at most 2^30 elements. */
#define PIECE ((size_t)1 << 30)

static int allreduce(weft_comm *c, void *x, size_t n, size_t elem, MPI_Datatype type, MPI_Op op,
                     char *err, size_t errsize)
{
    if (!is_mpi(c) || c->size == 1) return 0;
    for (size_t at = 0; at < n; at += PIECE) {
        size_t k = n - at < PIECE ? n - at : PIECE;
        if (check(MPI_Allreduce(MPI_IN_PLACE, (char *)x + at * elem, (int)k, type, op, c->mpi),
                  "MPI_Allreduce", err, errsize))
            return -1;
    }
    return 0;
}

int weft_comm_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize)
{
    return allreduce(c, x, n, sizeof *x, MPI_FLOAT, MPI_SUM, err, errsize);
}

int weft_comm_sum_doubles(weft_comm *c, double *x, size_t n, char *err, size_t errsize)
{
    return allreduce(c, x, n, sizeof *x, MPI_DOUBLE, MPI_SUM, err, errsize);
}

int weft_comm_start_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->size == 1) return 0;
    for (size_t at = 0; at < n; at += PIECE) {
        size_t k = n - at < PIECE ? n - at : PIECE;
        if (c->n_pending == c->cap_pending) {
            int cap = c->cap_pending ? 2 * c->cap_pending : 16;
            MPI_Request *p = realloc(c->pending, (size_t)cap * sizeof *p);
            if (!p) {
                weft_say(err, errsize, "out of memory for the pending sums");
                return -1;
            }
            c->pending = p;
            c->cap_pending = cap;
        }
        if (check(MPI_Iallreduce(MPI_IN_PLACE, x + at, (int)k, MPI_FLOAT, MPI_SUM, c->mpi,
                                 &c->pending[c->n_pending]),
                  "MPI_Iallreduce", err, errsize))
            return -1;
        c->n_pending++;
    }
    return 0;
}

int weft_comm_progress(weft_comm *c, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->n_pending == 0) return 0;
    int done = 0;
    return check(MPI_Testall(c->n_pending, c->pending, &done, MPI_STATUSES_IGNORE),
                 "MPI_Testall", err, errsize);
}

int weft_comm_wait(weft_comm *c, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->n_pending == 0) return 0;
    int n = c->n_pending;
    c->n_pending = 0;
    return check(MPI_Waitall(n, c->pending, MPI_STATUSES_IGNORE), "MPI_Waitall", err, errsize);
}

int weft_comm_max_ints(weft_comm *c, int *x, size_t n, char *err, size_t errsize)
{
    return allreduce(c, x, n, sizeof *x, MPI_INT, MPI_MAX, err, errsize);
}

int weft_comm_broadcast(weft_comm *c, void *buf, size_t n, int root, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->size == 1) return 0;
    for (size_t at = 0; at < n; at += PIECE) {
        size_t k = n - at < PIECE ? n - at : PIECE;
        if (check(MPI_Bcast((char *)buf + at, (int)k, MPI_BYTE, root, c->mpi), "MPI_Bcast", err,
                  errsize))
            return -1;
    }
    return 0;
}

int weft_comm_gather_floats(weft_comm *c, const float *mine, size_t n_mine, float *all,
                            int root, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->size == 1) {
        if (n_mine) memmove(all, mine, n_mine * sizeof *mine);
        return 0;
    }
    if (n_mine > INT_MAX) {
        weft_say(err, errsize, "MPI_Gatherv: %zu floats on one rank are more than MPI counts",
                 n_mine);
        return -1;
    }
    int n = (int)n_mine, *counts = NULL, *displs = NULL, rc = -1;
    if (c->rank == root) {
        counts = calloc((size_t)c->size, sizeof *counts);
        displs = calloc((size_t)c->size, sizeof *displs);
        if (!counts || !displs) {
            weft_say(err, errsize, "out of memory");
            /* the others still gather: abort rather than leave them waiting */
            free(counts);
            free(displs);
            weft_comm_abort(c, 1);
        }
    }
    if (check(MPI_Gather(&n, 1, MPI_INT, counts, 1, MPI_INT, root, c->mpi), "MPI_Gather", err,
              errsize))
        goto done;
    if (c->rank == root) {
        long long at = 0;
        for (int r = 0; r < c->size; r++) {
            if (at > INT_MAX) {
                weft_say(err, errsize, "MPI_Gatherv: more floats than MPI counts");
                weft_comm_abort(c, 1);
            }
            displs[r] = (int)at;
            at += counts[r];
        }
    }
    rc = check(MPI_Gatherv(mine, n, MPI_FLOAT, all, counts, displs, MPI_FLOAT, root, c->mpi),
               "MPI_Gatherv", err, errsize);
done:
    free(counts);
    free(displs);
    return rc;
}

int weft_comm_barrier(weft_comm *c, char *err, size_t errsize)
{
    if (!is_mpi(c) || c->size == 1) return 0;
    return check(MPI_Barrier(c->mpi), "MPI_Barrier", err, errsize);
}

_Noreturn void weft_comm_abort(weft_comm *c, int code)
{
    fflush(stdout);
    fflush(stderr);
    if (is_mpi(c) && c->size > 1) MPI_Abort(c->mpi, code);
    exit(code);
}

#else /* one process */

weft_comm *weft_dist_init(int *argc, char ***argv, char *err, size_t errsize)
{
    (void)argc, (void)argv;
    weft_comm *c = calloc(1, sizeof *c);
    if (!c) weft_say(err, errsize, "out of memory");
    else c->size = 1;
    return c;
}

void weft_dist_finalize(weft_comm *c)
{
    free(c);
}

int weft_comm_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize)
{
    (void)c, (void)x, (void)n, (void)err, (void)errsize;
    return 0;
}

int weft_comm_sum_doubles(weft_comm *c, double *x, size_t n, char *err, size_t errsize)
{
    (void)c, (void)x, (void)n, (void)err, (void)errsize;
    return 0;
}

int weft_comm_start_sum_floats(weft_comm *c, float *x, size_t n, char *err, size_t errsize)
{
    (void)c, (void)x, (void)n, (void)err, (void)errsize;
    return 0;
}

int weft_comm_progress(weft_comm *c, char *err, size_t errsize)
{
    (void)c, (void)err, (void)errsize;
    return 0;
}

int weft_comm_wait(weft_comm *c, char *err, size_t errsize)
{
    (void)c, (void)err, (void)errsize;
    return 0;
}

int weft_comm_max_ints(weft_comm *c, int *x, size_t n, char *err, size_t errsize)
{
    (void)c, (void)x, (void)n, (void)err, (void)errsize;
    return 0;
}

int weft_comm_broadcast(weft_comm *c, void *buf, size_t n, int root, char *err, size_t errsize)
{
    (void)c, (void)buf, (void)n, (void)root, (void)err, (void)errsize;
    return 0;
}

int weft_comm_gather_floats(weft_comm *c, const float *mine, size_t n_mine, float *all,
                            int root, char *err, size_t errsize)
{
    (void)c, (void)root, (void)err, (void)errsize;
    if (n_mine) memmove(all, mine, n_mine * sizeof *mine);
    return 0;
}

int weft_comm_barrier(weft_comm *c, char *err, size_t errsize)
{
    (void)c, (void)err, (void)errsize;
    return 0;
}

_Noreturn void weft_comm_abort(weft_comm *c, int code)
{
    (void)c;
    fflush(stdout);
    fflush(stderr);
    exit(code);
}

#endif
