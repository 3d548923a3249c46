#!/usr/bin/python3
"""weft -> PyTorch: load a weft language model file into PyTorch's word_language_model
RNNModel, and optionally score a text the way `weft eval` does (one stream, batch 1, the state
carried, every token after the first), to check that both give the same perplexity.

Usage:
  /usr/bin/python3 scripts/lm_weft_to_torch.py MODEL.safetensors [--eval TEXT] [--save model.pt]

--save writes torch.save(model.state_dict()) and MODEL's vocabulary as model.pt.vocab (one token
a line, the newline character as \\n), what the example's generate.py needs besides its corpus.
Cells other than lstm, gru, rnn and rnn-relu have no nn module in PyTorch: the tensors load
(read_safetensors) but RNNModel cannot run them.
"""
import argparse
import json
import math
import struct

import torch
import torch.nn as nn


def read_safetensors(path):
    """The tensors (F32) and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(t["shape"])
    return tensors, meta


class RNNModel(nn.Module):
    """pytorch/examples word_language_model/model.py, recurrent branch."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.0, tie_weights=False):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ("LSTM", "GRU"):
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.rnn_type, self.nhid, self.nlayers = rnn_type, nhid, nlayers

    def forward(self, x, hidden):
        emb = self.drop(self.encoder(x))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        return self.decoder(output).view(-1, self.decoder.out_features), hidden

    def init_hidden(self, bsz):
        z = torch.zeros(self.nlayers, bsz, self.nhid)
        return (z, z.clone()) if self.rnn_type == "LSTM" else z


def load(path):
    tensors, meta = read_safetensors(path)
    cfg = json.loads(meta["weft.config"])
    vocab = json.loads(meta["weft.vocab"])
    rnn_type = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN_TANH", "rnn-relu": "RNN_RELU"}.get(cfg["cell"])
    if rnn_type is None:
        raise SystemExit(f"{path}: cell {cfg['cell']} has no PyTorch module")
    model = RNNModel(rnn_type, len(vocab), cfg["embed"], cfg["hidden"], cfg["layers"],
                     tie_weights=cfg.get("tied", False))
    if cfg.get("tied") and "decoder.weight" not in tensors:
        tensors["decoder.weight"] = tensors["encoder.weight"]
    model.load_state_dict(tensors)   # strict: every name, every shape
    return model.eval(), cfg, vocab


def tokens(path, level):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if level == "char":
        return list(text)
    out = []
    for line in text.splitlines():
        out += line.split() + ["<eos>"]
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--eval", metavar="TEXT")
    p.add_argument("--save", metavar="PT")
    a = p.parse_args()
    model, cfg, vocab = load(a.model)
    print(f"{a.model}: {cfg['cell']}, {cfg['layers']} x {cfg['hidden']}, embed {cfg['embed']}, "
          f"vocabulary {len(vocab)}")
    if a.eval:
        index = {t: i for i, t in enumerate(vocab)}
        unk = index.get("<unk>")
        ids = torch.tensor([index.get(t, unk) for t in tokens(a.eval, cfg["level"])])
        with torch.no_grad():
            logits, _ = model(ids[:-1].view(-1, 1), model.init_hidden(1))
            nll = nn.functional.cross_entropy(logits.double(), ids[1:]).item()
        print(f"perplexity: {math.exp(nll):.4f}")
    if a.save:
        torch.save(model.state_dict(), a.save)
        with open(a.save + ".vocab", "w", encoding="utf-8") as f:
            f.writelines(("\\n" if t == "\n" else t) + "\n" for t in vocab)
        print(f"saved {a.save} and {a.save}.vocab")
