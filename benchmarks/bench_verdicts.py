"""How often `regadvisor diagnose` gives the labelled verdict on the real-log corpus, beside trainproof.

The corpus is ``tests/fixtures/real-logs/`` (129 real public runs; ``labels.csv`` holds each run's
label, ``MANIFEST.md`` the definitions and where every file comes from). Both tools judge every
run in one pass and the table shows per-label and total accuracy, and how many runs labelled
healthy each called overfitting.

regadvisor is called through its public API (:func:`regadvisor.api.diagnose`); a
:class:`~regadvisor.errors.UserError` (the CLI's exit 2) is the outcome ``refused``. trainproof
(``pip install trainproof``, a benchmark-only dependency; without it its column is skipped) runs
as ``trainproof doctor RUN --json``. It has no verdict, so its findings are mapped to one, with
the same precedence regadvisor uses (a run that diverges is unstable even if it also overfits):
NaN, divergence, gradient spikes and cliffs → unstable; dead, flat, zero learning rate or zero
gradients → not-learning; overfitting → overfitting; no loss or nothing judged → insufficient-data
(``refused`` when it could not read the file at all); no finding → healthy.

Run: ``python benchmarks/bench_verdicts.py`` (``--misses`` lists every run a tool got wrong).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "real-logs"
LABELS = ("healthy", "overfitting", "underfitting", "unstable", "not-learning", "insufficient-data", "refused")

_TRAINPROOF = {
    "unstable": {"TP-NAN", "TP-NAN-GRAD", "TP-DIVERGE", "TP-GRAD-SPIKE", "TP-STEP-CLIFF", "TP-ZERO-LOSS",
                 "TP-ZERO-LOSS-ONSET"},
    "not-learning": {"TP-DEAD-RUN", "TP-FLAT", "TP-ZERO-LR", "TP-ZERO-LR-PARTIAL", "TP-ZERO-GRAD"},
    "overfitting": {"TP-OVERFIT"},
    "insufficient-data": {"TP-NO-LOSS", "TP-NO-RECORDS", "TP-NOT-CHECKED"},
}


def corpus() -> list[tuple[str, str]]:
    """(run, label) for every labelled run, in file order."""
    with open(CORPUS / "labels.csv", newline="", encoding="utf-8") as f:
        return [(row["run"], row["label"]) for row in csv.DictReader(f)]


def regadvisor_verdict(path: Path) -> str:
    from regadvisor.api import diagnose
    from regadvisor.errors import UserError

    try:
        return diagnose(path).verdict
    except UserError:
        return "refused"


def trainproof_verdict(exe: str, path: Path) -> str:
    done = subprocess.run([exe, "doctor", str(path), "--json"], capture_output=True, text=True, timeout=120,
                          check=False)
    try:
        out = json.loads(done.stdout)
    except ValueError:
        return "refused"
    reports = out.get("reports") or []
    if not reports:
        return "refused" if (out.get("not_judged") or {}).get("unreadable") or out.get("error") else "insufficient-data"
    found = {f["id"] for r in reports for f in r.get("findings", []) if f.get("level") in ("WARN", "FAIL")}
    for verdict in ("unstable", "not-learning", "overfitting", "insufficient-data"):
        if found & _TRAINPROOF[verdict]:
            return verdict
    return "healthy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--misses", action="store_true", help="list every run a tool got wrong")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    script = Path(sys.executable).with_name("trainproof")
    exe = str(script) if script.exists() else shutil.which("trainproof")
    tools = {"regadvisor": regadvisor_verdict}
    if exe:
        tools["trainproof"] = lambda p: trainproof_verdict(exe, p)
    runs = corpus()
    got: dict[str, list[str]] = {name: [] for name in tools}
    seconds: dict[str, float] = {}
    for name, judge in tools.items():
        start = time.perf_counter()
        got[name] = [judge(CORPUS / run) for run, _ in runs]
        seconds[name] = time.perf_counter() - start
    labels = [label for _, label in runs]
    per_label = Counter(labels)
    print(f"{len(runs)} labelled runs in {CORPUS.relative_to(ROOT)}"
          + ("" if exe else "; trainproof not installed: its column is skipped"))
    header = f"{'label':<18} {'runs':>5}" + "".join(f" {name:>12}" for name in tools)
    print(header)
    for label in LABELS:
        if not per_label[label]:
            continue
        cells = "".join(f" {sum(g == l == label for g, l in zip(got[n], labels)):>7}/{per_label[label]:<4}"
                        for n in tools)
        print(f"{label:<18} {per_label[label]:>5}{cells}")
    totals = {n: sum(g == l for g, l in zip(got[n], labels)) for n in tools}
    print(f"{'total right':<18} {len(runs):>5}" + "".join(f" {totals[n] / len(runs):>11.1%}" for n in tools))
    print(f"{'healthy→overfit':<18} {per_label['healthy']:>5}"
          + "".join(f" {sum(g == 'overfitting' and l == 'healthy' for g, l in zip(got[n], labels)):>12}"
                    for n in tools))
    print(f"{'seconds':<18} {'':>5}" + "".join(f" {seconds[n]:>12.1f}" for n in tools))
    if args.misses:
        for name in tools:
            print(f"\n{name} misses:")
            for (run, label), verdict in zip(runs, got[name]):
                if verdict != label:
                    print(f"  {run}: labelled {label}, got {verdict}")


if __name__ == "__main__":
    main()
