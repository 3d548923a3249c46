/* weft/params.h — the parameter store.
 *
 * Parameters live outside graphs, in a named store shared by every graph that
 * uses them. The store keeps all values in one contiguous buffer and all
 * gradients in another of the same layout (each tensor starts on a 64-byte
 * boundary), so zeroing, clipping, updating and saving are single loops. An
 * optimizer may ask for more buffers of the same layout (its state slots).
 *
 * Parameters are read-only while graphs run forward and backward; backward
 * adds into the gradients.
 */
#ifndef WEFT_PARAMS_H
#define WEFT_PARAMS_H

#include "weft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_params weft_params;

#define WEFT_PARAM_NAME_MAX 96

typedef struct weft_param {
    char name[WEFT_PARAM_NAME_MAX];  /* "rnn.weight_ih_l0" */
    weft_tensor value;               /* views into the store's buffers */
    weft_tensor grad;
    size_t offset;                   /* first element within the store's buffers */
    int id;                          /* index in the store */
    weft_params *store;
} weft_param;

/* A new empty store; the caller owns it (weft_params_free). */
weft_params *weft_params_new(void);
/* Frees the store and every parameter in it. */
void weft_params_free(weft_params *s);

/* Add a zero-filled parameter. The returned pointer is owned by the store and
 * stays valid until the store is freed; the tensors inside it are re-pointed
 * when the store grows, so keep the weft_param*, not its data pointer.
 * Returns NULL (with weft_params_error set) on a duplicate or over-long name,
 * a bad shape or no memory. */
weft_param *weft_params_add(weft_params *s, const char *name, int rank, const int *shape);
/* The parameter of that name, or NULL. */
weft_param *weft_params_find(const weft_params *s, const char *name);
int weft_params_count(const weft_params *s);
weft_param *weft_params_at(const weft_params *s, int i);
/* Number of parameter elements (without the alignment padding). */
size_t weft_params_numel(const weft_params *s);

/* The contiguous buffers, weft_params_span() floats each, padding zeroed.
 * Borrowed; valid until the next weft_params_add. */
size_t weft_params_span(const weft_params *s);
float *weft_params_values(weft_params *s);
float *weft_params_grads(weft_params *s);
/* Optimizer state slot k (0..3), allocated zero-filled on first use with the
 * same layout as the values. NULL when out of memory. */
float *weft_params_state(weft_params *s, int k);
/* Zero every optimizer state slot (a fresh optimizer). */
void weft_params_reset_state(weft_params *s);

void weft_params_zero_grad(weft_params *s);

/* The last error of the store, or NULL. */
const char *weft_params_error(const weft_params *s);

#ifdef __cplusplus
}
#endif

#endif
