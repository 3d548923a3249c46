#!/usr/bin/python3
"""weft -> PyTorch for the models that are not the word-language-model example: load a classifier,
a tagger (with or without its character encoder), a window classifier, a fixed-window language
model or an encoder-decoder that `weft train` wrote into an nn.Module whose state_dict has the
file's tensor names, and run it on a file as weft does.

Usage:
  /usr/bin/python3 scripts/weft_to_torch.py MODEL.safetensors [--outputs DATA [--tgt TGT]]
                                            [--save model.pt]

--outputs prints what the model computes on DATA, one row of numbers a line, the rows weft's
tests/dump_outputs prints for the same file (tests/torch_outputs.py compares the two):
  classify, tag, window: the logits of every sentence (classify) or word (tag, window) of DATA,
      read in the model's format (classify: "LABEL word ..." lines; tag, window: CoNLL-U or BIO);
  window-lm: the logits of every token of DATA after the first, from its padded context;
  seq2seq: the log-probabilities of every target position, DATA the sources and TGT the
      targets (teacher-forced, </s> last).
--save writes torch.save(model.state_dict()).

The recurrent layers are nn.LSTM, nn.GRU and nn.RNN, so the cells are lstm, gru, rnn and rnn-relu
(the other cells have no PyTorch module: the tensors load with read_safetensors). The language
model of PyTorch's word_language_model example is scripts/lm_weft_to_torch.py.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def _lm_script():
    """scripts/lm_weft_to_torch.py (installed: weft-lm-weft-to-torch, beside this one), whose
    safetensors reader and tokenizer this script shares."""
    here = os.path.dirname(os.path.realpath(__file__))
    for name in ("lm_weft_to_torch.py", "weft-lm-weft-to-torch"):
        path = os.path.join(here, name)
        if os.path.exists(path):
            loader = importlib.machinery.SourceFileLoader("lm_weft_to_torch", path)
            module = importlib.util.module_from_spec(
                importlib.util.spec_from_loader("lm_weft_to_torch", loader))
            loader.exec_module(module)
            return module
    raise SystemExit(f"lm_weft_to_torch.py is not beside {__file__}")


_lm = _lm_script()
read_safetensors, tokens = _lm.read_safetensors, _lm.tokens


def recurrent(cell, inputs, hidden, layers, bidirectional, path):
    """The nn module of a weft cell: its tensors have nn.LSTM's / nn.GRU's / nn.RNN's names."""
    if cell == "lstm":
        return nn.LSTM(inputs, hidden, layers, bidirectional=bidirectional)
    if cell == "gru":
        return nn.GRU(inputs, hidden, layers, bidirectional=bidirectional)
    if cell in ("rnn", "rnn-relu"):
        return nn.RNN(inputs, hidden, layers, nonlinearity="tanh" if cell == "rnn" else "relu",
                      bidirectional=bidirectional)
    raise SystemExit(f"{path}: cell {cell} has no PyTorch module (lstm, gru, rnn, rnn-relu have)")


def final_h(state):
    """h_n of an nn.LSTM's (h_n, c_n), or of nn.GRU / nn.RNN."""
    return state[0] if isinstance(state, tuple) else state


def normalize(word, cfg):
    """weft_word_normalize: ASCII lowercase (--lowercase), every digit 0 (--digits)."""
    if cfg.get("lowercase"):
        word = "".join(c.lower() if c.isascii() else c for c in word)
    if cfg.get("digits"):
        word = "".join("0" if "0" <= c <= "9" else c for c in word)
    return word


