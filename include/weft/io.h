/* weft/io.h — checkpoints as safetensors files.
 *
 * A checkpoint is a safetensors file, the format PyTorch's ecosystem reads
 * (https://github.com/huggingface/safetensors):
 *
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object, padded with spaces so that 8 + N is a multiple of 8:
 *               { "__metadata__": { "weft.config": "{...}", ... },
 *                 "rnn.weight_ih_l0": { "dtype": "F32", "shape": [800, 200],
 *                                       "data_offsets": [0, 640000] }, ... }
 *   the rest  the tensors' bytes, little-endian; data_offsets are [begin, end)
 *             byte offsets from the start of this section; the tensors cover it
 *             exactly, without holes or overlaps.
 *
 * weft writes and loads float32 ("F32") tensors; it lists tensors of any dtype.
 * Metadata is a flat map of strings to strings: weft keeps the model
 * configuration in "weft.config" (a JSON object as a string) and the
 * vocabulary in "weft.vocab" (a JSON list as a string).
 *
 * Every function returns 0 on success or -1 on failure, with a message naming
 * the file and what was wrong written into err (always NUL-terminated when
 * errsize > 0; err may be NULL).
 *
 * Saving writes a temporary file in the target's folder, flushes it to disk
 * (fsync) and renames it over the target: a failed or interrupted save leaves
 * whatever was at the path before untouched. Loading reads and checks the
 * whole file before writing anything: a failed load leaves its destination
 * untouched. A header with a key twice (a tensor or "__metadata__") is
 * refused, and so is a tensor holding a NaN or an infinity (unless the flag
 * WEFT_LOAD_ALLOW_NONFINITE says otherwise).
 */
#ifndef WEFT_IO_H
#define WEFT_IO_H

#include <stddef.h>
#include <stdint.h>
#include "weft/params.h"
#include "weft/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One metadata entry. As an argument, both strings are borrowed. */
typedef struct weft_meta_kv {
    const char *key;
    const char *value;
} weft_meta_kv;

/* Flags for the load functions. */
enum {
    WEFT_LOAD_ALLOW_EXTRA = 1,   /* tensors in the file that nothing asks for are ignored
                                    (by default they are an error) */
    WEFT_LOAD_ALLOW_NONFINITE = 2,   /* NaN and infinite elements are loaded as they are (by
                                        default they are an error naming the tensor and the
                                        element: a model with one is broken) */
};

/* Save every parameter of the store, under its name and in store order, with
 * the n_meta metadata entries (meta may be NULL when n_meta is 0). Borrows
 * everything; writes path atomically (see above). */
int weft_checkpoint_save(const char *path, const weft_params *s, const weft_meta_kv *meta,
                         int n_meta, char *err, size_t errsize);

/* Load the file into an existing store: every parameter must be in the file,
 * as F32 with exactly the parameter's shape; a tensor in the file that the
 * store lacks is an error unless flags has WEFT_LOAD_ALLOW_EXTRA. On any error
 * the store's values are unchanged. Gradients and optimizer state are not
 * touched. */
int weft_checkpoint_load(const char *path, weft_params *s, unsigned flags, char *err,
                         size_t errsize);

/* The general forms of the two above, over any n named tensors (for instance
 * optimizer state slots viewed as tensors). Save borrows names and tensors.
 * Load fills dst[i] (borrowed, data must be non-NULL) from the tensor named
 * names[i]; the same rules and the same all-or-nothing guarantee apply. */
int weft_checkpoint_save_tensors(const char *path, int n, const char *const *names,
                                 const weft_tensor *tensors, const weft_meta_kv *meta,
                                 int n_meta, char *err, size_t errsize);
int weft_checkpoint_load_tensors(const char *path, int n, const char *const *names,
                                 weft_tensor *dst, unsigned flags, char *err, size_t errsize);

/* --- reading a file's header only (no tensor data) ---------------------------- */

#define WEFT_CHECKPOINT_MAX_RANK 8

typedef struct weft_checkpoint_tensor {
    char *name;                               /* owned by the weft_checkpoint */
    char dtype[16];                           /* "F32", "F16", "BF16", "I64", ... */
    int rank;                                 /* 0 (a scalar) .. WEFT_CHECKPOINT_MAX_RANK */
    int64_t shape[WEFT_CHECKPOINT_MAX_RANK];
    uint64_t begin, end;                      /* byte range within the data section */
} weft_checkpoint_tensor;

typedef struct weft_checkpoint {
    weft_meta_kv *meta;                       /* n_meta entries, file order */
    int n_meta;
    weft_checkpoint_tensor *tensors;          /* n_tensors entries, by data offset */
    int n_tensors;
    int *by_name;                             /* indices into tensors, sorted by name:
                                                 weft_checkpoint_find's binary search */
    uint64_t header_bytes;                    /* N */
    uint64_t data_bytes;                      /* size of the data section */
} weft_checkpoint;

/* Read and check the header of a checkpoint: its metadata (so a program can
 * learn a model's configuration before building it) and its list of tensors.
 * On success *c owns every string and array in it: free with
 * weft_checkpoint_free. On failure *c is left empty (safe to free). */
int weft_checkpoint_read(const char *path, weft_checkpoint *c, char *err, size_t errsize);
void weft_checkpoint_free(weft_checkpoint *c);

/* The value of a metadata key, or NULL. Borrowed from c. */
const char *weft_checkpoint_meta(const weft_checkpoint *c, const char *key);
/* The tensor of that name, or NULL (O(log n)). Borrowed from c. */
const weft_checkpoint_tensor *weft_checkpoint_find(const weft_checkpoint *c, const char *name);

#ifdef __cplusplus
}
#endif

#endif
