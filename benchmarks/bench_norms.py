"""RMSNorm vs LayerNorm: forward and forward+backward time per call, reference and torch.nn.

The regularization lesson says RMSNorm is about 10% cheaper than LayerNorm (Zhang & Sennrich
2019 report 7% to 64% less running time on their models). This measures it on the machine at
hand, for transformer-like activations ``(batch * seq, d)``, with both this package's reference
implementations (plain tensor ops) and ``torch.nn`` (fused ATen kernels; ``nn.RMSNorm`` needs
torch >= 2.4).

Timing: ``torch.utils.benchmark.Timer.blocked_autorange`` per measurement (it warms up and
picks the number of loops), and the configurations are measured in interleaved rounds so that
load from other processes hits all of them alike; the table reports the median over rounds,
and the last columns the ratios of the fastest rounds (less sensitive to a busy machine).
"forward+backward" computes the gradients with respect to the input and the weight (and
LayerNorm's bias) with ``torch.autograd.grad``, so nothing accumulates between calls.

What it showed (torch 2.13.0+cpu, 1 thread, a 2-core machine shared with other jobs, so the
absolute times carry a large spread): the reference RMSNorm took 0.5 to 0.7 times the time of
the reference LayerNorm, forward and forward+backward — dropping the mean is worth more than 10%
when every step is a separate tensor op. ``torch.nn.RMSNorm`` took 2 to 5 times the time of
``torch.nn.LayerNorm``: LayerNorm runs fused ATen kernels both ways (``native_layer_norm`` and
``native_layer_norm_backward``), while RMSNorm with autograd on the CPU runs as separate ops
(``pow``, ``mean``, ``rsqrt``, ``mul`` and their backward functions, per the profiler). The
"about 10% cheaper" claim is about equally optimized kernels; it is not what torch's CPU build
delivers today.

    .venv/bin/python benchmarks/bench_norms.py            # 1 thread, 5 rounds
    .venv/bin/python benchmarks/bench_norms.py --threads 2 --rounds 7
    .venv/bin/python benchmarks/bench_norms.py --steady-malloc   # see STEADY_MALLOC
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.benchmark import Timer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from regadvisor.reference import LayerNorm, RMSNorm  # noqa: E402

SIZES = [(8 * 128, 512), (8 * 512, 1024), (4 * 1024, 2048)]
EPS = 1e-5

# glibc hands large blocks (these activations are 2 to 32 MiB) back to the kernel on free and
# page-faults them in again on the next call; on the 2-core machine these figures were taken on
# that was nearly half of the CPU time (kernel time). These settings keep freed memory in the process.
STEADY_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(2**32 - 1),
    "MALLOC_TOP_PAD_": str(256 * 1024 * 1024),
}


def build(kind: str, impl: str, d: int) -> nn.Module:
    if impl == "reference":
        return LayerNorm(d, eps=EPS) if kind == "layernorm" else RMSNorm(d, eps=EPS)
    return nn.LayerNorm(d, eps=EPS) if kind == "layernorm" else nn.RMSNorm(d, eps=EPS)


def make_timers(rows: int, d: int, impl: str, kind: str) -> dict[str, Timer]:
    torch.manual_seed(0)
    norm = build(kind, impl, d)
    x = torch.randn(rows, d, requires_grad=True)
    grad_out = torch.randn(rows, d)
    inputs = [x, *norm.parameters()]
    env = {"norm": norm, "x": x, "g": grad_out, "inputs": inputs, "torch": torch}
    return {
        "fwd": Timer("with torch.no_grad(): norm(x)", globals=env),
        "fwd+bwd": Timer("torch.autograd.grad(norm(x), inputs, g)", globals=env),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved measurement rounds (default 5)")
    parser.add_argument("--min-run-time", type=float, default=0.2,
                        help="seconds per blocked_autorange measurement (default 0.2)")
    parser.add_argument("--steady-malloc", action="store_true",
                        help="re-run under glibc settings that keep freed memory (see STEADY_MALLOC), "
                             "so that page faults do not dominate the timings")
    args = parser.parse_args(argv)
    if args.steady_malloc and any(os.environ.get(k) != v for k, v in STEADY_MALLOC.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **STEADY_MALLOC})

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.machine()} CPU, torch.get_num_threads() = "
          f"{torch.get_num_threads()}, float32, eps = {EPS}, {args.rounds} rounds, median reported")
    steady = all(os.environ.get(k) == v for k, v in STEADY_MALLOC.items())
    print(f"os.cpu_count() = {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, "
          f"malloc: {'steady (MALLOC_* set)' if steady else 'glibc defaults'}")

    configs = [(rows, d, impl, kind) for rows, d in SIZES for impl in ("reference", "torch")
               for kind in ("layernorm", "rmsnorm")]
    timers = {cfg: make_timers(*cfg) for cfg in configs}
    samples: dict[tuple, dict[str, list[float]]] = {cfg: {"fwd": [], "fwd+bwd": []} for cfg in configs}
    for _ in range(args.rounds):
        for cfg in configs:
            for what, timer in timers[cfg].items():
                samples[cfg][what].append(timer.blocked_autorange(min_run_time=args.min_run_time).median)

    def us(cfg, what, pick=statistics.median):
        return pick(samples[cfg][what]) * 1e6

    header = (f"{'rows x d':>12} {'impl':>9} | {'LN fwd us':>10} {'RMS fwd us':>10} {'RMS/LN':>7} | "
              f"{'LN f+b us':>10} {'RMS f+b us':>10} {'RMS/LN':>7} | {'min-based RMS/LN fwd, f+b':>25}")
    print(header)
    print("-" * len(header))
    for rows, d in SIZES:
        for impl in ("reference", "torch"):
            ln, rms = (rows, d, impl, "layernorm"), (rows, d, impl, "rmsnorm")
            f_ln, f_rms = us(ln, "fwd"), us(rms, "fwd")
            b_ln, b_rms = us(ln, "fwd+bwd"), us(rms, "fwd+bwd")
            min_f = us(rms, "fwd", min) / us(ln, "fwd", min)
            min_b = us(rms, "fwd+bwd", min) / us(ln, "fwd+bwd", min)
            print(f"{f'{rows}x{d}':>12} {impl:>9} | {f_ln:10.1f} {f_rms:10.1f} {f_rms / f_ln:7.2f} | "
                  f"{b_ln:10.1f} {b_rms:10.1f} {b_rms / b_ln:7.2f} | {min_f:12.2f} {min_b:12.2f}")
    spread = max(
        (max(v) - min(v)) / statistics.median(v) for cfg in configs for v in samples[cfg].values()
    )
    print(f"largest (max - min) / median across rounds: {spread:.0%} (high values mean a busy machine; "
          f"then trust the min-based ratios more)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