class Classifier(nn.Module):
    """weft's classify, tag and window models (models/classify): embedding, [character encoder,]
    recurrent layers and a pooled (classify) or per-word (tag) linear output, or a window of
    embeddings, tanh(hidden) and the output (window)."""

    CHAR_KEEP = 30   # a longer word is read as its first and last 15 characters

    def __init__(self, cfg, words, labels, chars, path):
        super().__init__()
        self.cfg, self.words, self.labels, self.chars = cfg, words, labels, chars
        self.index = {w: i for i, w in enumerate(words)}
        E = cfg["embed"]
        self.embedding = nn.Embedding(len(words), E)
        if cfg["task"] == "window":
            self.hidden = nn.Linear((2 * cfg["window"] + 1) * E, cfg["window_hidden"])
            self.output = nn.Linear(cfg["window_hidden"], len(labels))
            return
        inputs = E
        if cfg["char_encoder"]:
            self.char_embedding = nn.Embedding(len(chars), cfg["char_embed"])
            self.char_rnn = recurrent(cfg["cell"], cfg["char_embed"], cfg["char_hidden"], 1, True,
                                      path)
            inputs += 2 * cfg["char_hidden"]
        self.rnn = recurrent(cfg["cell"], inputs, cfg["hidden"], cfg["layers"],
                             cfg["bidirectional"], path)
        dirs = 2 if cfg["bidirectional"] else 1
        self.output = nn.Linear(cfg["hidden"] * dirs, len(labels))

    def word_ids(self, sentence):
        index, unk = self.index, self.index["<unk>"]
        return torch.tensor([index.get(normalize(w, self.cfg), unk) for w in sentence])

    def char_features(self, sentence):
        """The final forward and backward states of the character rnn over each word."""
        cindex = {c: i for i, c in enumerate(self.chars)}
        unk, feats = cindex["<unk>"], []
        for w in sentence:
            ids = [cindex.get(c, unk) for c in w] or [unk]
            if len(ids) > self.CHAR_KEEP:
                ids = ids[:self.CHAR_KEEP // 2] + ids[-(self.CHAR_KEEP // 2):]
            _, state = self.char_rnn(self.char_embedding(torch.tensor(ids)).unsqueeze(1))
            h = final_h(state)   # [2, 1, Hc]: forward, backward
            feats.append(torch.cat([h[0, 0], h[1, 0]]))
        return torch.stack(feats)

    def forward(self, sentence):
        """The logits of one sentence (a list of words): [1, C] (classify) or [len, C]."""
        ids = self.word_ids(sentence)
        cfg = self.cfg
        if cfg["task"] == "window":
            k, pad = cfg["window"], self.index["<pad>"]
            padded = torch.cat([torch.full((k,), pad), ids, torch.full((k,), pad)])
            ctx = torch.stack([padded[t:t + 2 * k + 1] for t in range(len(ids))])
            x = self.embedding(ctx).reshape(len(ids), -1)
            return self.output(torch.tanh(self.hidden(x)))
        x = self.embedding(ids)
        if cfg["char_encoder"]:
            x = torch.cat([x, self.char_features(sentence)], 1)
        out, state = self.rnn(x.unsqueeze(1))
        out = out[:, 0]
        if cfg["task"] == "tag":
            return self.output(out)
        if cfg["pool"] == "last":   # the top layer's final states: forward, then backward
            h = final_h(state)[:, 0]
            pooled = h[-2:].reshape(-1) if cfg["bidirectional"] else h[-1]
        elif cfg["pool"] == "mean":
            pooled = out.mean(0)
        else:
            pooled = out.max(0).values
        return self.output(pooled).unsqueeze(0)


class WindowLM(nn.Module):
    """weft's fixed-window language model (Bengio et al. 2003; models/lm/window_lm.c):
    y = b + W x + U tanh(d + H x), x the n-1 embeddings before the token side by side."""

    def __init__(self, cfg, vocab):
        super().__init__()
        self.cfg, self.vocab = cfg, vocab
        X = (cfg["order"] - 1) * cfg["embed"]
        self.embedding = nn.Embedding(len(vocab), cfg["embed"])
        self.hidden = nn.Linear(X, cfg["hidden"])
        self.output = nn.Linear(cfg["hidden"], len(vocab))
        if cfg["direct"]:
            self.direct = nn.Linear(X, len(vocab), bias=False)

    def forward(self, ctx):
        x = self.embedding(ctx).reshape(ctx.shape[0], -1)
        y = self.output(torch.tanh(self.hidden(x)))
        return y + self.direct(x) if self.cfg["direct"] else y

    def contexts(self, ids):
        """The n-1 ids before every position after the first, padded before the text with
        <eos> (words) or a line end (characters), id 0 when the vocabulary lacks it."""
        start = "<eos>" if self.cfg["level"] == "word" else "\n"
        pad = self.vocab.index(start) if start in self.vocab else 0
        c = self.cfg["order"] - 1
        padded = [pad] * c + ids
        return torch.tensor([padded[t:t + c] for t in range(1, len(ids))])


class Seq2seq(nn.Module):
    """weft's encoder-decoder (models/seq2seq): the encoder an nn.LSTM/GRU/RNN ("enc."), the
    decoder one of them run a step at a time ("dec."), Luong's attention (dot, general) or
    Bahdanau's (additive) with input feeding, the bridge tanh(W h_enc + b) per decoder state."""

    def __init__(self, cfg, src_vocab, tgt_vocab, path):
        super().__init__()
        self.cfg, self.src_vocab, self.tgt_vocab = cfg, src_vocab, tgt_vocab
        E, H = cfg["embed"], cfg["hidden"]
        dirs = 2 if cfg["bidirectional"] else 1
        K = H * dirs
        self.src_emb = nn.Embedding(len(src_vocab), E)
        self.tgt_emb = nn.Embedding(len(tgt_vocab), E)
        self.enc = recurrent(cfg["enc_cell"], E, H, cfg["enc_layers"], cfg["bidirectional"], path)
        attends = cfg["attention"] != "none"
        feed = attends and cfg["input_feed"]
        self.dec = recurrent(cfg["dec_cell"], E + (H if feed else 0), H, cfg["dec_layers"], False,
                             path)
        self.dec_states = 2 if cfg["dec_cell"] == "lstm" else 1
        if cfg["bridge"]:
            self.bridge = nn.ParameterDict()
            for l in range(cfg["dec_layers"]):
                for k in range(self.dec_states):
                    self.bridge[f"W_l{l}_s{k}"] = nn.Parameter(torch.zeros(H, K))
                    self.bridge[f"b_l{l}_s{k}"] = nn.Parameter(torch.zeros(H))
        if attends:
            A = cfg["attn_hidden"] or H
            shapes = {"dot": {}, "general": {"W": (H, K)},
                      "additive": {"W": (A, K), "U": (A, H), "w": (1, A)}}[cfg["attention"]]
            if shapes:
                self.attn = nn.ParameterDict({n: nn.Parameter(torch.zeros(s))
                                              for n, s in shapes.items()})
            self.attn_out = nn.Linear(K + H, H, bias=False)
        self.out = nn.Linear(H, len(tgt_vocab))
        if cfg["tied"]:
            self.out.weight = self.tgt_emb.weight

    def encode(self, src):
        """The encoder's outputs [S, K] and the decoder's first state."""
        cfg, H = self.cfg, self.cfg["hidden"]
        values, state = self.enc(self.src_emb(src).unsqueeze(1))
        dirs = 2 if cfg["bidirectional"] else 1
        enc_states = state if isinstance(state, tuple) else (state,)
        per_state = []
        for k in range(self.dec_states):
            layers = []
            for l in range(cfg["dec_layers"]):
                if not cfg["bridge"]:
                    layers.append(torch.zeros(1, H))
                    continue
                # decoder layer l from encoder layer min(l, L_enc - 1), state k (or h)
                el = min(l, cfg["enc_layers"] - 1)
                s = enc_states[k] if k < len(enc_states) else enc_states[0]
                x = torch.cat([s[el * dirs + d] for d in range(dirs)], 1)
                layers.append(torch.tanh(F.linear(x, self.bridge[f"W_l{l}_s{k}"],
                                                  self.bridge[f"b_l{l}_s{k}"])))
            per_state.append(torch.stack(layers))   # [L_dec, 1, H]
        first = tuple(per_state) if self.dec_states == 2 else per_state[0]
        return values[:, 0], first

    def step(self, values, state, feed, prev):
        """One decoder step: the log-probabilities of the next token, the state, the feed."""
        cfg = self.cfg
        x = self.tgt_emb(torch.tensor([prev]))
        if feed is not None:
            x = torch.cat([x, feed], 1)
        out, state = self.dec(x.unsqueeze(0), state)
        h = out[0]                                              # [1, H]
        if cfg["attention"] != "none":
            if cfg["attention"] == "dot":
                scores = values @ h[0]
            elif cfg["attention"] == "general":
                scores = (values @ self.attn["W"].t()) @ h[0]
            else:
                e = torch.tanh(values @ self.attn["W"].t() + h @ self.attn["U"].t())
                scores = (e @ self.attn["w"].t())[:, 0]
            context = torch.softmax(scores, 0) @ values         # [K]
            h = torch.tanh(self.attn_out(torch.cat([context.unsqueeze(0), h], 1)))
            if cfg["input_feed"]:
                feed = h
        return F.log_softmax(self.out(h), 1), state, feed

    def forward(self, src, tgt):
        """Teacher-forced log-probabilities [len(tgt) + 1, V] (the last one's target </s>)."""
        values, state = self.encode(src)
        feeds = self.cfg["attention"] != "none" and self.cfg["input_feed"]
        feed = torch.zeros(1, self.cfg["hidden"]) if feeds else None
        rows, prev = [], 0   # <s>
        for t in range(len(tgt) + 1):
            logp, state, feed = self.step(values, state, feed, prev)
            rows.append(logp[0])
            if t < len(tgt):
                prev = tgt[t]
        return torch.stack(rows)


def load(path):
    """The nn.Module of a weft checkpoint (strict: every tensor by name and shape), its config."""
    tensors, meta = read_safetensors(path)
    if "weft.config" not in meta:
        raise SystemExit(f"{path}: not a weft checkpoint (no weft.config in its metadata)")
    cfg = json.loads(meta["weft.config"])
    task = cfg.get("task", "lm")
    vocab = json.loads(meta["weft.vocab"])
    if task in ("classify", "tag", "window"):
        chars = json.loads(meta["weft.chars"]) if "weft.chars" in meta else None
        model = Classifier(cfg, vocab, json.loads(meta["weft.labels"]), chars, path)
    elif task == "window-lm":
        model = WindowLM(cfg, vocab)
    elif task == "seq2seq":
        model = Seq2seq(cfg, json.loads(meta["weft.src_vocab"]), vocab, path)
        if cfg["tied"]:
            tensors["out.weight"] = tensors["tgt_emb.weight"]
    else:
        raise SystemExit(f"{path}: a {task} model: scripts/lm_weft_to_torch.py loads those")
    model.load_state_dict(tensors)
    return model.eval(), cfg


def read_sentences(path, cfg):
    """The sentences of a classify file ("LABEL word ...") or of CoNLL-U / BIO columns."""
    sents, cur = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if cfg["format"] == "classify":
                if line.split():
                    sents.append(line.split()[1:])
                continue
            if not line.strip():
                if cur:
                    sents.append(cur)
                cur = []
                continue
            if line.startswith("#"):
                continue
            cols = line.split("\t") if cfg["format"] == "conllu" else line.split()
            if cfg["format"] == "conllu" and not cols[0].isdigit():
                continue   # multiword ranges (1-2) and empty nodes (1.1)
            cur.append(cols[1] if cfg["format"] == "conllu" else cols[0])
    if cur:
        sents.append(cur)
    return sents


def outputs(model, cfg, data, tgt):
    """The rows tests/dump_outputs prints for the same model and files."""
    task = cfg.get("task")
    with torch.no_grad():
        if task in ("classify", "tag", "window"):
            return torch.cat([model(s) for s in read_sentences(data, cfg)])
        if task == "window-lm":
            index = {t: i for i, t in enumerate(model.vocab)}
            ids = [index.get(t, index.get("<unk>", 0)) for t in tokens(data, cfg["level"])]
            return model(model.contexts(ids))
        sidx = {t: i for i, t in enumerate(model.src_vocab)}
        tidx = {t: i for i, t in enumerate(model.tgt_vocab)}
        rows = []
        with open(data, encoding="utf-8") as fs, open(tgt, encoding="utf-8") as ft:
            for s, t in zip(fs, ft):
                src = torch.tensor([sidx.get(w, 2) for w in s.split()])
                rows.append(model(src, [tidx.get(w, 2) for w in t.split()]))
        return torch.cat(rows)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--outputs", metavar="DATA")
    p.add_argument("--tgt", metavar="TGT")
    p.add_argument("--save", metavar="PT")
    a = p.parse_args()
    model, cfg = load(a.model)
    print(f"{a.model}: {cfg['task']} model, {sum(t.numel() for t in model.state_dict().values())} "
          f"parameters", file=sys.stderr)
    if a.outputs:
        if cfg["task"] == "seq2seq" and not a.tgt:
            raise SystemExit("a seq2seq model needs --tgt TGT beside --outputs SRC")
        for row in outputs(model, cfg, a.outputs, a.tgt):
            print(" ".join(f"{v:.9g}" for v in row.tolist()))
    if a.save:
        torch.save(model.state_dict(), a.save)
        print(f"saved {a.save}", file=sys.stderr)
