"""One recurrent layer in PyTorch, the workload of `weft bench layer`.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch/layer.py --cell lstm \
        --steps 50 --batch 64 --hidden 512 --backward --threads 2

nn.LSTM / nn.GRU / nn.RNN (tanh) over random input [T, B, I], loss = sum of
the outputs, forward (and backward with --backward). --cell-loop instead
runs an LSTM cell written with torch ops in a Python loop (one layer, one
direction): what a user's own cell costs in PyTorch. The last line is
'median ms: X'.
"""
import argparse
import sys

from common import check_threads, report, time_ms


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--input", type=int, default=0, help="input width (default: H)")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--backward", action="store_true")
    ap.add_argument("--cell-loop", action="store_true",
                    help="an LSTM cell from torch ops in a Python loop")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args()
    torch = check_threads(a.threads, "layer.py")
    T, B, H = a.steps, a.batch, a.hidden
    I = a.input or H
    if a.cell_loop and (a.cell != "lstm" or a.layers != 1 or a.bidirectional):
        sys.exit("layer.py: --cell-loop is one LSTM layer, one direction")
    torch.manual_seed(1)
    x = torch.rand(T, B, I) * 2 - 1

    if a.cell_loop:
        k = H ** -0.5
        W_ih = (torch.rand(4 * H, I) * 2 - 1).mul_(k).requires_grad_()
        W_hh = (torch.rand(4 * H, H) * 2 - 1).mul_(k).requires_grad_()
        b_ih = (torch.rand(4 * H) * 2 - 1).mul_(k).requires_grad_()
        b_hh = (torch.rand(4 * H) * 2 - 1).mul_(k).requires_grad_()
        params = [W_ih, W_hh, b_ih, b_hh]
        F = torch.nn.functional

        def forward():
            h = torch.zeros(B, H)
            c = torch.zeros(B, H)
            outs = []
            for t in range(T):
                gates = F.linear(x[t], W_ih, b_ih) + F.linear(h, W_hh, b_hh)
                i, f, g, o = gates.chunk(4, 1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            return torch.stack(outs)
        flop_step = 2.0 * B * (I + H) * 4 * H
        input_step = 2.0 * B * I * 4 * H       # x W_ihᵀ: its input gradient is not run
        dirs = 1
    else:
        cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[a.cell]
        net = cls(I, H, a.layers, bidirectional=a.bidirectional)
        params = list(net.parameters())

        def forward():
            return net(x)[0]
        gates = {"lstm": 4, "gru": 3, "rnn": 1}[a.cell]
        dirs = 2 if a.bidirectional else 1
        flop_step = sum(2.0 * B * ((I if l == 0 else H * dirs) + H) * gates * H
                        for l in range(a.layers)) * dirs
        input_step = 2.0 * B * I * gates * H * dirs

    def once():
        for p in params:
            p.grad = None
        out = forward()
        loss = out.sum()
        if a.backward:
            loss.backward()

    if not a.backward:
        with torch.no_grad():
            ms = time_ms(once, a.repeat, a.warmup)
    else:
        ms = time_ms(once, a.repeat, a.warmup)
    # The products run, as weft bench layer counts them: forward, and backward
    # twice forward less the first layer's input gradient (x wants none).
    flop = flop_step * T * (3 if a.backward else 1) - (input_step * T if a.backward else 0)
    name = "lstm cell in a Python loop" if a.cell_loop else f"nn.{a.cell.upper()}"

    def lines(med):
        yield (f"torch layer: {name}, {a.layers} layer(s){' bidirectional' if dirs == 2 else ''}"
               f", {'forward+backward' if a.backward else 'forward'}, T {T}, B {B}, I {I}, H {H}")
        yield f"torch: {torch.__version__}"
        yield f"threads: {a.threads}"
        yield f"throughput: {B * 1e3 / med:.1f} sequences/s"
        yield f"GFLOP a repetition: {flop * 1e-9:.6g}"
        yield f"GFLOP/s: {flop / (med * 1e6):.2f}"
    report(ms, lines)


if __name__ == "__main__":
    main()
