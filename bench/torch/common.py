"""What the PyTorch benchmarks share: threads, timing, the printed lines.

Debian's torch 1.13 calls BLAS through libblas.so.3 (BLIS here), and BLIS
takes its threads from OMP_NUM_THREADS / BLIS_NUM_THREADS only, read when
the library loads: torch.set_num_threads alone leaves its GEMMs on one
thread. So the runner sets OMP_NUM_THREADS=N in the environment and the
script also calls torch.set_num_threads(N); a mismatch is refused.
"""
import os
import resource
import statistics
import sys
import time


def check_threads(n, prog):
    env = os.environ.get("OMP_NUM_THREADS")
    if env != str(n):
        sys.exit(f"{prog}: run with OMP_NUM_THREADS={n} in the environment (it is "
                 f"{env!r}): BLIS reads only the environment")
    import torch
    torch.set_num_threads(n)
    return torch


def time_ms(fn, repeat, warmup):
    """Call fn() warmup times, then repeat timed times; the times in ms."""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def report(ms, lines):
    """Print the key: value lines, then min and median; the last line is
    exactly 'median ms: X' (what bench/side_by_side.py reads)."""
    med = statistics.median(ms)
    for line in lines(med):
        print(line)
    print(f"min ms: {min(ms):.4f}")
    print(f"peak memory: {peak_rss_mb():.1f} MB (ru_maxrss)")
    print(f"median ms: {med:.4f}", flush=True)
