"""The bi-LSTM sentence classifier and tagger of docs/classify.md in PyTorch,
with packed sequences, for the side-by-side of bench/classify_side_by_side.sh.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/classify.py classify FILE [SENTENCES]
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/classify.py tag FILE.conllu [SENTENCES]

One epoch over the first SENTENCES examples (default all): batches of 32 of
similar length (pools of 20 batches sorted by length, batch order shuffled,
as weft's buckets), Adam, clip 5, dropout 0.5 / 0.33. Prints the training
throughput (sentences and words a second, the training steps only) as
'train sent/s: X' and 'train words/s: Y'.
Sizes as the documented runs: classify embed 300, hidden 150, max pooling;
tag embed 100, hidden 100 (no character encoder).
"""
import random
import sys
import time

from common import check_threads

torch = check_threads(1, "classify.py")
nn = torch.nn
pack = nn.utils.rnn.pack_padded_sequence
unpack = nn.utils.rnn.pad_packed_sequence


def read_classify(path, limit):
    out = []
    for line in open(path, encoding="utf-8"):
        f = line.split()
        if len(f) >= 2:
            out.append((f[1:], f[0]))
        if limit and len(out) >= limit:
            break
    return out


def read_conllu(path, limit):
    out, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line:
            if words:
                out.append((words, tags))
                words, tags = [], []
                if limit and len(out) >= limit:
                    break
            continue
        if line.startswith("#"):
            continue
        f = line.split("\t")
        if "-" in f[0] or "." in f[0]:
            continue
        words.append(f[1].lower())
        tags.append(f[3])
    return out


class Model(nn.Module):
    def __init__(self, V, C, E, H, p, per_word):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.LSTM(E, H, bidirectional=True)
        self.drop = nn.Dropout(p)
        self.out = nn.Linear(2 * H, C)
        self.per_word = per_word

    def forward(self, ids, lengths):          # ids [T, B], lengths descending
        x = self.drop(self.emb(ids))
        y, _ = self.rnn(pack(x, lengths))
        y, _ = unpack(y, padding_value=float("-inf") if not self.per_word else 0.0)
        if self.per_word:
            return self.out(self.drop(y))       # [T, B, C]
        return self.out(self.drop(y.max(0).values))   # max over the real steps


def batches(n_items, lengths, batch, pool, rng):
    order = list(range(n_items))
    rng.shuffle(order)
    out = []
    for p0 in range(0, n_items, batch * pool):
        chunk = sorted(order[p0:p0 + batch * pool], key=lambda i: -lengths[i])
        out += [chunk[i:i + batch] for i in range(0, len(chunk), batch)]
    rng.shuffle(out)
    return out


def main():
    task, path = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    per_word = task == "tag"
    data = read_conllu(path, limit) if per_word else read_classify(path, limit)
    vocab, labels = {"<unk>": 0}, {}
    for words, lab in data:
        for w in words:
            vocab.setdefault(w, len(vocab))
        for t in (lab if per_word else [lab]):
            labels.setdefault(t, len(labels))
    E, H, p = (100, 100, 0.33) if per_word else (300, 150, 0.5)
    torch.manual_seed(1)
    model = Model(len(vocab), len(labels), E, H, p, per_word)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lengths = [len(w) for w, _ in data]
    rng = random.Random(1)
    sents = words_done = 0
    secs = cpu = 0.0
    model.train()
    for b in batches(len(data), lengths, 32, 20, rng):
        t0 = time.perf_counter()
        c0 = time.process_time()
        T = lengths[b[0]]
        ids = torch.zeros(T, len(b), dtype=torch.long)
        for j, i in enumerate(b):
            ids[:lengths[i], j] = torch.tensor([vocab[w] for w in data[i][0]])
        lens = torch.tensor([lengths[i] for i in b])
        logits = model(ids, lens)
        if per_word:
            gold = torch.full((T, len(b)), -100, dtype=torch.long)
            for j, i in enumerate(b):
                gold[:lengths[i], j] = torch.tensor([labels[t] for t in data[i][1]])
            loss = nn.functional.cross_entropy(logits.reshape(T * len(b), -1), gold.reshape(-1),
                                               ignore_index=-100)
        else:
            gold = torch.tensor([labels[data[i][1]] for i in b])
            loss = nn.functional.cross_entropy(logits, gold)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        secs += time.perf_counter() - t0
        cpu += time.process_time() - c0
        sents += len(b)
        words_done += int(lens.sum())
    print(f"torch {torch.__version__}, {task}, {len(data)} sentences, {words_done} words, "
          f"{secs:.1f} s of training")
    print(f"train sent/s: {sents / secs:.1f}")
    print(f"train words/s: {words_done / secs:.1f}")
    print(f"train sent/CPU-s: {sents / cpu:.1f}")
    print(f"train words/CPU-s: {words_done / cpu:.1f}")


if __name__ == "__main__":
    main()
