// examples/hello.cpp — weft from C++: the headers are plain C inside extern "C", so a C++
// program includes them and links with `pkg-config --cflags --libs weft` as a C one does.
//
//     c++ -std=c++17 hello.cpp $(pkg-config --cflags --libs weft) -o hello && ./hello
//
// An LSTM reads a sequence of 5 steps; Adam pushes its last output towards 0.5 everywhere. It prints the loss before and after 50 steps (docs/library.md).
#include <cstdio>
#include <vector>
#include "weft/weft.h"

int main()
{
    const int T = 5, B = 2, I = 3, H = 4;
    weft_params *params = weft_params_new();
    weft_rnn_config cfg{};
    cfg.cell = weft_cell_find("lstm");
    cfg.input_size = I;
    cfg.hidden_size = H;
    cfg.num_layers = 1;
    cfg.prefix = "rnn.";
    char err[256];
    weft_rnn *rnn = weft_rnn_new(params, &cfg, err, sizeof err);
    if (!rnn) {
        std::fprintf(stderr, "hello: %s\n", err);
        return 1;
    }
    weft_rng rng;
    weft_rng_seed(&rng, 1);
    weft_rnn_reset_parameters(rnn, &rng);   // PyTorch's initialisation

    std::vector<float> x(T * B * I);
    for (float &v : x) v = weft_rng_normal(&rng);
    weft_optim adam = weft_optim_adam(0.05);
    weft_graph *g = weft_graph_new();
    float first = 0.0f, last = 0.0f;
    for (int step = 0; step <= 50; step++) {
        weft_graph_reset(g);
        weft_params_zero_grad(params);
        int shape[3] = { T, B, I };
        weft_var *xs = weft_input_zeros(g, 3, shape, "x", false);
        if (!xs) break;
        std::copy(x.begin(), x.end(), xs->value.data);
        weft_rnn_out out;
        if (weft_unroll(g, rnn, xs, nullptr, &out)) break;
        // loss = mean((h_T - 0.5)^2)
        int bh[2] = { B, H };
        weft_var *target = weft_input_zeros(g, 2, bh, "target", false);
        for (int k = 0; k < B * H; k++) target->value.data[k] = 0.5f;
        weft_var *d = weft_sub(g, out.steps[T - 1], target);
        weft_var *loss = weft_mean(g, weft_mul(g, d, d));
        if (weft_graph_failed(g) || weft_backward(g, loss)) break;
        last = weft_scalar(loss);
        if (step == 0) first = last;
        if (step < 50) weft_optim_step(&adam, params);
    }
    bool failed = weft_graph_failed(g);
    if (failed) std::fprintf(stderr, "hello: %s\n", weft_graph_error(g));
    else std::printf("loss %.6f -> %.6f\n", first, last);
    weft_graph_free(g);
    weft_rnn_free(rnn);
    weft_params_free(params);
    return failed || !(last < first) ? 1 : 0;
}
