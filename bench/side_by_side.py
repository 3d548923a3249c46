#!/usr/bin/python3
"""weft beside PyTorch: the same workloads, interleaved in one run, as ratios.

    /usr/bin/python3 bench/side_by_side.py --quick          # under 2 minutes on 2 cores
    /usr/bin/python3 bench/side_by_side.py                  # the full set (docs/performance.md)
    /usr/bin/python3 bench/side_by_side.py --weft build-x/src/cli/weft --rounds 7

Each workload is a `weft bench ...` command and a PyTorch script
(bench/torch/layer.py, lm.py) that print 'median ms: X' last. A round runs
every command once, weft then PyTorch for each workload (A B A B ...), so
both see the same machine at about the same time; after all rounds the
median of each command's per-round medians is taken. Ratios are PyTorch's
time over weft's (above 1: weft is faster). The machine's load average is
printed before and after: a busy machine slows both sides, ratios less so.

Threads: weft gets --threads N; PyTorch gets torch.set_num_threads(N) and
OMP_NUM_THREADS=N in its environment (Debian's torch runs its GEMMs in BLIS,
which reads only the environment). Standard library only; torch is imported
by the scripts this runs, as subprocesses.
"""
import argparse
import datetime
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def layer_args(cell, H, backward=True, composed=False, T=50, B=64):
    a = ["--cell", cell, "--steps", str(T), "--batch", str(B), "--input", str(H),
         "--hidden", str(H)]
    if backward:
        a.append("--backward")
    if composed:
        a.append("--composed")
    return a


def workloads(quick, threads):
    """(row name, weft command, torch command, threads, kind) for each row.
    Commands are argument lists without the program; identical commands run
    once a round and serve several rows."""
    rows = []

    def layer(name, cell, H, threads=None, composed=False, torch_loop=False, torch=True):
        torch_cell = {"rnn": "rnn", "gru": "gru"}.get(cell, "lstm")
        w = ["bench", "layer"] + layer_args(cell, H, composed=composed)
        t = ["layer.py"] + layer_args(torch_cell, H) if torch else None
        if torch_loop:
            t.append("--cell-loop")
        rows.append((name, w, t, threads, "layer"))

    def lm(config, cell="lstm"):
        w = ["bench", "lm", "--config", config, "--cell", cell]
        t = ["lm.py", "--config", config, "--cell", cell]
        rows.append((f"LM {config} ({cell})", w, t, None, "lm"))

    layer("LSTM H=200", "lstm", 200)
    layer("LSTM H=512", "lstm", 512)
    if not quick:
        layer("LSTM H=1024", "lstm", 1024)
        layer("GRU H=512", "gru", 512)
        layer("Elman H=512", "rnn", 512)
    # the thread scaling is weft's target; PyTorch's own only in the full mode
    if threads > 1:
        layer("LSTM H=512, 1 thread", "lstm", 512, threads=1, torch=not quick)
    layer("LSTM H=512 composed vs nn.LSTM", "lstm", 512, composed=True)
    layer("LSTM H=512 composed vs torch cell loop", "lstm", 512, composed=True, torch_loop=True)
    lm("small")
    if not quick:
        lm("medium")
        lm("char")
        lm("small", "gru")
        lm("small", "rnn")
    return rows


def repetitions(cmd, kind, quick):
    """How many timed repetitions a process makes (its own median)."""
    if kind == "lm":
        heavy = "medium" in cmd or "char" in cmd
        steps, warm = (3, 1) if quick else ((5, 2) if heavy else (10, 2))
        return ["--steps", str(steps), "--warmup", str(warm)]
    H = int(cmd[cmd.index("--hidden") + 1])
    slow = "--cell-loop" in cmd or "--composed" in cmd or H >= 1024
    if quick:   # 3 for the slow ones: with 2, one slow spell moved a ratio by 25%
        return ["--repeat", "3" if slow else "4", "--warmup", "1"]
    return ["--repeat", "3" if slow else "5", "--warmup", "1" if slow else "2"]


