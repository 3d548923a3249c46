/* tests/test_dot.c — DOT export and rendering (weft/dot.h).
 *
 * The graphs are LSTM stacks written by hand with the public ops and stamped
 * with weft_graph_set_scope, as the cells do. The DOT text is checked as text
 * (counts of clusters, nodes and edges), by Graphviz's `dot` program (exit 0,
 * nothing on stderr) when it is installed, and through cgraph (agmemread)
 * when weft is built with Graphviz's libraries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "weft/weft.h"

#ifdef WEFT_HAVE_GVC
#include <cgraph.h>
#endif

enum { B = 2, F = 3, H = 4, MAX_T = 40, MAX_L = 2 };

/* An LSTM stack unrolled by hand: layer l, direction d has parameters W
 * [4H, in], U [4H, H], b [4H]; gates i, f, g, o are slices of
 * z = x Wᵀ + b + h Uᵀ; c' = f⊙c + i⊙g; h' = o⊙tanh(c'). */
typedef struct net {
    weft_params *ps;
    weft_graph *g;
    int T, L, D;
    weft_var *W[MAX_L][2], *U[MAX_L][2], *bias[MAX_L][2];
    weft_var *h0[MAX_L][2], *c0[MAX_L][2];
    weft_var *h[MAX_T][MAX_L][2], *c[MAX_T][MAX_L][2];
    weft_var *loss;
} net;

static void fill(weft_tensor *t, float scale, int seed)
{
    for (size_t i = 0; i < t->size; i++) t->data[i] = scale * sinf(0.7f * (float)i + 1.3f * seed);
}

static weft_var *lstm_step(weft_graph *g, weft_var *x, weft_var *h, weft_var *c, weft_var *W,
                           weft_var *U, weft_var *b, weft_var **c_next)
{
    weft_var *z = weft_add(g, weft_linear(g, x, W, b), weft_linear(g, h, U, NULL));
    weft_var *i = weft_sigmoid(g, weft_slice(g, z, 0, H));
    weft_var *f = weft_sigmoid(g, weft_slice(g, z, H, H));
    weft_var *gg = weft_tanh(g, weft_slice(g, z, 2 * H, H));
    weft_var *o = weft_sigmoid(g, weft_slice(g, z, 3 * H, H));
    *c_next = weft_add(g, weft_mul(g, f, c), weft_mul(g, i, gg));
    return weft_mul(g, o, weft_tanh(g, *c_next));
}

static const char *const dir_names[2] = { "fwd", "bwd" };

/* Build the unrolled stack over T steps; the loss is sum(y ⊙ y) of the top
 * layer's output at the last step (both directions when D == 2). */
