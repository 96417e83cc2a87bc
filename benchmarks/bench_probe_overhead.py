"""Per-step cost of the probe's instruments, for each example in examples/models/.

For every example the same training step (forward, loss, zero_grad, backward, optimizer step)
runs in three variants, each on its own copy of the model and optimizer built from the same
seed: ``plain`` (no instruments), ``default`` (``Instruments(depth="default")``: global gradient
norm every step, per-layer gradients, activations and update ratios every 50th step) and
``full`` (everything every step). The variants alternate in rounds of ``--round`` steps (default
50, so each default-depth round contains exactly one sampled step); the figure per variant is
the median over rounds of the mean step time in a round, so the sampled steps' cost is
included, amortized as it is in a real probe. Batches are taken from the script's training
data once and cycled, so data loading is not timed.

Target: default-depth overhead ≤ 10% (median ratio ≤ 1.10).

    .venv/bin/python benchmarks/bench_probe_overhead.py [--threads 1] [--rounds 12] [--round 50]

``--program`` measures instead what a user of an unmodified script pays: the wall time of
``python examples/scripts/mnist_main.py --epochs N`` (pytorch/examples' MNIST, bundled digits)
against ``regadvisor probe examples/scripts/mnist_main.py --quiet -- --epochs N``, the whole
command (child process, instruments, reading its output, the rules and the report), alternating
the two ``--rounds`` times; the figure is the ratio of the medians. Target: ≤ 1.10.

    .venv/bin/python benchmarks/bench_probe_overhead.py --program [--epochs 3] [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from regadvisor.probe.discover import load_script, script_importable, unload_script
from regadvisor.probe.hooks import Instruments
from regadvisor.probe.runner import _forward, default_loss
from regadvisor.reference import param_groups

EXAMPLES = ["overfit_mlp", "deep_plain", "tiny_batch_bn", "adam_l2", "small_transformer", "healthy"]


def _setup(name: str, n_batches: int):
    path = ROOT / "examples" / "models" / f"{name}.py"
    with script_importable(path):
        script = load_script(path)
        try:
            torch.manual_seed(0)
            model = script.build_model()
            train, _ = script.build_data()
            batches = []
            for b in train:
                batches.append(b)
                if len(batches) >= n_batches:
                    break
            loss_fn = script.loss_fn or default_loss
            build_opt = script.build_optimizer
        finally:
            unload_script(script)

    def make_optimizer(m: nn.Module) -> torch.optim.Optimizer:
        params = [p for p in m.parameters() if p.requires_grad]
        if build_opt is not None:
            return build_opt(params)
        # the probe's default optimizer: AdamW(lr=1e-3), torch's decay 0.01 on weights, none on biases/norms
        return torch.optim.AdamW(param_groups(m, weight_decay=0.01), lr=1e-3)

    return model, batches, loss_fn, make_optimizer


class Variant:
    def __init__(self, name: str, model: nn.Module, make_optimizer, depth: str | None):
        self.name = name
        self.model = copy.deepcopy(model).train()
        self.opt = make_optimizer(self.model)
        self.inst = Instruments(self.model, depth) if depth else None
        self.step = 0
        self.round_means: list[float] = []

    def run_round(self, batches, loss_fn, n: int) -> None:
        model, opt, inst = self.model, self.opt, self.inst
        t0 = time.perf_counter()
        for _ in range(n):
            x, y = batches[self.step % len(batches)]
            self.step += 1
            if inst is not None:
                inst.start_step(self.step)
            loss = loss_fn(_forward(model, x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if inst is not None:
                inst.after_backward()
                inst.before_update()
            opt.step()
            if inst is not None:
                inst.after_update()
        self.round_means.append((time.perf_counter() - t0) / n)

    def close(self) -> None:
        if self.inst is not None:
            self.inst.close()


def _wall(command: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, check=True)
    return time.perf_counter() - t0


def program_overhead(epochs: int, rounds: int, threads: int) -> None:
    """The unmodified script on its own against the whole ``regadvisor probe`` command (see the module docstring)."""
    script = ROOT / "examples" / "scripts" / "mnist_main.py"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    plain = [sys.executable, str(script), "--epochs", str(epochs)]
    probed = [sys.executable, "-m", "regadvisor", "probe", str(script), "--quiet", "--fail-on", "never",
              "--", "--epochs", str(epochs)]
    print(f"{script.relative_to(ROOT)} --epochs {epochs}, OMP_NUM_THREADS={threads}, {rounds} alternating rounds")
    print(f"{'round':>5} {'script s':>9} {'probe s':>8} {'ratio':>6}")
    times: dict[str, list[float]] = {"plain": [], "probe": []}
    for i in range(rounds):
        for name, command in (("plain", plain), ("probe", probed)) if i % 2 == 0 else (("probe", probed), ("plain", plain)):
            times[name].append(_wall(command, env))
        print(f"{i + 1:>5} {times['plain'][-1]:9.2f} {times['probe'][-1]:8.2f} {times['probe'][-1] / times['plain'][-1]:6.3f}")
    ratio = statistics.median(times["probe"]) / statistics.median(times["plain"])
    print(f"median: script {statistics.median(times['plain']):.2f} s, probe {statistics.median(times['probe']):.2f} s; "
          f"ratio {ratio:.3f}  (target <= 1.10: {'met' if ratio <= 1.10 else 'NOT met'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=None, help="default 12 (5 with --program)")
    ap.add_argument("--round", type=int, default=50, dest="round_steps")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--examples", nargs="*", default=EXAMPLES)
    ap.add_argument("--program", action="store_true", help="the unmodified-script comparison")
    ap.add_argument("--epochs", type=int, default=3, help="with --program: the script's --epochs")
    args = ap.parse_args()
    if args.program:
        program_overhead(args.epochs, args.rounds or 5, args.threads)
        return
    args.rounds = args.rounds or 12
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, torch.set_num_threads({args.threads}) -> {torch.get_num_threads()} thread(s)")
    print(f"{args.rounds} rounds x {args.round_steps} steps per variant, after {args.warmup} warm-up steps; "
          "figure = median over rounds of the mean step time")
    header = f"{'example':<18} {'plain ms':>9} {'default ms':>11} {'ratio':>6} {'full ms':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name in args.examples:
        model, batches, loss_fn, make_opt = _setup(name, 32)
        variants = [Variant("plain", model, make_opt, None), Variant("default", model, make_opt, "default"),
                    Variant("full", model, make_opt, "full")]
        try:
            for v in variants:
                v.run_round(batches, loss_fn, args.warmup)
                v.round_means.clear()
            for _ in range(args.rounds):
                for v in variants:
                    v.run_round(batches, loss_fn, args.round_steps)
        finally:
            for v in variants:
                v.close()
        plain, default, full = (statistics.median(v.round_means) * 1e3 for v in variants)
        ratios.append(default / plain)
        print(f"{name:<18} {plain:9.3f} {default:11.3f} {default / plain:6.2f} {full:9.3f} {full / plain:6.2f}")
    print("-" * len(header))
    med = statistics.median(ratios)
    print(f"median default/plain ratio: {med:.3f}  (target <= 1.10: {'met' if med <= 1.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