def parse(out):
    """key: value lines into a dict of floats (the first number after the colon)."""
    vals = {}
    for line in out.splitlines():
        m = re.match(r"^([^:]+):\s*([-+0-9.eE]+)", line)
        if m:
            try:
                vals.setdefault(m.group(1).strip(), float(m.group(2)))
            except ValueError:
                pass
    last = out.strip().splitlines()[-1] if out.strip() else ""
    if not last.startswith("median ms: "):
        raise RuntimeError(f"last line is {last!r}, not 'median ms: X'")
    return vals


def run(argv, env, timeout):
    t0 = time.time()
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {p.stderr.strip()[-400:]}")
    return parse(p.stdout), time.time() - t0


def find_weft(path):
    if path:
        if not os.access(path, os.X_OK):
            sys.exit(f"side_by_side.py: --weft {path}: not an executable")
        return path
    build = os.path.join(ROOT, "build")
    exe = os.path.join(build, "src", "cli", "weft")
    if not os.access(exe, os.X_OK):
        print(f"building weft in {build} ...", file=sys.stderr, flush=True)
        if not os.path.isdir(build):
            subprocess.run(["meson", "setup", build, "-Dbuildtype=release"], cwd=ROOT, check=True)
        subprocess.run(["ninja", "-C", build, "src/cli/weft"], cwd=ROOT, check=True)
    return exe


def machine(weft, python):
    cpu = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"Model name:\s*(.+)", out)
        cpu = m.group(1).strip() if m else platform.processor()
    except OSError:
        pass
    info = subprocess.run([weft, "info"], capture_output=True, text=True).stdout
    blis = re.search(r"blis\s+(.+)", info)
    blis = blis.group(1).strip() if blis else "?"
    # weft's own micro-kernel for the per-step products, and what the build targets
    packed = re.search(r"packed\s+(\S+)", info)
    target = re.search(r"target\s+(.+?) \(", info)
    if packed:
        blis += f"; packed products on {packed.group(1)}"
    if target:
        blis += f"; built for {target.group(1)}"
    tv = subprocess.run([python, "-c", "import torch; print(torch.__version__)"],
                        capture_output=True, text=True).stdout.strip()
    return cpu, os.cpu_count(), blis, tv or "?"


