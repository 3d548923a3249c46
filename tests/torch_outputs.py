#!/usr/bin/python3
"""weft's non-LM checkpoints in PyTorch (issue: interop beyond the word LM): train tiny models of
every kind with `weft train` (classify with each pooling, tag with the character encoder, window,
window-lm with direct connections, seq2seq with each attention), load each into the nn.Module of
scripts/weft_to_torch.py and check that its outputs on a file equal what weft computes on it
(tests/dump_outputs), number for number.

    /usr/bin/python3 tests/torch_outputs.py WEFT DUMP_OUTPUTS

Skipped (exit 77) with a message when PyTorch is not installed for this python."""
import os
import subprocess
import sys
import tempfile

try:
    import torch  # noqa: F401
except ImportError:
    print(f"torch_outputs: skipped: PyTorch is not installed for {sys.executable} (Debian: "
          f"apt-get install python3-torch)")
    sys.exit(77)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import weft_to_torch  # noqa: E402

CLASSIFY = "pos good fine film\nneg bad awful film\npos great good film\nneg bad boring\n" \
           "pos fine great\nneg awful boring bad film\n"
CONLLU = "".join(
    "".join(f"{i + 1}\t{w}\t{w}\t{t}\t_\t_\t0\t_\t_\t_\n" for i, (w, t) in enumerate(s)) + "\n"
    for s in [[("The", "DET"), ("cat", "NOUN"), ("sat", "VERB")],
              [("a", "DET"), ("dog", "NOUN"), ("ran", "VERB"), ("far", "ADV")],
              [("dogs", "NOUN"), ("ran", "VERB")]])
TEXT = "the cat sat on the mat\nthe dog sat on the log\na cat ran\n"
SRC = "a b c d\nb c a\nc d a b e\n"
TGT = "d c b a\na c b\ne b a d c\n"

SMALL = ["--epochs", "1", "--seed", "3"]
MODELS = [
    ("classify-lstm-last-bi", ["--task", "classify", "--data", "cls.txt", "--cell", "lstm",
                               "--layers", "2", "--hidden", "4", "--embed", "3",
                               "--bidirectional", "--pool", "last"], "cls.txt", None),
    ("classify-gru-mean", ["--task", "classify", "--data", "cls.txt", "--cell", "gru",
                           "--hidden", "5", "--embed", "3", "--pool", "mean"], "cls.txt", None),
    ("classify-rnn-max", ["--task", "classify", "--data", "cls.txt", "--cell", "rnn", "--hidden",
                          "4", "--embed", "3", "--pool", "max", "--lowercase"], "cls.txt", None),
    ("tag-lstm-chars", ["--task", "tag", "--data", "tag.conllu", "--cell", "lstm", "--hidden",
                        "3", "--embed", "3", "--bidirectional", "--char-encoder",
                        "--char-embed", "2", "--char-hidden", "2", "--lowercase"],
     "tag.conllu", None),
    ("window", ["--task", "window", "--data", "tag.conllu", "--embed", "3", "--window", "1",
                "--window-hidden", "4"], "tag.conllu", None),
    ("window-lm-direct", ["--task", "window-lm", "--data", "text.txt", "--order", "3",
                          "--embed", "3", "--hidden", "4", "--direct"], "text.txt", None),
    ("seq2seq-additive-bi", ["--task", "seq2seq", "--src", "src.txt", "--tgt", "tgt.txt",
                             "--hidden", "4", "--embed", "3", "--attention", "additive",
                             "--attn-hidden", "3", "--bidirectional", "--layers", "2"],
     "src.txt", "tgt.txt"),
    ("seq2seq-general-gru", ["--task", "seq2seq", "--src", "src.txt", "--tgt", "tgt.txt",
                             "--cell", "gru", "--hidden", "4", "--embed", "3", "--attention",
                             "general", "--enc-layers", "2", "--dec-layers", "1"],
     "src.txt", "tgt.txt"),
    ("seq2seq-dot-tied", ["--task", "seq2seq", "--src", "src.txt", "--tgt", "tgt.txt",
                          "--hidden", "4", "--embed", "4", "--attention", "dot", "--tie",
                          "--no-input-feed"], "src.txt", "tgt.txt"),
    ("seq2seq-none-nobridge", ["--task", "seq2seq", "--src", "src.txt", "--tgt", "tgt.txt",
                               "--enc-cell", "gru", "--dec-cell", "lstm", "--hidden", "4",
                               "--embed", "3", "--attention", "none", "--no-bridge"],
     "src.txt", "tgt.txt"),
]


def numbers(text):
    return [[float(x) for x in line.split()] for line in text.strip().split("\n")]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    weft, dump = (os.path.abspath(a) for a in sys.argv[1:])
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in [("cls.txt", CLASSIFY), ("tag.conllu", CONLLU), ("text.txt", TEXT),
                           ("src.txt", SRC), ("tgt.txt", TGT)]:
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                f.write(text)
        for name, flags, data, tgt in MODELS:
            model = os.path.join(tmp, name + ".safetensors")
            p = subprocess.run([weft, "--quiet", "--threads", "1", "train"] + flags + SMALL +
                               ["--save", model], cwd=tmp, capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{name}: weft train failed: {p.stderr.strip()}")
                failures += 1
                continue
            p = subprocess.run([dump, model, data] + ([tgt] if tgt else []), cwd=tmp,
                               capture_output=True, text=True)
            if p.returncode != 0:
                print(f"{name}: dump_outputs failed: {p.stderr.strip()}")
                failures += 1
                continue
            ours = numbers(p.stdout)
            m, cfg = weft_to_torch.load(model)
            cwd = os.getcwd()
            os.chdir(tmp)
            try:
                theirs = weft_to_torch.outputs(m, cfg, data, tgt).tolist()
            finally:
                os.chdir(cwd)
            shape = (len(ours), len(ours[0]))
            if (len(theirs), len(theirs[0])) != shape:
                print(f"{name}: weft gives {shape} numbers, PyTorch {len(theirs)}x{len(theirs[0])}")
                failures += 1
                continue
            worst = max(abs(a - b) / (1e-4 + abs(b)) for ra, rb in zip(ours, theirs)
                        for a, b in zip(ra, rb))
            spread = max(abs(a) for r in ours for a in r)
            ok = worst < 1e-3 and spread > 1e-3
            print(f"{name}: {shape[0]}x{shape[1]} outputs, max |weft - torch| / (1e-4 + |torch|) "
                  f"{worst:.2e} {'ok' if ok else 'FAIL'}")
            failures += not ok
    print(f"torch_outputs: {len(MODELS)} models, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
