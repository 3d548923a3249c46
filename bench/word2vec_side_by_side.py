#!/usr/bin/python3
"""weft word2vec beside gensim 4.2 and fastText 0.9.2: the same corpus and settings,
interleaved in one run; words/s per thread and analogy accuracy.

    scripts/install-deps.sh --with-wordvec      # python3-gensim, fasttext (Debian)
    /usr/bin/python3 bench/word2vec_side_by_side.py --data PTB/ptb.train.txt \
        --analogies ANALOGIES/questions-words.txt
    ... --models sg --threads 1 --seeds 1        # a quick look

For every seed, thread count and model (skip-gram and CBOW, negative sampling),
the three tools run one after the other (their order rotating from one round to
the next), so all see the machine at about the same time. The settings are
word2vec's defaults: dim 100, window 5, 5 noise words, sample 1e-3, min-count 5,
5 epochs, lr 0.025 (skip-gram) / 0.05 (CBOW) falling linearly to lr*1e-4;
fastText without subwords (-minn 0 -maxn 0).

Speed: words/s/thread = (the corpus's words x epochs) / wall time / threads,
the same numerator for all three, and the wall time of the whole training
(reading the text, building the vocabulary, training, writing the vectors in
text format): the `weft word2vec` and `fasttext` processes, gensim's
build_vocab + train + save_word2vec_format (its import not counted). Accuracy:
every tool's vectors scored by the same evaluator, `weft word2vec eval`
(3CosAdd, questions inside the vocabulary; words matched without case).

The load average is printed with every run: the machine may be shared. Results
go to stdout as a table, and, one JSON object a run, to --log.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

GENSIM_CHILD = r"""
import sys, time, logging
from gensim.models import Word2Vec
data, out, sg, threads, seed, alpha = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
t0 = time.time()
m = Word2Vec(corpus_file=data, vector_size=100, window=5, negative=5, hs=0, sample=1e-3,
             min_count=5, epochs=5, alpha=alpha, min_alpha=alpha * 1e-4, sg=sg, cbow_mean=1,
             workers=threads, seed=seed)
m.wv.save_word2vec_format(out, binary=False)
print("seconds: %.3f" % (time.time() - t0))
"""


def load():
    return os.getloadavg()[0]


def count_words(path):
    n = 0
    with open(path, "rb") as f:
        for line in f:
            n += len(line.split())
    return n


def run_tool(tool, model, threads, seed, args, tmp):
    sg = model == "sg"
    lr = 0.025 if sg else 0.05
    out = os.path.join(tmp, f"{tool}-{model}-{threads}-{seed}")
    if tool == "weft":
        vec = out + ".txt"
        cmd = [args.weft, "--quiet", "--threads", str(threads), "word2vec", "--data", args.data,
               "--save", vec, "--model", "skipgram" if sg else "cbow", "--loss", "ns",
               "--dim", "100", "--window", "5", "--negative", "5", "--sample", "1e-3",
               "--min-count", "5", "--epochs", "5", "--lr", str(lr), "--seed", str(seed)]
    elif tool == "fasttext":
        vec = out + ".vec"
        cmd = ["fasttext", "skipgram" if sg else "cbow", "-input", args.data, "-output", out,
               "-minn", "0", "-maxn", "0", "-dim", "100", "-ws", "5", "-neg", "5", "-loss", "ns",
               "-t", "1e-3", "-minCount", "5", "-epoch", "5", "-lr", str(lr),
               "-thread", str(threads), "-seed", str(seed), "-verbose", "0"]
    else:
        vec = out + ".txt"
        cmd = ["/usr/bin/python3", "-c", GENSIM_CHILD, args.data, vec, "1" if sg else "0",
               str(threads), str(seed), str(lr)]
    before = load()
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if p.returncode != 0:
        sys.exit(f"{tool} failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    if tool == "gensim":   # its own time, without the interpreter's start and import
        wall = float(re.search(r"seconds: ([0-9.]+)", p.stdout).group(1))
    ev = subprocess.run([args.weft, "--quiet", "word2vec", "eval", "--vectors", vec,
                         "--analogies", args.analogies], capture_output=True, text=True)
    if ev.returncode != 0:
        sys.exit(f"eval of {vec} failed: {ev.stderr}")
    acc = float(re.search(r"accuracy: ([0-9.]+)\s*$", ev.stdout).group(1))
    scored = int(re.search(r"scored (\d+) ", ev.stdout).group(1))
    for f in (vec, out + ".bin"):
        if os.path.exists(f) and not args.keep:
            os.remove(f)
    return {"tool": tool, "model": model, "threads": threads, "seed": seed, "seconds": wall,
            "load_before": before, "load_after": load(), "accuracy": acc, "scored": scored,
            "command": " ".join(cmd)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--analogies", required=True)
    ap.add_argument("--weft", default="build/src/cli/weft")
    ap.add_argument("--models", default="sg,cbow")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--tools", default="weft,gensim,fasttext")
    ap.add_argument("--log", default="word2vec_side_by_side.jsonl")
    ap.add_argument("--keep", action="store_true", help="keep the vector files")
    args = ap.parse_args()
    words = count_words(args.data)
    print(f"corpus: {args.data}, {words} words; uptime: {open('/proc/loadavg').read().strip()}")
    tools = args.tools.split(",")
    results = []
    rnd = 0
    with tempfile.TemporaryDirectory() as tmp, open(args.log, "a") as log:
        for seed in [int(s) for s in args.seeds.split(",")]:
            for threads in [int(t) for t in args.threads.split(",")]:
                for model in args.models.split(","):
                    order = tools[rnd % len(tools):] + tools[:rnd % len(tools)]
                    rnd += 1
                    for tool in order:
                        r = run_tool(tool, model, threads, seed, args, tmp)
                        r["words_per_s_per_thread"] = words * 5 / r["seconds"] / threads
                        results.append(r)
                        log.write(json.dumps(r) + "\n")
                        log.flush()
                        print(f"{tool:9s} {model:4s} threads {threads} seed {seed}: "
                              f"{r['seconds']:7.2f} s, {r['words_per_s_per_thread'] / 1e3:7.1f}k "
                              f"words/s/thread, accuracy {100 * r['accuracy']:5.2f}% of "
                              f"{r['scored']}, load {r['load_before']:.1f}->{r['load_after']:.1f}",
                              flush=True)
    print()
    print("| model | threads | tool | words/s/thread (median, min-max) | accuracy % (mean, "
          "min-max over seeds) |")
    print("| --- | ---: | --- | ---: | ---: |")
    for model in args.models.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            for tool in tools:
                rs = [r for r in results if (r["tool"], r["model"], r["threads"]) ==
                      (tool, model, threads)]
                if not rs:
                    continue
                w = [r["words_per_s_per_thread"] / 1e3 for r in rs]
                a = [100 * r["accuracy"] for r in rs]
                print(f"| {'skip-gram' if model == 'sg' else 'CBOW'} | {threads} | {tool} | "
                      f"{statistics.median(w):.0f}k ({min(w):.0f}-{max(w):.0f}k) | "
                      f"{statistics.mean(a):.2f} ({min(a):.2f}-{max(a):.2f}) |")
    print(f"\nuptime at the end: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