static void net_build(net *n, int T, int L, int D)
{
    memset(n, 0, sizeof *n);
    n->T = T, n->L = L, n->D = D;
    n->ps = weft_params_new();
    n->g = weft_graph_new();
    assert_non_null(n->ps);
    assert_non_null(n->g);
    weft_graph *g = n->g;
    static char names[MAX_L][2][3][32];
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            int in = l == 0 ? F : D * H;
            snprintf(names[l][d][0], 32, "l%d.%s.W", l, dir_names[d]);
            snprintf(names[l][d][1], 32, "l%d.%s.U", l, dir_names[d]);
            snprintf(names[l][d][2], 32, "l%d.%s.b", l, dir_names[d]);
            weft_param *pw = weft_params_add(n->ps, names[l][d][0], 2, (int[]){ 4 * H, in });
            weft_param *pu = weft_params_add(n->ps, names[l][d][1], 2, (int[]){ 4 * H, H });
            weft_param *pb = weft_params_add(n->ps, names[l][d][2], 1, (int[]){ 4 * H });
            assert_non_null(pw);
            assert_non_null(pu);
            assert_non_null(pb);
            fill(&pw->value, 0.5f, 10 * l + d);
            fill(&pu->value, 0.5f, 10 * l + d + 3);
            fill(&pb->value, 0.1f, 10 * l + d + 5);
        }
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            n->W[l][d] = weft_param_var(g, weft_params_find(n->ps, names[l][d][0]));
            n->U[l][d] = weft_param_var(g, weft_params_find(n->ps, names[l][d][1]));
            n->bias[l][d] = weft_param_var(g, weft_params_find(n->ps, names[l][d][2]));
        }

    /* inputs, one per step, in the step's cluster */
    weft_var *x[MAX_T];
    weft_tensor xt = weft_tensor_alloc2(B, F);
    for (int t = 0; t < T; t++) {
        weft_graph_set_scope(g, (weft_scope){ t, -1, -1, NULL });
        fill(&xt, 1.0f, 100 + t);
        x[t] = weft_input(g, &xt, "x", false);
    }
    weft_tensor_release(&xt);

    /* initial states: leaves that want a gradient */
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    weft_tensor s0 = weft_tensor_alloc2(B, H);
    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++) {
            fill(&s0, 0.2f, 7 * l + d);
            n->h0[l][d] = weft_state_leaf(g, &s0, "h0", true);
            n->c0[l][d] = weft_state_leaf(g, &s0, "c0", true);
        }
    weft_tensor_release(&s0);

    for (int l = 0; l < L; l++)
        for (int d = 0; d < D; d++)
            for (int k = 0; k < T; k++) {
                int t = d == 0 ? k : T - 1 - k;            /* backward runs T-1..0 */
                int prev = d == 0 ? t - 1 : t + 1;
                weft_var *hp = k == 0 ? n->h0[l][d] : n->h[prev][l][d];
                weft_var *cp = k == 0 ? n->c0[l][d] : n->c[prev][l][d];
                weft_var *in;
                weft_graph_set_scope(g, (weft_scope){ t, l, d, "lstm" });
                if (l == 0) in = x[t];
                else if (D == 1) in = n->h[t][l - 1][0];
                else in = weft_concat(g, (weft_var *[]){ n->h[t][l - 1][0], n->h[t][l - 1][1] }, 2);
                n->h[t][l][d] = lstm_step(g, in, hp, cp, n->W[l][d], n->U[l][d], n->bias[l][d],
                                          &n->c[t][l][d]);
            }

    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    weft_var *y = D == 1 ? n->h[T - 1][L - 1][0]
                         : weft_concat(g, (weft_var *[]){ n->h[T - 1][L - 1][0],
                                                          n->h[T - 1][L - 1][1] }, 2);
    n->loss = weft_sum(g, weft_mul(g, y, y));
    if (weft_graph_failed(g)) fail_msg("building the test network failed: %s", weft_graph_error(g));
}

static void net_free(net *n)
{
    weft_graph_free(n->g);
    weft_params_free(n->ps);
}

/* --- reading the DOT text back --------------------------------------------- */

/* Occurrences of needle in hay. */
static int count_str(const char *hay, const char *needle)
{
    int k = 0;
    size_t len = strlen(needle);
    for (const char *s = strstr(hay, needle); s; s = strstr(s + len, needle)) k++;
    return k;
}

/* Node statements of tape node id ("  n12 [" at a line start, any indent). */
static int node_statements(const char *dot, int id)
{
    char a[32];
    snprintf(a, sizeof a, " n%d [", id);
    int k = 0;
    for (const char *s = strstr(dot, a); s; s = strstr(s + 1, a)) {
        const char *line = s;
        while (line > dot && line[-1] == ' ') line--;
        if (line == dot || line[-1] == '\n') k++;
    }
    return k;
}

/* Edge statements leaving tape node id. */
static int edges_from(const char *dot, int id)
{
    char a[32];
    snprintf(a, sizeof a, "\n  n%d -> ", id);
    return count_str(dot, a);
}

/* Edge statements entering tape node id. */
static int edges_into(const char *dot, int id)
{
    char a[32];
    int k = 0;
    snprintf(a, sizeof a, " -> n%d [", id);
    k += count_str(dot, a);
    return k;
}

/* Step clusters: "subgraph cluster_step<t> {". */
static int step_clusters(const char *dot)
{
    return count_str(dot, "subgraph cluster_step");
}

/* The number printed after "|grad| " in node id's label; NAN when absent. */
static double printed_norm(const char *dot, int id)
{
    char a[32];
    snprintf(a, sizeof a, "\n  n%d [label=", id);
    const char *s = strstr(dot, a);
    if (!s) {                                   /* inside a cluster: deeper indent */
        snprintf(a, sizeof a, " n%d [label=", id);
        s = strstr(dot, a);
    }
    if (!s) return NAN;
    const char *end = strchr(s + 1, '\n');
    const char *g = strstr(s, "|grad| ");
    if (!g || (end && g > end)) return NAN;
    return strtod(g + 7, NULL);
}

