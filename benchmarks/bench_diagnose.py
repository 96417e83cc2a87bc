"""How fast `regadvisor diagnose` starts and how fast it reads a large log.

Two measurements, printed as one table:

1. cold start: wall time of ``regadvisor diagnose SMALL_LOG`` as a fresh subprocess (median of
   several runs) against ``python -c pass``, so the figure shows what regadvisor itself adds;
2. parse time of a generated 1,000,000-row Lightning-style ``metrics.csv`` with
   :func:`regadvisor.logs.read.read_log` against ``pandas.read_csv`` on the same file.

pandas is a benchmark-only dependency (``pip install pandas``); without it that row is skipped.
Data goes to ``benchmarks/_data/`` (git-ignored). Run: ``python benchmarks/bench_diagnose.py``.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
ROOT = HERE.parent
SMALL_LOG = ROOT / "tests" / "fixtures" / "real-logs" / "lightning" / "mnist_cnn_metrics.csv"


def make_lightning_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """A Lightning CSVLogger-shaped file: a train_loss row per step, a validation row (loss and
    accuracy, empty train cell) every 1,000 steps, as Lightning interleaves them."""
    if path.exists() and path.stat().st_size > 0 and path.with_suffix(".rows").read_text() == str(rows):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    steps_per_epoch = 10_000
    with open(path, "w", newline="") as f:
        f.write("epoch,step,train_loss,val_accuracy,val_loss\n")
        step = 0
        for i in range(rows):
            epoch = step // steps_per_epoch
            if i % 1001 == 1000:
                f.write(f"{epoch},{step},,{0.9 + rng.random() * 0.05!r},{0.3 + rng.random() * 0.1!r}\n")
            else:
                f.write(f"{epoch},{step},{2.0 / (1 + step / 5000) + rng.random() * 0.1!r},,\n")
                step += 1
    path.with_suffix(".rows").write_text(str(rows))
    return path


def median_wall(argv: list[str], repeats: int) -> tuple[float, int]:
    """Median wall time of running ``argv`` ``repeats`` times (after one warm-up), and its exit code."""
    subprocess.run(argv, capture_output=True, cwd=ROOT, check=False)
    times, code = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        code = subprocess.run(argv, capture_output=True, cwd=ROOT, check=False).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def best_of(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls: the least disturbed by other work on the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7, help="cold-start runs (median)")
    parser.add_argument("--parse-repeats", type=int, default=3, help="parse runs (best)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from regadvisor.logs.read import read_log

    # The installed console script beside this interpreter (a venv need not be activated),
    # else the module entry point, which runs the same code.
    script = Path(sys.executable).with_name("regadvisor")
    exe = str(script) if script.exists() else shutil.which("regadvisor")
    diagnose, shown = ([exe], "regadvisor") if exe else ([sys.executable, "-m", "regadvisor"], "python -m regadvisor")
    rows = []
    base, _ = median_wall([sys.executable, "-c", "pass"], args.repeats)
    rows.append(("python -c pass", base, None, ""))
    cold, code = median_wall(diagnose + ["diagnose", str(SMALL_LOG)], args.repeats)
    rows.append((f"{shown} diagnose SMALL_LOG", cold, cold / base,
                 f"exit {code}, +{(cold - base) * 1000:.0f} ms over python"))

    big = make_lightning_csv(DATA / f"lightning_{args.rows}.csv", args.rows)
    ours = best_of(lambda: read_log(big), args.parse_repeats)
    run = read_log(big)
    points = sum(len(s) for s in run.series.values())
    rows.append((f"read_log {args.rows:,}-row CSV", ours, None, f"{points:,} points"))
    try:
        import pandas
    except ImportError:
        rows.append(("pandas.read_csv", float("nan"), None, "pandas not installed: skipped"))
    else:
        theirs = best_of(lambda: pandas.read_csv(big), args.parse_repeats)
        rows.append((f"pandas {pandas.__version__} read_csv", theirs, None, ""))
        rows[-2] = rows[-2][:2] + (ours / theirs,) + (rows[-2][3] + " (ratio = read_log / pandas)",)

    load = ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs{load}; {args.repeats} cold-start runs (median), "
          f"{args.parse_repeats} parse runs (best)")
    print(f"{'measurement':<44} {'seconds':>9} {'ratio':>7}  note")
    for name, seconds, ratio, note in rows:
        shown = f"{ratio:7.2f}" if ratio is not None else f"{'':>7}"
        print(f"{name:<44} {seconds:9.3f} {shown}  {note}")


if __name__ == "__main__":
    main()
