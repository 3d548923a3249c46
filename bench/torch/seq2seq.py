"""The attention encoder-decoder of docs/seq2seq.md in PyTorch, for the
side-by-side of bench/seq2seq_side_by_side.sh.

    OMP_NUM_THREADS=1 /usr/bin/python3 bench/torch/seq2seq.py SRC TGT \
        [--cell gru|lstm] [--attention general|additive|none] [--embed E] [--hidden H] [--batch B]

One epoch over the pairs of SRC/TGT (one sentence a line), the model weft
builds for `weft train --task seq2seq --bidirectional`: source embedding, a
bidirectional encoder over packed (ragged) sequences, a bridge tanh(W [->h;
<-h] + b) per decoder state, a decoder cell fed [embed(y_{t-1}); h~_{t-1}]
(input feeding), attention over the encoder's states with padding masked
(general: q.(W v); additive: w.tanh(W v + U q); no biases),
h~_t = tanh(W_c [c_t; h_t]), a readout with bias and the mean cross-entropy
over the target words and </s>. Batches as weft's: pairs sorted by source
length, cut into batches, the batch order shuffled; Adam lr 0.001, clip 5.
Vocabularies: words seen at least twice (min-count 2) and <s> </s> <unk>.
Prints 'train tok/s: X' (target tokens with </s> a second, the training
steps alone) and the epoch's mean loss.
"""
import argparse
import collections
import random
import time

from common import check_threads

torch = check_threads(1, "seq2seq.py")
nn = torch.nn
F = torch.nn.functional
pack = nn.utils.rnn.pack_padded_sequence
unpack = nn.utils.rnn.pad_packed_sequence

BOS, EOS, UNK = 0, 1, 2


def vocab(sents, min_count):
    c = collections.Counter(w for s in sents for w in s)
    words = sorted((w for w in c if c[w] >= min_count), key=lambda w: (-c[w], w))
    return {w: i for i, w in enumerate(["<s>", "</s>", "<unk>"] + words)}


class Seq2Seq(nn.Module):
    def __init__(self, Vs, Vt, E, H, cell, attention):
        super().__init__()
        self.cell, self.attention, self.H = cell, attention, H
        K = 2 * H
        self.src_emb = nn.Embedding(Vs, E)
        self.tgt_emb = nn.Embedding(Vt, E)
        self.enc = (nn.LSTM if cell == "lstm" else nn.GRU)(E, H, bidirectional=True)
        self.bridge = nn.ModuleList([nn.Linear(K, H) for _ in range(2 if cell == "lstm" else 1)])
        feed = H if attention != "none" else 0
        self.dec = (nn.LSTMCell if cell == "lstm" else nn.GRUCell)(E + feed, H)
        if attention == "general":
            self.W = nn.Linear(K, H, bias=False)
        elif attention == "additive":
            self.W = nn.Linear(K, H, bias=False)
            self.U = nn.Linear(H, H, bias=False)
            self.w = nn.Linear(H, 1, bias=False)
        if attention != "none":
            self.att_out = nn.Linear(K + H, H, bias=False)
        self.out = nn.Linear(H, Vt)

    def forward(self, src, src_len, tgt_in, tgt_out, mask):
        y, final = self.enc(pack(self.src_emb(src), src_len, enforce_sorted=False))
        v = unpack(y)[0].transpose(0, 1)                      # [B, S, K]
        if self.cell == "lstm":
            h = torch.tanh(self.bridge[0](torch.cat([final[0][0], final[0][1]], 1)))
            c = torch.tanh(self.bridge[1](torch.cat([final[1][0], final[1][1]], 1)))
            state = (h, c)
        else:
            state = torch.tanh(self.bridge[0](torch.cat([final[0], final[1]], 1)))
        B, S = v.shape[0], v.shape[1]
        pad = torch.arange(S)[None, :] >= src_len[:, None]    # [B, S]
        keys = self.W(v) if self.attention != "none" else None
        feed = torch.zeros(B, self.H)
        emb = self.tgt_emb(tgt_in)                            # [T, B, E]
        outs = []
        for t in range(emb.shape[0]):
            x = torch.cat([emb[t], feed], 1) if self.attention != "none" else emb[t]
            state = self.dec(x, state)
            q = state[0] if self.cell == "lstm" else state
            if self.attention == "none":
                outs.append(q)
                continue
            if self.attention == "general":
                scores = torch.bmm(keys, q.unsqueeze(2)).squeeze(2)
            else:
                scores = self.w(torch.tanh(keys + self.U(q).unsqueeze(1))).squeeze(2)
            a = torch.softmax(scores.masked_fill(pad, float("-inf")), 1)
            ctx = torch.bmm(a.unsqueeze(1), v).squeeze(1)
            feed = torch.tanh(self.att_out(torch.cat([ctx, q], 1)))
            outs.append(feed)
        logits = self.out(torch.stack(outs))                  # [T, B, V]
        nll = F.cross_entropy(logits.view(-1, logits.shape[2]), tgt_out.view(-1), reduction="none")
        return (nll * mask.view(-1)).sum() / mask.sum()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("tgt")
    ap.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    ap.add_argument("--attention", default="additive", choices=["general", "additive", "none"])
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    src = [l.split() for l in open(a.src, encoding="utf-8")]
    tgt = [l.split() for l in open(a.tgt, encoding="utf-8")]
    sv, tv = vocab(src, 2), vocab(tgt, 2)
    src = [[sv.get(w, UNK) for w in s] for s in src]
    tgt = [[tv.get(w, UNK) for w in s] for s in tgt]
    model = Seq2Seq(len(sv), len(tv), a.embed, a.hidden, a.cell, a.attention)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    order = sorted(range(len(src)), key=lambda i: (len(src[i]), i))
    batches = [order[i:i + a.batch] for i in range(0, len(order), a.batch)]
    random.Random(a.seed).shuffle(batches)
    # the tensors first: the timing is of the training steps alone
    data = []
    for b in batches:
        S, T = max(len(src[i]) for i in b), max(len(tgt[i]) for i in b) + 1
        s = torch.zeros(S, len(b), dtype=torch.long)
        ti = torch.zeros(T, len(b), dtype=torch.long)
        to = torch.full((T, len(b)), EOS, dtype=torch.long)
        m = torch.zeros(T, len(b))
        for j, i in enumerate(b):
            s[:len(src[i]), j] = torch.tensor(src[i])
            ti[1:len(tgt[i]) + 1, j] = torch.tensor(tgt[i], dtype=torch.long)[:T - 1]
            to[:len(tgt[i]), j] = torch.tensor(tgt[i], dtype=torch.long)
            m[:len(tgt[i]) + 1, j] = 1
        data.append((s, torch.tensor([len(src[i]) for i in b]), ti, to, m))
    tokens, total = 0.0, 0.0
    t0 = time.perf_counter()
    for s, sl, ti, to, m in data:
        opt.zero_grad()
        loss = model(s, sl, ti, to, m)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        tokens += float(m.sum())
        total += float(loss) * float(m.sum())
    secs = time.perf_counter() - t0
    print(f"parameters: {sum(p.numel() for p in model.parameters())}")
    print(f"train loss: {total / tokens:.4f}")
    print(f"train seconds: {secs:.2f}")
    print(f"train tok/s: {tokens / secs:.0f}", flush=True)


if __name__ == "__main__":
    main()