/* Number of distinct op nodes that take v as an input. */
static int users_of(const weft_graph *g, const weft_var *v)
{
    int k = 0;
    for (int i = 0; i < weft_graph_size(g); i++) {
        const weft_var *u = weft_graph_node(g, i);
        for (int j = 0; j < u->n_in; j++)
            if (u->in[j] == v) {
                k++;
                break;
            }
    }
    return k;
}

static bool have_dot_program(void)
{
    return system("command -v dot >/dev/null 2>&1") == 0;
}

/* Run `dot -Tsvg` on the text: assert exit 0 and an empty stderr. Skipped
 * (returns false) when Graphviz's program is not installed. */
static bool dot_program_accepts(const char *dot)
{
    if (!have_dot_program()) return false;
    char in[] = "/tmp/weft-test-dot-XXXXXX";
    int fd = mkstemp(in);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(dot, f);
    fclose(f);
    char errpath[64], cmd[256];
    snprintf(errpath, sizeof errpath, "%s.err", in);
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o /dev/null 2>%s", in, errpath);
    int rc = system(cmd);
    struct stat st;
    assert_int_equal(stat(errpath, &st), 0);
    if (st.st_size != 0) {
        char msg[512] = "";
        FILE *e = fopen(errpath, "r");
        if (e) {
            size_t k = fread(msg, 1, sizeof msg - 1, e);
            msg[k] = '\0';
            fclose(e);
        }
        fail_msg("dot printed on stderr: %s", msg);
    }
    assert_int_equal(rc, 0);
    remove(in);
    remove(errpath);
    return true;
}

#ifdef WEFT_HAVE_GVC
/* Parse through cgraph, as the renderer does, and count what a reader sees. */
static Agraph_t *parse_cgraph(const char *dot)
{
    Agraph_t *G = agmemread(dot);
    assert_non_null(G);
    return G;
}

static int cgraph_step_clusters(Agraph_t *G)
{
    int k = 0;
    for (Agraph_t *s = agfstsubg(G); s; s = agnxtsubg(s))
        if (strncmp(agnameof(s), "cluster_step", 12) == 0) k++;
    return k;
}

static int cgraph_out_degree(Agraph_t *G, int id)
{
    char name[32];
    snprintf(name, sizeof name, "n%d", id);
    Agnode_t *v = agnode(G, name, 0);
    assert_non_null(v);
    int k = 0;
    for (Agedge_t *e = agfstout(G, v); e; e = agnxtout(G, e)) k++;
    return k;
}
#endif

static char *dot_of(const net *n, weft_dot_level level, int max_steps, bool grads)
{
    weft_dot_opts o = { .level = level, .max_steps = max_steps, .grads = grads };
    char *dot = weft_dot_string(n->g, &o);
    assert_non_null(dot);
    return dot;
}

/* --- tests ------------------------------------------------------------------ */

static void each_param_once_with_one_edge_per_step_at_cells_level(void **state)
{
    (void)state;
    net n;
    net_build(&n, 3, 2, 1);
    char *dot = dot_of(&n, WEFT_DOT_CELLS, 0, false);

    assert_int_equal(step_clusters(dot), 3);
    weft_var *params[] = { n.W[0][0], n.U[0][0], n.bias[0][0], n.W[1][0], n.U[1][0],
                           n.bias[1][0] };
    for (int k = 0; k < 6; k++) {
        assert_int_equal(node_statements(dot, params[k]->id), 1);
        assert_int_equal(edges_from(dot, params[k]->id), 3);
    }
    /* one box per (step, layer), and the states around them drawn */
    assert_int_equal(count_str(dot, "\n      c"), 6);
    for (int t = 0; t < 3; t++)
        for (int l = 0; l < 2; l++) {
            assert_int_equal(node_statements(dot, n.h[t][l][0]->id), 1);
            assert_int_equal(node_statements(dot, n.c[t][l][0]->id), 1);
            /* h_t leaves its box to the next step's box and, below the top,
             * to the next layer's box */
            int want = (t < 2) + (l == 0) + (t == 2 && l == 1);
            assert_int_equal(edges_from(dot, n.h[t][l][0]->id), want);
            assert_int_equal(edges_into(dot, n.h[t][l][0]->id), 1);
        }
    /* the gates inside a box are not drawn */
    const weft_var *z = n.h[1][0][0]->in[0];            /* o: a sigmoid of the box */
    assert_int_equal(node_statements(dot, z->id), 0);

#ifdef WEFT_HAVE_GVC
    Agraph_t *G = parse_cgraph(dot);
    assert_int_equal(cgraph_step_clusters(G), 3);
    for (int k = 0; k < 6; k++) assert_int_equal(cgraph_out_degree(G, params[k]->id), 3);
    agclose(G);
#endif
    dot_program_accepts(dot);
    free(dot);
    net_free(&n);
}

