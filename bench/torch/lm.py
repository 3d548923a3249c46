"""A language model's training step in PyTorch, the workload of `weft bench lm`.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch/lm.py --config small --threads 2

The model of pytorch/examples' word_language_model (embedding, dropout,
nn.LSTM / nn.GRU / nn.RNN, dropout, linear decoder, mean cross-entropy) on
random tokens; one step is forward, backward, clip_grad_norm_(5), SGD with
lr 1, the hidden state detached and carried. Configurations as weft's:
small (vocabulary 10000, 2 x 200, batch 20, bptt 20), medium (2 x 650,
bptt 35, dropout 0.5), char (vocabulary 65, 2 x 512, batch 50, bptt 100).
The last line is 'median ms: X'.
"""
import argparse

from common import check_threads, report, time_ms

CONFIGS = {
    "small": dict(vocab=10000, layers=2, hidden=200, batch=20, bptt=20, dropout=0.0),
    "medium": dict(vocab=10000, layers=2, hidden=650, batch=20, bptt=35, dropout=0.5),
    "char": dict(vocab=65, layers=2, hidden=512, batch=50, bptt=100, dropout=0.0),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="small", choices=sorted(CONFIGS))
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, required=True)
    a = ap.parse_args()
    torch = check_threads(a.threads, "lm.py")
    nn = torch.nn
    c = CONFIGS[a.config]
    V, L, H, B, T, p = c["vocab"], c["layers"], c["hidden"], c["batch"], c["bptt"], c["dropout"]
    torch.manual_seed(1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(p)
            self.encoder = nn.Embedding(V, H)
            cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[a.cell]
            self.rnn = cls(H, H, L, dropout=p)
            self.decoder = nn.Linear(H, V)
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)

        def forward(self, ids, hidden):
            out, hidden = self.rnn(self.drop(self.encoder(ids)), hidden)
            return self.decoder(self.drop(out)).view(-1, V), hidden

    model = Model()
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    state = {"hidden": None, "k": 0}
    # the tokens of every step drawn before timing, as weft bench lm does
    data = [(torch.randint(V, (T, B)), torch.randint(V, (T * B,)))
            for _ in range(a.warmup + a.steps)]

    def step():
        ids, targets = data[state["k"]]
        state["k"] += 1
        h = state["hidden"]
        if h is not None:
            h = tuple(x.detach() for x in h) if isinstance(h, tuple) else h.detach()
        model.zero_grad(set_to_none=True)
        logits, state["hidden"] = model(ids, h)
        loss = loss_fn(logits, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        with torch.no_grad():
            for q in model.parameters():
                q.add_(q.grad, alpha=-1.0)

    ms = time_ms(step, a.steps, a.warmup)
    n_params = sum(q.numel() for q in model.parameters())

    def lines(med):
        yield (f"torch lm: {a.config}, {a.cell}, vocabulary {V}, {L} x {H}, batch {B}, "
               f"bptt {T}, dropout {p:g}")
        yield f"torch: {torch.__version__}"
        yield f"threads: {a.threads}"
        yield f"tokens/s: {T * B * 1e3 / med:.0f}"
        yield f"parameters: {n_params}"
    report(ms, lines)


if __name__ == "__main__":
    main()