def fmt(x, nd=1):
    return "-" if x is None else f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description="weft beside PyTorch, interleaved, as ratios")
    ap.add_argument("--quick", action="store_true", help="fewer workloads and repetitions "
                    "(under 2 minutes on 2 cores)")
    ap.add_argument("--weft", help="the weft executable (default: build/src/cli/weft, built "
                    "if missing)")
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python with torch")
    ap.add_argument("--onednn", help="bench/onednn_lstm (oneDNN's LSTM) for the fused LSTM rows "
                    "(default: beside the weft executable's build, when built; 'none': skip)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, help="rounds of A B A B (default: 3 quick, 5 full)")
    ap.add_argument("--only", metavar="TEXT", help="only the rows whose name contains TEXT "
                    "(case-insensitive), e.g. 'LM' or 'H=512'")
    ap.add_argument("--list", action="store_true", help="print the commands a round runs, "
                    "and stop")
    a = ap.parse_args()
    rounds = a.rounds or (3 if a.quick else 5)
    weft = a.weft or os.path.join("build", "src", "cli", "weft") if a.list else find_weft(a.weft)
    rows = workloads(a.quick, a.threads)
    if a.only:
        rows = [r for r in rows if a.only.lower() in r[0].lower()]
        if not rows:
            sys.exit(f"side_by_side.py: --only {a.only!r}: no row has it; the rows are: " +
                     ", ".join(r[0] for r in workloads(a.quick, a.threads)))

    # the distinct commands, in the order a round runs them (weft, torch, weft, torch ...)
    cmds = []
    onednn = a.onednn
    if onednn is None:   # build/src/cli/weft -> build/bench/onednn_lstm
        guess = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(weft)))), "bench", "onednn_lstm")
        onednn = guess if os.access(guess, os.X_OK) else "none"
    elif onednn != "none" and not os.access(onednn, os.X_OK):
        sys.exit(f"side_by_side.py: --onednn {onednn}: not an executable")

    def onednn_cmd(w, kind):
        """oneDNN's command for a fused LSTM layer row, or None."""
        if onednn == "none" or kind != "layer" or "--composed" in w or w[w.index("--cell") + 1] != "lstm":
            return None
        return ["onednn_lstm"] + [x for f in ("--steps", "--batch", "--input", "--hidden")
                                  for x in (f, w[w.index(f) + 1])]

    for name, w, t, threads, kind in rows:
        n = threads or a.threads
        for side, c in (("weft", w), ("torch", t), ("onednn", onednn_cmd(w, kind))):
            if c is None:
                continue
            key = (side, tuple(c), n)
            if key not in [k for k, _ in cmds]:
                cmds.append((key, kind))
    results = {key: [] for key, _ in cmds}

    def command(side, c, n, kind):
        """(environment additions, argv) of one command."""
        extra = repetitions(list(c), kind, a.quick)
        if side == "onednn":
            return {"OMP_NUM_THREADS": str(n)}, [onednn] + list(c[1:]) + extra
        if side == "weft":
            argv = [weft, "--quiet", "--threads", str(n)] + list(c) + extra
            # the large square of the ceiling only where the target is judged
            # (fused LSTM, H >= 512); elsewhere the per-step shape alone
            H = int(c[c.index("--hidden") + 1]) if "--hidden" in c else 0
            if kind == "layer" and not (c[3] == "lstm" and H >= 512 and "--composed" not in c):
                argv += ["--gemm-size", "0"]
        else:
            script = os.path.join(HERE, "torch", c[0])
            if a.list:
                script = os.path.relpath(script, ROOT)
            argv = [a.python, script] + list(c[1:]) + extra + \
                ["--threads", str(n)]
        return {"OMP_NUM_THREADS": str(n)}, argv

    if a.list:
        for (side, c, n), kind in cmds:
            env, argv = command(side, c, n, kind)
            print(" ".join([f"{k}={v}" for k, v in env.items()] + argv))
        return 0
    errors = {}

    cpu, cores, blis, torch_version = machine(weft, a.python)
    try:
        commit = subprocess.run(["git", "-C", ROOT, "log", "-1", "--format=%h %cd",
                                 "--date=format:%Y-%m-%d %H:%M"], capture_output=True,
                                text=True).stdout.strip() or "?"
    except OSError:
        commit = "?"
    load0 = os.getloadavg()
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.time()
    print(f"side_by_side: {len(cmds)} commands x {rounds} rounds, {a.threads} threads; "
          f"load average {load0[0]:.2f}", file=sys.stderr, flush=True)
    # Ctrl-C, or SIGINT / SIGTERM from elsewhere (a background job ignores SIGINT
    # unless told otherwise): stop and report the rounds measured so far
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    done_rounds = 0
    try:
        for r in range(rounds):
            for (side, c, n), kind in cmds:
                key = (side, c, n)
                if key in errors:
                    continue
                more, argv = command(side, c, n, kind)
                env = dict(os.environ, **more)
                env.pop("BLIS_NUM_THREADS", None)
                env.pop("WEFT_NUM_THREADS", None)
                try:
                    vals, secs = run(argv, env, timeout=1800)
                    results[key].append(vals)
                    print(f"  round {r + 1}/{rounds} {side:5s} {' '.join(c)} [{n} thr]: "
                          f"{vals['median ms']:.1f} ms ({secs:.1f} s)", file=sys.stderr, flush=True)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    errors[key] = str(e)
                    print(f"  {side} {' '.join(c)}: FAILED {e}", file=sys.stderr, flush=True)
            done_rounds += 1
    except KeyboardInterrupt:
        print(f"interrupted in round {done_rounds + 1}: reporting what was measured",
              file=sys.stderr, flush=True)

    def med(side, c, n, field):
        if c is None:
            return None
        got = [v[field] for v in results.get((side, tuple(c), n), []) if field in v]
        return statistics.median(got) if got else None

    load1 = os.getloadavg()
    wall = time.time() - t_start
    print(f"## weft vs PyTorch, side by side ({started:%Y-%m-%d %H:%M} UTC)\n")
    print(f"- weft: {weft}; the source tree at commit {commit}")
    print(f"- machine: {cpu}, {cores} cores; BLIS {blis}; torch {torch_version}; "
          f"{a.threads} thread{'s' if a.threads != 1 else ''} unless the row says otherwise")
    print(f"- {done_rounds} of {rounds} rounds interleaved (weft, torch{', oneDNN' if onednn != 'none' else ''}, weft, torch ...), median of the per-round "
          f"medians; {'quick' if a.quick else 'full'} mode, {wall:.0f} s in all")
    if onednn != "none":
        print(f"- oneDNN: {onednn} (Debian's libdnnl, its LSTM primitive, OMP_NUM_THREADS threads)")
    print(f"- load average before {load0[0]:.2f}, after {load1[0]:.2f} "
          f"(above 0 before the run: the machine was shared)")
    print(f"- command: /usr/bin/python3 bench/side_by_side.py {' '.join(sys.argv[1:])}\n")

    if onednn != "none":
        print("| workload (T=50, B=64, I=H, forward+backward) | weft ms | torch ms | "
              "ratio (torch/weft) | weft GFLOP/s | % of sgemm ceiling | oneDNN ms | "
              "ratio (oneDNN/weft) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    else:
        print("| workload (T=50, B=64, I=H, forward+backward) | weft ms | torch ms | "
              "ratio (torch/weft) | weft GFLOP/s | % of sgemm ceiling |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
    ratio = {}
    for name, w, t, threads, kind in rows:
        if kind != "layer":
            continue
        n = threads or a.threads
        wm, tm = med("weft", w, n, "median ms"), med("torch", t, n, "median ms")
        ratio[name] = tm / wm if wm and tm else None
        gf = med("weft", w, n, "GFLOP/s")
        frac = med("weft", w, n, "fraction of sgemm ceiling")
        line = (f"| {name} | {fmt(wm)} | {fmt(tm)} | {fmt(ratio[name], 2)} | {fmt(gf)} | "
                f"{fmt(frac)} |")
        if onednn != "none":
            om = med("onednn", onednn_cmd(w, kind), n, "median ms")
            ratio["onednn " + name] = om / wm if om and wm else None
            line += f" {fmt(om)} | {fmt(ratio['onednn ' + name], 2)} |"
        print(line)

    print("\n| language model training step | weft ms | torch ms | ratio (torch/weft) | "
          "weft tokens/s | torch tokens/s | weft peak MB | torch peak MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, w, t, threads, kind in rows:
        if kind != "lm":
            continue
        n = threads or a.threads
        wm, tm = med("weft", w, n, "median ms"), med("torch", t, n, "median ms")
        ratio[name] = tm / wm if wm and tm else None
        print(f"| {name} | {fmt(wm)} | {fmt(tm)} | {fmt(ratio[name], 2)} | "
              f"{fmt(med('weft', w, n, 'tokens/s'), 0)} | {fmt(med('torch', t, n, 'tokens/s'), 0)} | "
              f"{fmt(med('weft', w, n, 'peak memory'))} | {fmt(med('torch', t, n, 'peak memory'))} |")

    print("\n| memory (forward+backward) | weft arena per step / saved-activation floor | "
          "weft peak MB | torch peak MB | weft / torch peak |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, w, t, threads, kind in rows:
        n = threads or a.threads
        wp, tp = med("weft", w, n, "peak memory"), med("torch", t, n, "peak memory")
        floor = med("weft", w, n, "memory vs floor") if kind == "layer" else None
        print(f"| {name} | {fmt(floor, 2) if floor else '-'} | {fmt(wp)} | {fmt(tp)} | "
              f"{fmt(wp / tp, 2) if wp and tp else '-'} |")

    # the targets, each from this run's numbers
    def row(name):
        return next((r for r in rows if r[0] == name), (name, None, None, None, None))
    checks = []

    def target(what, value, goal, unit="x", higher=True):
        if value is None and a.only:
            return
        if value is None:
            checks.append(f"| {what} | - | {goal:g}{unit} | not measured |")
            return
        ok = value >= goal if higher else value <= goal
        checks.append(f"| {what} | {value:.2f}{unit} | {'>=' if higher else '<='} {goal:g}{unit} | "
                      f"{'met' if ok else 'not met'} |")

    for name, goal in (("LSTM H=200", 1.3), ("LSTM H=512", 1.3), ("LSTM H=1024", 1.1),
                       ("LM small (lstm)", 1.3), ("LM medium (lstm)", 1.3),
                       ("LM char (lstm)", 1.3)):
        if any(r[0] == name for r in rows):
            target(f"{name}: torch/weft", ratio.get(name), goal)
    for name in ("LSTM H=512", "LSTM H=1024"):
        if any(r[0] == name for r in rows):
            _, w, _, th, _ = row(name)
            target(f"{name}: % of sgemm ceiling", med("weft", w, th or a.threads,
                                                       "fraction of sgemm ceiling"), 85, "%")
    target("composed LSTM 512 vs nn.LSTM: torch/weft", ratio.get("LSTM H=512 composed vs nn.LSTM"),
           1.0)
    target("composed LSTM 512 vs torch cell loop: torch/weft",
           ratio.get("LSTM H=512 composed vs torch cell loop"), 2.0)
    _, w2, t2, _, _ = row("LSTM H=512")
    two = med("weft", w2, a.threads, "median ms")
    if a.threads > 1:
        one = med("weft", row("LSTM H=512, 1 thread")[1], 1, "median ms")
        target(f"weft LSTM 512: 1 thread / {a.threads} threads",
               one / two if one and two else None, 1.7)
        tone = med("torch", row("LSTM H=512, 1 thread")[2], 1, "median ms")
        ttwo = med("torch", t2, a.threads, "median ms")
        if tone and ttwo:
            checks.append(f"| (torch LSTM 512: 1 thread / {a.threads} threads) | "
                          f"{tone / ttwo:.2f}x | - | for comparison |")
    for name in ("LSTM H=512", "LSTM H=1024"):
        if ratio.get("onednn " + name):
            checks.append(f"| ({name}: oneDNN/weft, the record) | {ratio['onednn ' + name]:.2f}x "
                          f"| - | above 1: weft is faster |")
    comp = med("weft", row("LSTM H=512 composed vs nn.LSTM")[1], a.threads, "median ms")
    if comp and two:
        checks.append(f"| (weft LSTM 512: composed / fused time) | {comp / two:.2f}x | - | "
                      f"what the fused step saves |")
    _, ws, _, _, _ = row("LM small (lstm)")
    target("LM small: weft peak memory", med("weft", ws, a.threads, "peak memory"), 100, " MB",
           higher=False)
    # issue 22: memory near the floor, and half of PyTorch's peak
    for name in ("LSTM H=512", "GRU H=512", "Elman H=512"):
        if any(r[0] == name for r in rows):
            _, w, _, th, _ = row(name)
            target(f"{name}: arena per step / floor", med("weft", w, th or a.threads,
                                                          "memory vs floor"), 1.5, "x",
                   higher=False)
    for name, w, t, threads, kind in rows:
        if kind == "lm":
            wp, tp = med("weft", w, a.threads, "peak memory"), med("torch", t, a.threads,
                                                                     "peak memory")
            target(f"{name}: weft peak / torch peak", wp / tp if wp and tp else None, 0.5, "x",
                   higher=False)
    print("\n| target (issues 6, 22) | this run | goal | |")
    print("| --- | ---: | ---: | --- |")
    for c in checks:
        print(c)
    if errors:
        print("\nfailed commands:")
        for (side, c, n), e in errors.items():
            print(f"- {side} {' '.join(c)} [{n} threads]: {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