static void every_node_and_one_edge_per_user_at_ops_level(void **state)
{
    (void)state;
    net n;
    net_build(&n, 3, 2, 1);
    char *dot = dot_of(&n, WEFT_DOT_OPS, 0, false);

    assert_int_equal(step_clusters(dot), 3);
    for (int i = 0; i < weft_graph_size(n.g); i++)
        assert_int_equal(node_statements(dot, i), 1);
    assert_int_equal(count_str(dot, "\n      c"), 0);     /* no boxes */
    weft_var *params[] = { n.W[0][0], n.U[0][0], n.bias[0][0], n.W[1][0], n.U[1][0],
                           n.bias[1][0] };
    for (int k = 0; k < 6; k++) {
        int users = users_of(n.g, params[k]);
        assert_int_equal(users, 3);                     /* one linear per step */
        assert_int_equal(edges_from(dot, params[k]->id), users);
    }
    /* every input of every node is an edge */
    int want = 0;
    for (int i = 0; i < weft_graph_size(n.g); i++) {
        const weft_var *v = weft_graph_node(n.g, i);
        for (int j = 0; j < v->n_in; j++) {
            int dup = 0;
            for (int k = 0; k < j; k++) dup |= v->in[k] == v->in[j];
            want += !dup;
        }
    }
    assert_int_equal(count_str(dot, " -> n"), want);

#ifdef WEFT_HAVE_GVC
    Agraph_t *G = parse_cgraph(dot);
    assert_int_equal(cgraph_step_clusters(G), 3);
    int visible = 0;                                /* not the invisible time gates */
    for (Agnode_t *v = agfstnode(G); v; v = agnxtnode(G, v))
        for (Agedge_t *e = agfstout(G, v); e; e = agnxtout(G, e)) {
            char *style = agget(e, "style");
            visible += !(style && strcmp(style, "invis") == 0);
        }
    assert_int_equal(visible, want);
    agclose(G);
#endif
    dot_program_accepts(dot);
    free(dot);
    net_free(&n);
}

static void bidirectional_layers_get_one_subcluster_per_direction(void **state)
{
    (void)state;
    net n;
    net_build(&n, 4, 2, 2);
    char *dot = dot_of(&n, WEFT_DOT_CELLS, 0, false);
    assert_int_equal(step_clusters(dot), 4);
    for (int t = 0; t < 4; t++)
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < 2; d++) {
                char name[64];
                snprintf(name, sizeof name, "subgraph cluster_s%d_l%d_d%d {", t, l, d);
                assert_int_equal(count_str(dot, name), 1);
            }
    assert_int_equal(count_str(dot, "\"layer 1 \xe2\x86\x90\""), 4);   /* "layer 1 ←" */
    for (int l = 0; l < 2; l++)
        for (int d = 0; d < 2; d++) assert_int_equal(edges_from(dot, n.W[l][d]->id), 4);
    dot_program_accepts(dot);
    free(dot);
    dot = dot_of(&n, WEFT_DOT_OPS, 0, false);
    dot_program_accepts(dot);
    free(dot);
    net_free(&n);
}

