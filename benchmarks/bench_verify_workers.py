"""Benchmark: ``probe --verify`` on one worker against several, same advice, in one run.

The same verification (same report, same default budget of six full trainings) runs with
``--workers 1`` and then with more, and the script prints both wall times, their ratio, and
whether the advice, the screened values and the paired differences are identical (they must
be: see ``regadvisor/probe/parallel.py``). Each trial uses the same number of torch threads in
both runs, so the ratio is what the extra workers buy, not a change in per-trial threading.

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


def one_run(script: Path, report_args: dict, workers: int, executor: str = "local") -> tuple[float, object]:
    from regadvisor import api
    from regadvisor.probe.verify import verify

    report = api.probe(script, **report_args)
    t0 = time.perf_counter()
    result = verify(script, report, device="cpu", workers=workers, executor=executor)
    return time.perf_counter() - t0, result


def fingerprint(result: object) -> tuple:
    r = result
    return (r.kept, [(s.config, s.value, s.patience, s.pruned, s.curve.steps) for s in r.screened],
            (r.effect.baseline, r.effect.with_change) if r.effect else None, r.trainings)


def main() -> None:
    from regadvisor.probe.parallel import cpu_count, trial_threads

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("examples", nargs="*", default=["overfit_mlp", "cnn_digits", "char_lm"])
    ap.add_argument("--workers", type=int, default=cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--executor", default="local", help="where the N workers run: local or ray (a local head)")
    args = ap.parse_args()
    report_args = {"seed": 0, "device": "cpu"}
    print(f"verify at the default budget, {trial_threads()} torch thread(s) per trial, {cpu_count()} cores, "
          f"{args.workers} workers on {args.executor}", flush=True)
    for example in args.examples:
        script = ROOT / "examples" / "models" / f"{example}.py"
        for i in range(args.repeat):
            t1, r1 = one_run(script, report_args, 1)
            tn, rn = one_run(script, report_args, args.workers, args.executor)
            same = fingerprint(r1) == fingerprint(rn)
            print(f"{example:12s} run {i + 1}: 1 worker {t1:6.1f} s | {args.workers} workers {tn:6.1f} s | "
                  f"ratio {t1 / tn:4.2f}x | same advice: {same} | {r1.trainings:.1f} full trainings | "
                  f"speculative work {rn.speculative_trainings:.2f} | kept {r1.kept}", flush=True)

if __name__ == "__main__":
    main()
