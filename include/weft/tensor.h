/* weft/tensor.h — dense float32 tensors.
 *
 * A weft_tensor is a small descriptor (shape + pointer), passed by value or
 * pointer. Its data is float32, contiguous, row-major, rank 1..4, and, when
 * weft allocates it, 64-byte aligned. A descriptor never says whether it owns
 * its data: each function below says who owns what it returns.
 *
 * Shapes follow one convention throughout weft: the last dimension is the
 * feature dimension ("columns"); all leading dimensions together are "rows".
 * A sequence batch is T x B x F (T*B rows of F); one time step is B x F.
 */
#ifndef WEFT_TENSOR_H
#define WEFT_TENSOR_H

#include <stddef.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MAX_RANK 4
#define WEFT_ALIGN 64

typedef struct weft_tensor {
    float *data;               /* first element; NULL for an empty descriptor */
    int rank;                  /* 1..WEFT_MAX_RANK */
    int shape[WEFT_MAX_RANK];  /* shape[rank..] are 1 */
    size_t size;               /* number of elements: the product of shape[0..rank) */
} weft_tensor;

/* Allocate a zero-filled tensor. The caller owns the data and frees it with
 * weft_tensor_release(). Returns an empty descriptor (data NULL) on a bad shape
 * or when memory runs out. */
weft_tensor weft_tensor_alloc(int rank, const int *shape);
/* Shorthands for rank 1 and rank 2 (rows x cols). Same ownership as above. */
weft_tensor weft_tensor_alloc1(int n);
weft_tensor weft_tensor_alloc2(int rows, int cols);
/* Free data allocated by weft_tensor_alloc*() and clear the descriptor. */
void weft_tensor_release(weft_tensor *t);

/* A descriptor over borrowed memory (no copy, no ownership). */
weft_tensor weft_tensor_wrap(float *data, int rank, const int *shape);

/* Number of feature columns (last dimension) and rows (everything before it). */
int weft_tensor_cols(const weft_tensor *t);
int weft_tensor_rows(const weft_tensor *t);

/* A view (borrowed) of rows [start, start + count) along the first dimension:
 * a T x B x F tensor viewed at (t, 1) is the 1 x B x F step t. */
weft_tensor weft_tensor_view_rows(const weft_tensor *t, int start, int count);

void weft_tensor_fill(weft_tensor *t, float value);
/* Copy src into dst; both must have the same number of elements. Returns 0, or
 * -1 (and copies nothing) when they differ. */
int weft_tensor_copy(weft_tensor *dst, const weft_tensor *src);
bool weft_tensor_same_shape(const weft_tensor *a, const weft_tensor *b);

/* Format a shape as "[2, 3]" into buf (always NUL-terminated); returns buf. */
char *weft_shape_str(const weft_tensor *t, char *buf, size_t bufsize);

/* 64-byte aligned allocation used throughout weft (from 4 MB on, 2 MB aligned
 * and advised as transparent huge pages where Linux has them); the caller
 * owns it: free with weft_aligned_free. */
void *weft_aligned_alloc(size_t bytes);
void weft_aligned_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