static void long_sequences_are_cut_with_an_elision_marker(void **state)
{
    (void)state;
    net n;
    net_build(&n, 30, 1, 1);

    /* max_steps 4: steps 0, 1, the marker, step 29 */
    char *dot = dot_of(&n, WEFT_DOT_CELLS, 4, false);
    assert_int_equal(step_clusters(dot), 3);
    assert_int_equal(count_str(dot, "subgraph cluster_step0 {"), 1);
    assert_int_equal(count_str(dot, "subgraph cluster_step1 {"), 1);
    assert_int_equal(count_str(dot, "subgraph cluster_step29 {"), 1);
    assert_int_equal(count_str(dot, "subgraph cluster_elided {"), 1);
    assert_int_equal(count_str(dot, "    elided [label=\"\xe2\x8b\xaf\\n27 steps not drawn\\n"
                                    "t = 2 \xe2\x80\xa6 28"), 1);
    /* no node of a hidden step is drawn; the chain goes through the marker */
    for (int t = 2; t <= 28; t++) {
        assert_int_equal(node_statements(dot, n.h[t][0][0]->id), 0);
        assert_int_equal(node_statements(dot, n.c[t][0][0]->id), 0);
    }
    char e[64];
    snprintf(e, sizeof e, "\n  n%d -> elided [", n.h[1][0][0]->id);
    assert_int_equal(count_str(dot, e), 1);
    snprintf(e, sizeof e, "\n  n%d -> elided [", n.c[1][0][0]->id);
    assert_int_equal(count_str(dot, e), 1);
    /* h_28 and c_28 into step 29's box: one edge from the marker */
    assert_int_equal(count_str(dot, "\n  elided -> c"), 1);
    /* each parameter: 3 drawn steps + the marker */
    assert_int_equal(edges_from(dot, n.W[0][0]->id), 4);
#ifdef WEFT_HAVE_GVC
    Agraph_t *G = parse_cgraph(dot);
    assert_int_equal(cgraph_step_clusters(G), 3);
    assert_non_null(agnode(G, "elided", 0));
    agclose(G);
#endif
    dot_program_accepts(dot);
    free(dot);

    /* the default: the first 6 steps, the marker, the last */
    dot = dot_of(&n, WEFT_DOT_OPS, 0, false);
    assert_int_equal(step_clusters(dot), 7);
    assert_int_equal(count_str(dot, "subgraph cluster_step29 {"), 1);
    assert_int_equal(count_str(dot, "elided [label="), 1);
    dot_program_accepts(dot);
    free(dot);

    /* every step */
    dot = dot_of(&n, WEFT_DOT_CELLS, WEFT_DOT_ALL_STEPS, false);
    assert_int_equal(step_clusters(dot), 30);
    assert_int_equal(count_str(dot, "elided"), 0);
    free(dot);
    net_free(&n);

    /* 12 steps is not long: drawn whole by default */
    net_build(&n, 12, 1, 1);
    dot = dot_of(&n, WEFT_DOT_CELLS, 0, false);
    assert_int_equal(step_clusters(dot), 12);
    assert_int_equal(count_str(dot, "elided"), 0);
    free(dot);
    net_free(&n);
}

/* Compare the norm printed for v with the L2 norm of its gradient. */
static void assert_printed_norm(const char *dot, net *n, const weft_var *v)
{
    const weft_tensor *gv = weft_grad_of(n->g, v);
    assert_non_null(gv);
    double s = 0.0;
    for (size_t i = 0; i < gv->size; i++) s += (double)gv->data[i] * gv->data[i];
    double want = sqrt(s), got = printed_norm(dot, v->id);
    if (!(fabs(got - want) <= 1e-3 * want))
        fail_msg("node %d: printed |grad| %.6e, backward gave %.6e", v->id, got, want);
}

static void gradient_overlay_prints_the_norms_backward_computed(void **state)
{
    (void)state;
    net n;
    net_build(&n, 5, 2, 1);
    assert_int_equal(weft_backward(n.g, n.loss), 0);

    for (int level = 0; level < 2; level++) {
        char *dot = dot_of(&n, (weft_dot_level)level, 0, true);
        for (int t = 0; t < 5; t++)
            for (int l = 0; l < 2; l++) {
                assert_printed_norm(dot, &n, n.h[t][l][0]);
                assert_printed_norm(dot, &n, n.c[t][l][0]);
            }
        for (int l = 0; l < 2; l++) {
            assert_printed_norm(dot, &n, n.h0[l][0]);
            assert_printed_norm(dot, &n, n.c0[l][0]);
        }
        /* only state nodes carry a norm: not parameters, not gates */
        assert_true(isnan(printed_norm(dot, n.W[0][0]->id)));
        assert_true(isnan(printed_norm(dot, n.h[2][0][0]->in[0]->id)));
        /* the legend spans the smallest and largest norm */
        assert_int_equal(count_str(dot, "legend [shape=plaintext"), 1);
        dot_program_accepts(dot);
        free(dot);
    }

    net_free(&n);
}

