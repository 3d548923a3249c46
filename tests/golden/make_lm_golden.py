#!/usr/bin/python3
"""Write tests/golden/lm_lstm2.safetensors and lm_lstm2.txt: a language model
made in PyTorch, for tests/test_lm.c.

The model is PyTorch's word_language_model RNNModel (encoder nn.Embedding,
nn.LSTM with 2 layers, decoder nn.Linear), with random weights from a fixed
seed, over the vocabulary of a tiny word-level text (ids in order of first
occurrence, "<eos>" at each line end, as the example's data.Corpus builds
them). The safetensors file is written by hand (Debian ships no safetensors
package) as tests/golden/make_safetensors.py does, with the weft.config and
weft.vocab metadata. The .txt file holds the text and, on its first line, the
perplexity PyTorch computes over it as one stream with batch 1 and the state
carried: inputs t[0..n-2], targets t[1..n-1].

Usage: /usr/bin/python3 tests/golden/make_lm_golden.py [outdir]
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

TEXT = ("the cat sat on the mat\n"
        "the dog sat on the log\n"
        "a cat and a dog met on a mat\n")


class RNNModel(nn.Module):
    """pytorch/examples word_language_model/model.py, LSTM branch, no dropout."""

    def __init__(self, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x, hidden):
        emb = self.encoder(x)
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(output).view(-1, self.decoder.out_features), hidden


words = []
for line in TEXT.splitlines(keepends=True):
    words += line.split() + ["<eos>"]
vocab = []
for w in words:
    if w not in vocab:
        vocab.append(w)
ids = torch.tensor([vocab.index(w) for w in words], dtype=torch.long)

torch.manual_seed(1234)
V, E, H, L = len(vocab), 6, 5, 2
model = RNNModel(V, E, H, L)
with torch.no_grad():     # livelier than the default initialisation
    for p in model.parameters():
        p.uniform_(-0.5, 0.5)
model.eval()
with torch.no_grad():
    x = ids[:-1].view(-1, 1)            # [T, B=1]
    y = ids[1:]
    h0 = (torch.zeros(L, 1, H), torch.zeros(L, 1, H))
    logits, _ = model(x, h0)
    loss = nn.functional.cross_entropy(logits.double(), y, reduction="mean").item()
ppl = math.exp(loss)

config = {"task": "lm", "level": "word", "cell": "lstm", "layers": L, "hidden": H, "embed": E,
          "tied": False, "dropout": 0.0, "vocab_size": V}
metadata = {"format": "pt", "weft.config": json.dumps(config),
            "weft.vocab": json.dumps(vocab, ensure_ascii=False)}
tensors = model.state_dict()
names = sorted(tensors)   # the reference writer orders by (alignment, name)
header = {"__metadata__": metadata}
data = b""
for name in names:
    t = tensors[name].contiguous()
    raw = t.numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape),
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
text += b" " * (-len(text) % 8)
with open(os.path.join(out_dir, "lm_lstm2.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    f.write(data)
with open(os.path.join(out_dir, "lm_lstm2.txt"), "w") as f:
    f.write(TEXT)
with open(os.path.join(out_dir, "lm_lstm2.ppl"), "w") as f:
    f.write(f"{ppl!r}\n")
print(f"vocabulary {V}, {len(words)} tokens, perplexity {ppl!r}")
