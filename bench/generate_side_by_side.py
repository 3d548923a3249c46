#!/usr/bin/python3
"""weft's inference beside PyTorch eager: generation and scoring tokens/s, interleaved in one run.

    /usr/bin/python3 bench/generate_side_by_side.py                 # docs/performance.md's table
    /usr/bin/python3 bench/generate_side_by_side.py --rounds 5 --weft build/src/cli/weft

Rows: `weft bench generate` (weft_lm_sample, what `weft sample` runs) against
bench/torch/generate.py's step loop (nn.LSTM one step, decoder, softmax,
multinomial, under torch.inference_mode), for the README's character LSTM
(2 x 192, embed 32, 70 tokens) and Zaremba's small word LSTM (2 x 200, 10,000
tokens), 1 and 8 streams; and `weft bench eval` (weft_lm_eval, what `weft
eval` runs on a file) against one nn.LSTM call a window over one stream. Each
round runs every command once, weft then PyTorch for each row; after all
rounds the median of each command's per-round medians is taken. Both wall
and CPU time are read: on a machine shared with other work the wall clock
also counts the time others held the core, CPU time what the run itself
cost. Ratios are weft's tokens/s over PyTorch's. Threads: 1 on both sides
(--threads), OMP_NUM_THREADS for PyTorch's BLIS. The load average is
printed before and after. Standard library only.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def rows(quick):
    """(name, weft args, torch args) a row."""
    gen_len = {"char": 1000 if quick else 4000, "small": 200 if quick else 1000}
    eval_len = {"char": 20000 if quick else 100000, "small": 5000 if quick else 20000}
    out = []
    for config in ("char", "small"):
        for batch in (1, 8):
            n = gen_len[config] // (2 if batch > 1 else 1)
            common = ["--config", config, "--batch", str(batch), "--tokens", str(n)]
            out.append((f"generate {config} batch {batch}", ["bench", "generate"] + common,
                        common))
        common = ["--config", config, "--tokens", str(eval_len[config])]
        out.append((f"eval {config} (one stream)", ["bench", "eval"] + common,
                    common + ["--eval"]))
    return out


def run(cmd, env):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    wall = float(re.search(r"^median ms: ([0-9.]+)", p.stdout, re.M).group(1))
    cpu = float(re.search(r"^median CPU ms: ([0-9.]+)", p.stdout, re.M).group(1))
    tok = float(re.search(r"^tokens/s: ([0-9.]+)", p.stdout, re.M).group(1))
    tok_cpu = float(re.search(r"^tokens/s of CPU time: ([0-9.]+)", p.stdout, re.M).group(1))
    return wall, cpu, tok, tok_cpu


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weft", default=os.path.join(ROOT, "build", "src", "cli", "weft"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs a command")
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    a = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    torch_script = os.path.join(HERE, "torch", "generate.py")
    table = rows(a.quick)
    print(f"load average before: {load()}  ({time.strftime('%Y-%m-%d %H:%M:%S')})", flush=True)
    got = {name: {"weft": [], "torch": []} for name, _, _ in table}
    for r in range(a.rounds):
        for name, w, t in table:
            rep = ["--repeat", str(a.repeat)]
            got[name]["weft"].append(run([a.weft, "--quiet", "--threads", "1"] + w + rep, env))
            got[name]["torch"].append(run(["/usr/bin/python3", torch_script, "--threads", "1"]
                                          + t + rep, env))
        print(f"round {r + 1} of {a.rounds} done, load {load()}", flush=True)
    print(f"load average after: {load()}")
    print()
    print("| workload | weft tokens/s | PyTorch tokens/s | ratio | weft tokens/s (CPU) | "
          "PyTorch tokens/s (CPU) | ratio (CPU) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, _, _ in table:
        med = lambda side, k: statistics.median(x[k] for x in got[name][side])
        wt, tt, wc, tc = med("weft", 2), med("torch", 2), med("weft", 3), med("torch", 3)
        print(f"| {name} | {wt:,.0f} | {tt:,.0f} | {wt / tt:.2f}x | {wc:,.0f} | {tc:,.0f} | "
              f"{wc / tc:.2f}x |")


if __name__ == "__main__":
    main()
