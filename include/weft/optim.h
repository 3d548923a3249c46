/* weft/optim.h — initialisation, optimizers and gradient clipping.
 *
 * Everything here works on the parameter store (weft/params.h). The
 * optimizers and the clipping functions are single loops over the store's
 * contiguous buffers (values, gradients, optimizer state slots), with the
 * update rules of torch.optim, so that a run in weft and a run in PyTorch
 * from the same weights and gradients give the same numbers.
 *
 * A typical step:
 *
 *     weft_params_zero_grad(params);
 *     ... forward, weft_backward ...
 *     float norm = weft_clip_grad_norm(params, 5.0f);
 *     weft_optim_step(&opt, params);
 */
#ifndef WEFT_OPTIM_H
#define WEFT_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include "weft/params.h"
#include "weft/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- initialisation of one parameter --------------------------------------- */

/* Uniform in [-k, k) (Zaremba et al. 2014 use k = 0.1; PyTorch's RNN layers
 * use k = 1/sqrt(hidden)). */
void weft_init_uniform(weft_param *p, weft_rng *r, float k);

/* Every element set to value (biases; the LSTM forget-gate bias of 1). */
void weft_init_constant(weft_param *p, float value);

/* Xavier/Glorot uniform (Glorot & Bengio 2010): uniform in [-a, a) with
 * a = gain * sqrt(6 / (fan_in + fan_out)). The parameter is read as PyTorch
 * does: shape [fan_out, fan_in, rest...], each fan multiplied by the product
 * of the rest. Returns -1 (err set, nothing written) for a rank-1 parameter. */
int weft_init_xavier_uniform(weft_param *p, weft_rng *r, float gain, char *err,
                             size_t errsize);

/* Orthogonal (Saxe et al. 2014), for recurrent matrices. The parameter, read
 * as a [rows, cols] matrix (cols = the product of all but the first dimension),
 * is cut into `blocks` row blocks of rows/blocks rows each, and each block is
 * made orthogonal independently: for the stacked-gates matrix of an LSTM,
 * weight_hh [4H, H] with blocks = 4, each gate's H x H matrix Q has QᵀQ = I.
 * A block with more columns than rows gets orthonormal rows instead, as
 * torch.nn.init.orthogonal_ does. Each block is a QR factorisation (modified
 * Gram-Schmidt, twice, in double) of a standard normal matrix from r, signs
 * chosen so that R has a positive diagonal; the result is scaled by gain.
 * Returns -1 (err set, nothing written) when rows is not a multiple of blocks. */
int weft_init_orthogonal(weft_param *p, weft_rng *r, int blocks, float gain, char *err,
                         size_t errsize);

/* --- optimizers -------------------------------------------------------------- */

typedef enum weft_optim_kind {
    WEFT_SGD,        /* p -= lr * (g + wd p); with momentum mu > 0 PyTorch's heavy ball */
    WEFT_ADAM,       /* Kingma & Ba 2015, as torch.optim.Adam (weight decay added to g) */
    WEFT_ADAMW,      /* Loshchilov & Hutter 2019, as torch.optim.AdamW (decoupled decay) */
} weft_optim_kind;

/* An optimizer: its hyper-parameters and its step count. Its state (momentum
 * buffer; Adam's first and second moments) lives in the store's state slots
 * 0 and 1, so one store has one optimizer at a time. Plain data: copy it,
 * save its fields in a checkpoint's metadata, change lr between steps.
 * Hyper-parameters are doubles, as in torch.optim: the per-step constants
 * (bias corrections, 1 - beta) are computed in double, the loops in float. */
typedef struct weft_optim {
    weft_optim_kind kind;
    double lr;
    double weight_decay;    /* SGD, Adam: L2 penalty added to g; AdamW: decoupled */
    double momentum;        /* SGD: 0 for plain SGD */
    double dampening;       /* SGD with momentum: torch's dampening (default 0) */
    bool nesterov;          /* SGD with momentum: Nesterov's form */
    double beta1, beta2;    /* Adam(W): 0.9, 0.999 */
    double eps;             /* Adam(W): 1e-8, added to sqrt(v̂) */
    long step;              /* steps taken so far */
} weft_optim;