/* A 1-layer LSTM through weft_unroll (weft/rnn.h) over T = 3 steps of a batch
 * of 2, optionally ragged (lengths 3 and 1) and bidirectional, its loss the
 * mean of the last step's output only. The caller frees g, the store, rnn. */
static weft_var *unrolled_loss(weft_graph *g, weft_params *s, weft_rnn **rnn, bool ragged,
                               bool bidirectional)
{
    char err[256];
    weft_rng rng;
    weft_rng_seed(&rng, 3);
    weft_rnn_config cfg = { .cell = weft_cell_find("lstm"), .input_size = F, .hidden_size = H,
                            .num_layers = 2, .bidirectional = bidirectional, .prefix = "rnn." };
    *rnn = weft_rnn_new_init(s, &cfg, &rng, err, sizeof err);
    assert_non_null(*rnn);
    weft_var *xs = weft_input_zeros(g, 3, (int[]){ 3, B, F }, "x", false);
    weft_rng_fill_uniform(&rng, &xs->value, -1.0f, 1.0f);
    weft_unroll_opts o = { .lengths = ragged ? (int[]){ 3, 1 } : NULL };
    weft_rnn_out out;
    assert_int_equal(weft_unroll(g, *rnn, xs, &o, &out), 0);
    weft_graph_set_scope(g, WEFT_NO_SCOPE);
    return weft_mean(g, out.steps[2]);
}

/* A ragged batch's states (carried past a sequence's end by a masked sum) are
 * drawn as the cell names them, h and c, never "state 0". */
static void ragged_states_are_drawn_as_h_and_c(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_params *s = weft_params_new();
    weft_rnn *rnn;
    weft_var *loss = unrolled_loss(g, s, &rnn, true, false);
    assert_int_equal(weft_backward(g, loss), 0);
    char *dot = weft_dot_string(g, &(weft_dot_opts){ .level = WEFT_DOT_CELLS, .grads = true });
    assert_non_null(dot);
    assert_null(strstr(dot, "state 0"));
    assert_null(strstr(dot, "state 1"));
    /* h and c of 2 layers at 3 steps, each drawn once */
    assert_int_equal(count_str(dot, "[label=\"h\\n"), 6);
    assert_int_equal(count_str(dot, "[label=\"c\\n"), 6);
    dot_program_accepts(dot);
    free(dot);
    weft_rnn_free(rnn);
    weft_params_free(s);
    weft_graph_free(g);
}

/* With the loss on the last step only, the steps' concatenations of the two
 * directions that no loss reads (layer 1's at t = 0, 1) and the stack of the
 * top layer's outputs are not drawn; layer 0's, which layer 1 reads, are. */
static void plumbing_no_loss_reads_is_not_drawn(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_params *s = weft_params_new();
    weft_rnn *rnn;
    unrolled_loss(g, s, &rnn, false, true);
    for (int level = 0; level < 2; level++) {
        char *dot = weft_dot_string(g, &(weft_dot_opts){ .level = (weft_dot_level)level });
        assert_non_null(dot);
        assert_int_equal(count_str(dot, "[label=\"concat\\n"), 3 + 1);
        /* one stack: layer 0's outputs, which layer 1's fused step projects at once; the
         * stack of layer 1's (the unroll's seq) is not drawn */
        assert_int_equal(count_str(dot, "[label=\"stack\\n"), 1);
        if (level == 0) dot_program_accepts(dot);
        free(dot);
    }
    weft_rnn_free(rnn);
    weft_params_free(s);
    weft_graph_free(g);
}

/* The overlay's text is white on the dark end of the colour scale and black on
 * the light end, in the nodes and in the legend. */
static void overlay_text_reads_on_its_fill(void **state)
{
    (void)state;
    net n;
    net_build(&n, 5, 2, 1);
    assert_int_equal(weft_backward(n.g, n.loss), 0);
    char *dot = dot_of(&n, WEFT_DOT_CELLS, 0, true);
    assert_true(count_str(dot, "fillcolor=\"#440154\", fontcolor=\"white\"") >= 1);
    assert_int_equal(count_str(dot, "fillcolor=\"#440154\", fontcolor=\"black\""), 0);
    assert_true(count_str(dot, "fillcolor=\"#fde725\", fontcolor=\"black\"") >= 1);
    assert_int_equal(count_str(dot, "<td bgcolor=\"#440154\"><font color=\"white\">"), 1);
    assert_int_equal(count_str(dot, "<td bgcolor=\"#fde725\"><font color=\"black\">"), 1);
    free(dot);
    net_free(&n);
}

