#!/usr/bin/python3
"""PyTorch's side of `weft bench generate` and `weft bench eval`: a language
model's inference speed, eager PyTorch as a user writes it.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/generate.py --config char --batch 1 --threads 1
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/generate.py --config small --eval --threads 1

generate: the step loop of pytorch/examples' word_language_model generate.py,
under torch.inference_mode(): embedding of the last token, nn.LSTM one step
with the hidden state carried, the decoder, softmax(logits / temperature) and
torch.multinomial, for --batch streams at once. eval: one stream of --length
random ids scored in windows of --bptt steps, each window one nn.LSTM call
(its input projection and recurrence in PyTorch's own kernel) and one
cross-entropy over its rows, the state carried. The model is freshly
initialised at the configuration's shape (weft bench's), as the cost does not
depend on the weights. Prints tokens/s, wall and CPU time; the last line is
'median ms: X'.
"""
import argparse
import statistics
import time

from common import check_threads, report

CONFIGS = {
    "char": {"vocab": 70, "layers": 2, "hidden": 192, "embed": 32},
    "small": {"vocab": 10000, "layers": 2, "hidden": 200, "embed": 200},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="char", choices=sorted(CONFIGS))
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--eval", action="store_true", help="score a stream instead of generating")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--length", type=int, default=None)
    ap.add_argument("--bptt", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup-runs", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, required=True)
    a = ap.parse_args()
    torch = check_threads(a.threads, "generate.py")
    nn = torch.nn
    c = CONFIGS[a.config]
    V, L, H, E, B = c["vocab"], c["layers"], c["hidden"], c["embed"], a.batch
    length = a.length or (20000 if a.eval else 2000)
    torch.manual_seed(1)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(V, E)
            cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[a.cell]
            self.rnn = cls(E, H, L)
            self.decoder = nn.Linear(H, V)

        def forward(self, ids, hidden):
            out, hidden = self.rnn(self.encoder(ids), hidden)
            return self.decoder(out), hidden

    model = Model().eval()
    stream = torch.randint(V, (length,))
    loss_fn = nn.CrossEntropyLoss(reduction="sum")

    def generate():
        with torch.inference_mode():
            ids = torch.zeros((1, B), dtype=torch.long)
            hidden = None
            for _ in range(length):
                logits, hidden = model(ids, hidden)
                probs = torch.softmax(logits[0] / a.temperature, dim=-1)
                ids = torch.multinomial(probs, 1).view(1, B)

    def evaluate():
        with torch.inference_mode():
            hidden, nll = None, 0.0
            for s in range(0, length - 1, a.bptt):
                n = min(a.bptt, length - 1 - s)
                x = stream[s:s + n].view(n, 1)
                y = stream[s + 1:s + 1 + n]
                logits, hidden = model(x, hidden)
                nll += loss_fn(logits.view(-1, V), y).item()
            return nll

    fn = evaluate if a.eval else generate
    for _ in range(a.warmup_runs):
        fn()
    ms, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    tokens = (length - 1) if a.eval else B * length
    med_cpu = statistics.median(cpu)

    def lines(med):
        what = "eval" if a.eval else "generate"
        yield (f"torch {what}: {a.config}, {a.cell}, vocabulary {V}, {L} x {H}, embed {E}, "
               f"batch {B}, length {length}")
        yield f"torch: {torch.__version__}"
        yield f"threads: {a.threads}"
        yield f"tokens/s: {tokens * 1e3 / med:.0f}"
        yield f"tokens/s of CPU time: {tokens * 1e3 / med_cpu:.0f}"
        yield f"median CPU ms: {med_cpu:.3f}"
    report(ms, lines)


if __name__ == "__main__":
    main()
