#!/usr/bin/python3
"""PyTorch -> weft: write a word_language_model checkpoint as a weft model file.

Input: a state_dict saved with torch.save(model.state_dict(), "model.pt") from PyTorch's
word_language_model example (RNNModel with rnn_type LSTM, GRU, RNN_TANH or RNN_RELU; the
example's TransformerModel is not a recurrent model), and its vocabulary, one token a line in
index order (corpus.dictionary.idx2word). The sizes, the layers and the tying are read from
the tensors. Output: a safetensors file with the same tensor names and weft's metadata
(docs/lm.md), ready for `weft eval` and `weft sample`.

Usage:
  /usr/bin/python3 scripts/lm_torch_to_weft.py model.pt vocab.txt out.safetensors \
      [--level word|char] [--cell lstm|gru|rnn|rnn-relu] [--key encoder=emb ...] [--map keys.json]

A model of your own whose modules have other names (self.emb = nn.Embedding, self.lstm =
nn.LSTM, self.fc = nn.Linear) loads with a key map: --key WEFT=YOURS for each module, or
--map FILE.json holding {"encoder": "emb", "rnn": "lstm", "decoder": "fc"}. A prefix maps every
tensor under it (fc.weight -> decoder.weight). A tensor weft needs that the file lacks is an
error naming it and the keys the file has.

Debian ships no safetensors package, so the file is written here with struct and json.
"""
import argparse
import json
import re
import struct

import torch

p = argparse.ArgumentParser()
p.add_argument("state_dict")
p.add_argument("vocab")
p.add_argument("out")
p.add_argument("--level", default="word", choices=["word", "char"])
p.add_argument("--cell", default=None, help="lstm, gru, rnn or rnn-relu (default: from shapes)")
p.add_argument("--key", action="append", default=[], metavar="WEFT=YOURS",
               help="your module's name for one of weft's: encoder, rnn, decoder")
p.add_argument("--map", metavar="FILE.json", help='{"encoder": "emb", "rnn": "lstm", ...}')
a = p.parse_args()

sd = torch.load(a.state_dict, map_location="cpu")
if not isinstance(sd, dict):          # a whole model was saved
    sd = sd.state_dict()

# the key map: weft's module name -> the file's
key_map = {}
if a.map:
    try:
        with open(a.map, encoding="utf-8") as f:
            key_map.update(json.load(f))
    except (OSError, ValueError) as e:
        raise SystemExit(f"{a.map}: not a JSON key map: {e}")
    if not isinstance(key_map, dict) or not all(isinstance(v, str) for v in key_map.values()):
        raise SystemExit(f"{a.map}: a key map is an object of names, e.g. {{\"encoder\": \"emb\"}}")
for kv in a.key:
    weft_name, sep, theirs = kv.partition("=")
    if not sep or not weft_name or not theirs:
        raise SystemExit(f"--key {kv}: expected WEFT=YOURS, e.g. --key decoder=fc")
    key_map[weft_name] = theirs
for weft_name in key_map:
    if weft_name not in ("encoder", "rnn", "decoder"):
        raise SystemExit(f"key map: '{weft_name}' is not one of weft's modules: encoder, rnn, decoder")
renamed = {}
for name, t in sd.items():
    for weft_name, theirs in key_map.items():
        if name == theirs or name.startswith(theirs + "."):
            name = weft_name + name[len(theirs):]
            break
    renamed[name] = t
sd = renamed
needed = ["encoder.weight", "rnn.weight_hh_l0", "rnn.weight_ih_l0", "decoder.bias"]
missing = [k for k in needed if k not in sd]
if missing:
    have = ", ".join(sorted(sd)[:12]) + (", ..." if len(sd) > 12 else "")
    raise SystemExit(f"{a.state_dict}: no tensor '{missing[0]}' (after the key map). The file has: "
                     f"{have}. Map your module names with --key encoder=... --key rnn=... "
                     f"--key decoder=... or --map FILE.json")
with open(a.vocab, encoding="utf-8") as f:
    if a.level == "char":
        # one character a line; the newline character itself as the escape \n
        vocab = [line[:-1] if line.endswith("\n") else line for line in f]
        vocab = ["\n" if t == "\\n" else t for t in vocab]
    else:
        vocab = [line.strip() for line in f if line.strip()]

V, E = sd["encoder.weight"].shape
H = sd["rnn.weight_hh_l0"].shape[1]
layers = 1 + max(int(m.group(1)) for k in sd for m in [re.match(r"rnn\.weight_hh_l(\d+)$", k)] if m)
gates = sd["rnn.weight_hh_l0"].shape[0] // H
cell = a.cell or {4: "lstm", 3: "gru", 1: "rnn"}[gates]
tied = "decoder.weight" in sd and sd["decoder.weight"].data_ptr() == sd["encoder.weight"].data_ptr()
tied = tied or ("decoder.weight" in sd and torch.equal(sd["decoder.weight"], sd["encoder.weight"]))
if len(vocab) != V:
    raise SystemExit(f"{a.vocab}: {len(vocab)} tokens, but encoder.weight has {V} rows")

config = {"task": "lm", "level": a.level, "cell": cell, "layers": layers, "hidden": H,
          "embed": E, "tied": tied, "dropout": 0.0, "vocab_size": V}
meta = {"format": "pt", "weft.config": json.dumps(config),
        "weft.vocab": json.dumps(vocab, ensure_ascii=False)}
header, data = {"__metadata__": meta}, b""
for name in sorted(sd):
    raw = sd[name].detach().contiguous().float().numpy().astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(sd[name].shape),
                    "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
text += b" " * (-len(text) % 8)
with open(a.out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
print(f"{a.out}: {cell}, {layers} x {H}, embed {E}, vocabulary {V}{', tied' if tied else ''}")