static void overlay_before_backward_says_there_are_no_gradients(void **state)
{
    (void)state;
    net n;
    net_build(&n, 3, 1, 1);
    char *dot = dot_of(&n, WEFT_DOT_CELLS, 0, true);
    assert_true(count_str(dot, "|grad| none") > 0);
    assert_int_equal(count_str(dot, "run weft_backward first"), 1);
    dot_program_accepts(dot);
    free(dot);
    net_free(&n);
}

/* Everything a node holds, to compare before and after an export. */
static uint64_t graph_fingerprint(const weft_graph *g)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < weft_graph_size(g); i++) {
        const weft_var *v = weft_graph_node(g, i);
        const unsigned char *b = (const unsigned char *)v;
        for (size_t k = 0; k < sizeof *v; k++) h = (h ^ b[k]) * 1099511628211ULL;
        b = (const unsigned char *)v->value.data;
        for (size_t k = 0; k < v->value.size * sizeof(float); k++) h = (h ^ b[k]) * 1099511628211ULL;
        b = (const unsigned char *)v->grad.data;
        for (size_t k = 0; b && k < v->grad.size * sizeof(float); k++)
            h = (h ^ b[k]) * 1099511628211ULL;
    }
    return h;
}

static void export_leaves_the_graph_as_it_was(void **state)
{
    (void)state;
    net n;
    net_build(&n, 4, 2, 1);
    assert_int_equal(weft_backward(n.g, n.loss), 0);
    weft_graph_set_scope(n.g, (weft_scope){ 7, 1, 0, "x" });
    uint64_t before = graph_fingerprint(n.g);
    int size = weft_graph_size(n.g);
    size_t used = weft_graph_arena_used(n.g);
    for (int level = 0; level < 2; level++) {
        char *dot = dot_of(&n, (weft_dot_level)level, 2, true);
        free(dot);
    }
    assert_int_equal(graph_fingerprint(n.g), before);
    assert_int_equal(weft_graph_size(n.g), size);
    assert_int_equal(weft_graph_arena_used(n.g), used);
    assert_int_equal(weft_graph_scope(n.g).time, 7);
    assert_null(weft_graph_error(n.g));
    net_free(&n);
}

static void labels_are_escaped(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    weft_tensor t = weft_tensor_alloc2(1, 2);
    weft_var *a = weft_input(g, &t, "a \"quoted\" C:\\new <b>{x}|y", true);
    weft_var *y = weft_sum(g, weft_tanh(g, a));
    assert_non_null(y);
    weft_dot_opts o = { .level = WEFT_DOT_OPS, .title = "title with \"quotes\" and \\" };
    char *dot = weft_dot_string(g, &o);
    assert_non_null(dot);
    assert_int_equal(count_str(dot, "label=\"a \\\"quoted\\\" C:\\\\new <b>{x}|y\\n[1, 2]\""), 1);
    assert_int_equal(count_str(dot, "label=\"title with \\\"quotes\\\" and \\\\\""), 1);
    /* the sink scalar is drawn as the loss */
    char want[64];
    snprintf(want, sizeof want, "n%d [label=\"sum\\n[1]\", shape=doubleoctagon", y->id);
    assert_int_equal(count_str(dot, want), 1);
#ifdef WEFT_HAVE_GVC
    Agraph_t *G = parse_cgraph(dot);
    char name[16];
    snprintf(name, sizeof name, "n%d", a->id);
    Agnode_t *v = agnode(G, name, 0);
    assert_non_null(v);
    /* cgraph keeps escapes other than \" for the renderer to read */
    assert_string_equal(agget(v, "label"), "a \"quoted\" C:\\\\new <b>{x}|y\\n[1, 2]");
    agclose(G);
    /* and the picture shows the name as it was given */
    char dir[] = "/tmp/weft-test-escape-XXXXXX", svg[64];
    assert_non_null(mkdtemp(dir));
    snprintf(svg, sizeof svg, "%s/e.svg", dir);
    assert_int_equal(weft_dot_write(g, svg, &o), 0);
    FILE *f = fopen(svg, "r");
    assert_non_null(f);
    char text[16384];
    size_t k = fread(text, 1, sizeof text - 1, f);
    text[k] = '\0';
    fclose(f);
    assert_int_equal(count_str(text, ">a &quot;quoted&quot; C:\\new &lt;b&gt;{x}|y</text>"), 1);
    remove(svg);
    rmdir(dir);
#endif
    dot_program_accepts(dot);
    free(dot);
    weft_tensor_release(&t);
    weft_graph_free(g);
}

