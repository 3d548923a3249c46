#!/usr/bin/python3
"""Write the PyTorch reference numbers that tests/test_rnn.c checks weft against.

For nn.RNN (tanh), nn.GRU and nn.LSTM, each with 2 layers, bidirectional, tiny
sizes and a ragged batch (packed with pack_padded_sequence): the weights, the
input, the lengths, the outputs, the final states, and the gradients of every
weight and of the input under the fixed loss

    loss = sum(out * w_out) + sum(h_n * w_h) [+ sum(c_n * w_c)]

Computed in float64, so the reference is exact to the digits written.

Run with Debian's torch:  /usr/bin/python3 tests/golden/make_rnn_golden.py

File format (rnn_golden_<mode>.txt), text, one tensor per two lines:
    config <mode> <I> <H> <layers> <bidirectional> <T> <B>
    tensor <name> <rank> <d0> ... <d(rank-1)>
    <values, row-major, space-separated>
"""
import os
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
I, H, L, T, B = 3, 4, 2, 5, 3
LENGTHS = [5, 3, 2]


def write_tensor(f, name, t):
    t = t.detach().to(torch.float64).contiguous()
    f.write("tensor %s %d %s\n" % (name, t.dim(), " ".join(str(d) for d in t.shape)))
    f.write(" ".join("%.9g" % v for v in t.reshape(-1).tolist()) + "\n")


def make(mode, seed):
    torch.manual_seed(seed)
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[mode]
    net = cls(I, H, num_layers=L, bidirectional=True).double()
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(-0.6, 0.6)
    x = torch.empty(T, B, I, dtype=torch.float64).uniform_(-1, 1).requires_grad_(True)
    lengths = torch.tensor(LENGTHS)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out_packed, state = net(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=T)
    h_n, c_n = state if mode == "lstm" else (state, None)
    w_out = torch.empty_like(out).uniform_(-1, 1)
    w_h = torch.empty_like(h_n).uniform_(-1, 1)
    loss = (out * w_out).sum() + (h_n * w_h).sum()
    if c_n is not None:
        w_c = torch.empty_like(c_n).uniform_(-1, 1)
        loss = loss + (c_n * w_c).sum()
    loss.backward()

    with open(os.path.join(HERE, "rnn_golden_%s.txt" % mode), "w") as f:
        f.write("config %s %d %d %d %d %d %d\n" % (mode, I, H, L, 1, T, B))
        for name, p in net.named_parameters():
            write_tensor(f, name, p)
        write_tensor(f, "x", x)
        write_tensor(f, "lengths", lengths.to(torch.float64))
        write_tensor(f, "w_out", w_out)
        write_tensor(f, "w_h", w_h)
        if c_n is not None:
            write_tensor(f, "w_c", w_c)
        write_tensor(f, "out", out)
        write_tensor(f, "h_n", h_n)
        if c_n is not None:
            write_tensor(f, "c_n", c_n)
        write_tensor(f, "loss", loss.reshape(1))
        for name, p in net.named_parameters():
            write_tensor(f, "grad." + name, p.grad)
        write_tensor(f, "grad.x", x.grad)


if __name__ == "__main__":
    for i, mode in enumerate(["rnn", "gru", "lstm"]):
        make(mode, 1234 + i)
    print("wrote rnn_golden_{rnn,gru,lstm}.txt in", HERE)
