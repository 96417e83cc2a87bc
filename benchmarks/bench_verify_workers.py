"""Benchmark: ``probe --verify`` on one worker against several, same advice, in one run.

The same command (``api.probe(..., verify=True)``: same report, same default budget of six full
trainings) runs with ``--workers 1`` and then with more. The script prints both wall times of
the verification (its workers start during the probe, as in the command) and of the whole
command, their ratios, and whether the advice, the screened values and the paired differences
are identical (they must be: see ``regadvisor/probe/parallel.py``). Each trial uses the same
number of torch threads in both runs, so the ratio is what the extra workers buy, not a change
in per-trial threading.

    python benchmarks/bench_verify_workers.py                    # three examples, 1 vs every core
    python benchmarks/bench_verify_workers.py cnn_digits --workers 2 --repeat 2
    python benchmarks/bench_verify_workers.py overfit_mlp --executor ray   # on a local Ray head

On a shared machine the ratio moves with the load; run it when the machine is quiet (``uptime``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def one_run(script: Path, workers: int, executor: str = "local") -> tuple[float, float, object]:
    """(seconds of the verification, seconds of the whole command, the report)."""
    from regadvisor import api

    verify_seconds = [0.0]

    def progress(p: object) -> None:
        verify_seconds[0] = p.seconds  # type: ignore[attr-defined]  # the last call is "done"

    t0 = time.perf_counter()
    report = api.probe(script, seed=0, device="cpu", verify=True, workers=workers, executor=executor,
                       verify_progress=progress)
    return verify_seconds[0], time.perf_counter() - t0, report


def fingerprint(report: object) -> tuple:
    """What must not depend on the workers: the advice, its verified blocks, what was screened."""
    recs = [(r.knob, r.value, r.verified) for r in report.recommendations]  # type: ignore[attr-defined]
    notes = [(n.kind, {k: v for k, v in n.values.items() if k not in ("seconds", "workers")})
             for n in report.notes if n.kind in ("verified", "verify-effect")]  # type: ignore[attr-defined]
    return recs, notes


def trainings(report: object) -> float:
    return next(n.values["trainings"] for n in report.notes if n.kind == "verified")  # type: ignore[attr-defined]


def main() -> None:
    from regadvisor.probe.parallel import cpu_count, trial_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", nargs="*", default=["overfit_mlp", "cnn_digits", "char_lm"])
    ap.add_argument("--workers", type=int, default=cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--executor", default="local", help="where the N workers run: local or ray (a local head)")
    args = ap.parse_args()
    print(f"probe --verify at the default budget, {trial_threads()} torch thread(s) per trial, "
          f"{cpu_count()} cores, {args.workers} workers on {args.executor}", flush=True)
    for example in args.examples:
        script = ROOT / "examples" / "models" / f"{example}.py"
        for i in range(args.repeat):
            v1, c1, r1 = one_run(script, 1)
            vn, cn, rn = one_run(script, args.workers, args.executor)
            same = fingerprint(r1) == fingerprint(rn)
            print(f"{example:12s} run {i + 1}: verify {v1:5.1f} s → {vn:5.1f} s, ratio {v1 / vn:4.2f}x | "
                  f"whole command {c1:5.1f} s → {cn:5.1f} s, ratio {c1 / cn:4.2f}x | same advice: {same} | "
                  f"{trainings(r1):.1f} full trainings", flush=True)


if __name__ == "__main__":
    main()
