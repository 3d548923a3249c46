/* weft/dot.h — draw a graph: Graphviz DOT export and rendering.
 *
 * Any weft_graph can be written as DOT text, or rendered to SVG, PNG or PDF
 * through Graphviz's libraries (gvc/cgraph) when weft was built with them.
 * The drawing reads the labels every node carries (kind, name, and the scope
 * {time, layer, dir, cell} stamped by weft_graph_set_scope):
 *
 *   - one cluster per time step, steps left to right; within a step, the
 *     layers stacked in the step's column, each (layer, direction) in a
 *     labelled sub-cluster of its own (forward blue, backward orange), so the
 *     two directions of a bidirectional layer stand apart;
 *   - each parameter drawn once, outside the steps, with an edge to every
 *     node (WEFT_DOT_OPS) or every cell box (WEFT_DOT_CELLS) that uses it;
 *   - nodes with no time step (the loss, an output layer over all steps)
 *     outside the step clusters;
 *   - inputs, parameters, states, ops, cell boxes and the loss in distinct
 *     styles; every node shows its tensor shape.
 *
 * A "state node" is a node that carries recurrent state from one step to
 * another: a WEFT_NODE_STATE leaf (an initial or carried state), an op node
 * used as input by a node of another time step (h_t, c_t feeding step t+1,
 * or t-1 for a backward direction), and the node in the same place of the
 * same cell at every other step (so the final h_T counts too: same layer,
 * direction and cell, same position among the cell's nodes of its step).
 * States are drawn at both levels, so a collapsed cell still shows its
 * states going in and out.
 *
 * Exporting reads the graph and never changes it.
 */
#ifndef WEFT_DOT_H
#define WEFT_DOT_H

#include <stdio.h>

#include "weft/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum weft_dot_level {
    /* One box per cell per step: the op nodes of one (time, layer, dir, cell)
     * become one box, with the cell's states, parameters and inputs around
     * it. Op nodes made outside a cell (scope.cell NULL) are drawn one by one. */
    WEFT_DOT_CELLS = 0,
    /* Every node of the tape. */
    WEFT_DOT_OPS = 1,
} weft_dot_level;

/* The longest sequence drawn whole when max_steps is 0. */
#define WEFT_DOT_DEFAULT_MAX_STEPS 12
/* max_steps value that draws every step, however many. */
#define WEFT_DOT_ALL_STEPS (-1)

/* Drawing options. A zeroed struct (or NULL) gives the defaults: cells
 * level, long sequences shortened, no gradient overlay, no title. */
typedef struct weft_dot_opts {
    weft_dot_level level;
    /* The longest sequence drawn whole. A graph with more steps than this is
     * drawn as its first max(1, max_steps / 2) steps, an elision marker
     * standing for the hidden steps, and its last step; edges into or out of
     * hidden steps go to or from the marker, so the picture stays connected.
     * 0: WEFT_DOT_DEFAULT_MAX_STEPS (a 500-step graph is drawn as steps 0..5,
     * the marker and step 499). WEFT_DOT_ALL_STEPS (any negative value):
     * every step. (The CLI's `--max-steps 0` maps to WEFT_DOT_ALL_STEPS.) */
    int max_steps;
    /* Gradient overlay, for after weft_backward: each state node is annotated
     * with the L2 norm of its gradient ("|grad| 1.234e-02") and filled with a
     * colour on one log scale shared by the whole picture (dark: smallest,
     * yellow: largest), with a legend. States without a gradient are grey. */
    bool grads;
    /* A title drawn above the picture, or NULL. Borrowed. */
    const char *title;
} weft_dot_opts;

/* Return values of weft_dot_write and weft_dot_render besides 0 (success)
 * and -1 (failure, message on stderr). */
#define WEFT_DOT_NOT_RENDERED 1  /* no Graphviz libraries: the .dot was written instead */

/* Write g as DOT text to out. opts may be NULL. Returns 0, or -1 when the
 * stream fails or memory runs out (message on stderr). */
int weft_dot_print(const weft_graph *g, FILE *out, const weft_dot_opts *opts);

/* g as DOT text in a NUL-terminated string the caller owns (free()), or NULL
 * when memory runs out. */
char *weft_dot_string(const weft_graph *g, const weft_dot_opts *opts);

/* Write g to path, in the format its extension names: .dot (or .gv) writes
 * DOT text; .svg, .png and .pdf render it (see weft_dot_render). The file is
 * written whole or not at all: an existing file is replaced only once the new
 * one is complete. Returns 0; -1 on failure (message on stderr);
 * WEFT_DOT_NOT_RENDERED when rendering was asked for but weft was built
 * without Graphviz's libraries, in which case the DOT text is written next to
 * path with the extension .dot (x.svg -> x.dot) and a message says so. */
int weft_dot_write(const weft_graph *g, const char *path, const weft_dot_opts *opts);

/* Render DOT text (borrowed) to path, format by extension as above, through
 * Graphviz's gvc/cgraph (agmemread, gvLayout with "dot", gvRenderFilename).
 * Lets a caller render DOT it made or edited itself. Same return values as
 * weft_dot_write. */
int weft_dot_render(const char *dot, const char *path);

/* true when this build of weft can render (was built with gvc/cgraph). */
bool weft_dot_can_render(void);

#ifdef __cplusplus
}
#endif

#endif