static void an_empty_graph_is_a_valid_picture(void **state)
{
    (void)state;
    weft_graph *g = weft_graph_new();
    char *dot = weft_dot_string(g, NULL);
    assert_non_null(dot);
    assert_int_equal(step_clusters(dot), 0);
    dot_program_accepts(dot);
    free(dot);
    weft_graph_free(g);
}

/* Bytes at the start of a file. */
static size_t file_head(const char *path, unsigned char *buf, size_t n, long *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t k = fread(buf, 1, n, f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fclose(f);
    return k;
}

static void writes_and_renders_by_extension(void **state)
{
    (void)state;
    net n;
    net_build(&n, 3, 2, 1);
    assert_int_equal(weft_backward(n.g, n.loss), 0);
    char dir[] = "/tmp/weft-test-render-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    weft_dot_opts o = { .grads = true, .title = "2-layer LSTM, 3 steps" };
    unsigned char head[16];
    long size = 0;

    /* .dot: the text, exactly what weft_dot_string gives */
    snprintf(path, sizeof path, "%s/g.dot", dir);
    assert_int_equal(weft_dot_write(n.g, path, &o), 0);
    char *want = weft_dot_string(n.g, &o);
    char *got = calloc(1, strlen(want) + 16);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t k = fread(got, 1, strlen(want) + 15, f);
    fclose(f);
    assert_int_equal(k, strlen(want));
    assert_string_equal(got, want);
    free(got);
    free(want);

    /* an unknown extension is refused, and nothing is written */
    snprintf(path, sizeof path, "%s/g.jpeg", dir);
    assert_int_equal(weft_dot_write(n.g, path, &o), -1);
    assert_int_not_equal(access(path, F_OK), 0);

    static const struct { const char *ext; const char *magic; size_t len; } fmts[] = {
        { "svg", "<?xml", 5 }, { "png", "\x89PNG\r\n\x1a\n", 8 }, { "pdf", "%PDF-", 5 },
    };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/g.%s", dir, fmts[i].ext);
        int rc = weft_dot_write(n.g, path, &o);
        if (weft_dot_can_render()) {
            assert_int_equal(rc, 0);
            assert_int_equal(file_head(path, head, sizeof head, &size), sizeof head);
            assert_true(size > 1000);
            assert_memory_equal(head, fmts[i].magic, fmts[i].len);
        } else {
            /* no Graphviz libraries: the DOT text beside it, and a distinct code */
            assert_int_equal(rc, WEFT_DOT_NOT_RENDERED);
            assert_int_not_equal(access(path, F_OK), 0);
            char alt[128];
            snprintf(alt, sizeof alt, "%s/g.dot", dir);
            assert_int_equal(access(alt, F_OK), 0);
        }
        remove(path);
    }
    /* no temporary file left behind */
    snprintf(path, sizeof path, "%s/g.dot", dir);
    remove(path);
    assert_int_equal(rmdir(dir), 0);
    net_free(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_param_once_with_one_edge_per_step_at_cells_level),
        cmocka_unit_test(every_node_and_one_edge_per_user_at_ops_level),
        cmocka_unit_test(bidirectional_layers_get_one_subcluster_per_direction),
        cmocka_unit_test(long_sequences_are_cut_with_an_elision_marker),
        cmocka_unit_test(gradient_overlay_prints_the_norms_backward_computed),
        cmocka_unit_test(overlay_before_backward_says_there_are_no_gradients),
        cmocka_unit_test(ragged_states_are_drawn_as_h_and_c),
        cmocka_unit_test(plumbing_no_loss_reads_is_not_drawn),
        cmocka_unit_test(overlay_text_reads_on_its_fill),
        cmocka_unit_test(export_leaves_the_graph_as_it_was),
        cmocka_unit_test(labels_are_escaped),
        cmocka_unit_test(an_empty_graph_is_a_valid_picture),
        cmocka_unit_test(writes_and_renders_by_extension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