/* Optimizers with PyTorch's defaults for everything but lr. */
weft_optim weft_optim_sgd(double lr);
weft_optim weft_optim_sgd_momentum(double lr, double momentum);
weft_optim weft_optim_adam(double lr);
weft_optim weft_optim_adamw(double lr, double weight_decay);

/* One update of every parameter from its gradient, then step += 1. Returns
 * 0, or -1 when the state slots cannot be allocated (nothing changed; the
 * store's error says so). The first step of a fresh optimizer starts from
 * zeroed state slots (weft_params_reset_state when reusing a store). */
int weft_optim_step(weft_optim *o, weft_params *s);

/* Plain SGD without an optimizer struct: p -= lr * g. */
void weft_sgd_step(weft_params *s, float lr);

/* Step decay, epochs counted from 1: lr0 for epochs before decay_start, then
 * multiplied by factor once per epoch from decay_start on:
 * lr0 * factor^max(0, epoch - decay_start + 1). Zaremba et al.'s small model
 * is weft_lr_step_decay(1.0, 0.5, 5, epoch): 1, 1, 1, 1, 0.5, 0.25, ... */
double weft_lr_step_decay(double lr0, double factor, int decay_start, int epoch);

/* --- gradient clipping ------------------------------------------------------- */

/* The global L2 norm of all gradients (accumulated in double, in an order that
 * does not depend on the number of threads). */
float weft_grad_norm(weft_params *s);

/* Clip by global norm (Pascanu et al. 2013): if ||g|| > max_norm, scale every
 * gradient by max_norm / ||g||. Returns ||g|| before clipping. A non-finite
 * norm is returned as it is and the gradients are left alone: the caller
 * should skip that step. */
float weft_clip_grad_norm(weft_params *s, float max_norm);

/* --- the norm, the clip and the step in two passes ------------------------------
 *
 * weft_clip_grad_norm followed by weft_optim_step reads the gradients twice
 * and writes them once more when it clips. The same step, bit for bit, in two
 * passes: the norm (weft_grad_norm_rows), then the update with the clip's
 * factor applied as it goes (weft_clip_step; the gradients are left as they
 * are, unscaled):
 *
 *     float norm = weft_grad_norm_rows(params, NULL);
 *     if (isfinite(norm)) weft_clip_step(&opt, params, norm, 5.0f, NULL);
 *
 * An embedding's gradient reaches only the rows of the ids it looked up (a
 * window of 400 tokens touches under 4% of a 10k-word table). Given those
 * rows, both passes skip the rest of that parameter, which changes no number:
 * the norm would only add zeros there, and plain SGD without weight decay
 * would leave those weights as they are (momentum or Adam update every row,
 * so they take the whole store). */

/* The rows (ascending, distinct, in [0, shape[0])) of one parameter outside
 * of which its gradient is zero; every other parameter counts whole. */
typedef struct weft_grad_rows {
    const weft_param *param;
    const int *rows;
    int n_rows;
} weft_grad_rows;

/* weft_grad_norm, skipping what rows (when not NULL) says is zero: the same
 * bits. Rows out of order or out of range are ignored (the whole store). */
float weft_grad_norm_rows(weft_params *s, const weft_grad_rows *rows);

/* One step of o from the gradients scaled by max_norm / norm when norm (their
 * norm, from weft_grad_norm_rows) is finite and above max_norm > 0: the numbers
 * of weft_clip_grad_norm(s, max_norm) then weft_optim_step(o, s), without
 * writing the gradients. rows as for weft_grad_norm_rows (used by plain SGD
 * without weight decay only). Returns as weft_optim_step. */
int weft_clip_step(weft_optim *o, weft_params *s, float norm, float max_norm,
                   const weft_grad_rows *rows);

/* Clip every gradient element into [-max_value, max_value]. */
void weft_clip_grad_value(weft_params *s, float max_value);

#ifdef __cplusplus
}
#endif

#endif
