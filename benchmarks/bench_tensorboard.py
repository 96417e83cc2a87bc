"""Read every scalar of a TensorBoard run with regadvisor, tbparse and EventAccumulator.

    .venv/bin/python benchmarks/bench_tensorboard.py                # 300k and 3M scalars
    .venv/bin/python benchmarks/bench_tensorboard.py --sizes 300000 --repeat 5
    .venv/bin/python benchmarks/bench_tensorboard.py --layout tf2 --sizes 300000

The event files are written by ``torch.utils.tensorboard.SummaryWriter`` (the real writer,
``add_scalar``: the ``simple_value`` layout PyTorch and Lightning write) into
``benchmarks/_data/`` (git-ignored) and reused by later runs. ``--layout tf2`` writes TF2's
layout instead (``tf.summary.scalar``, Keras): a rank-0 float32 tensor in ``tensor_content``
with the ``scalars`` plugin metadata on every event, built from tensorboard's protos and
metadata function and written by tensorboard's ``EventFileWriter`` (TensorFlow itself is not
installed); tbparse and EventAccumulator are then asked for their tensors, the only way they
see these scalars. Each reader runs in its own
subprocess, so its peak RSS (the child's own ``VmHWM``: C allocations included, which
tracemalloc would miss; interpreter and imports included too) and its import cost do not leak
into the others. Times are for the read
only (imports excluded). The machine this was written on is shared, so wall time depends on
the neighbours; the rates and ratios use the read's CPU time (``time.process_time``), which
does not.

Needs: ``pip install tensorboard tbparse``. The ``regadvisor`` row checks every record's data
CRC with a C CRC-32C (``pip install google-crc32c`` or ``crc32c``); ``regadvisor-purepython``
is what a machine without one gets (length CRCs always, a data CRC only for a record that does
not decode; see the measurements in ``regadvisor/logs/tensorboard.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
TAGS = ("train/loss", "train/acc", "learning_rate", "train/grad_norm")


def generate(n: int, layout: str = "simple") -> Path:
    """A run folder holding one event file of ``n`` scalars (4 tags, n/4 steps)."""
    folder = DATA / (f"tb_{n}" if layout == "simple" else f"tb_{layout}_{n}")
    done = folder / ".complete"
    if done.exists():
        return folder
    import math
    import shutil

    from torch.utils.tensorboard import SummaryWriter

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    t0 = time.perf_counter()
    steps = n // len(TAGS)

    def values(step: int) -> tuple[float, ...]:
        x = step / steps
        return (2.3 * math.exp(-3 * x) + 0.01 * math.sin(step), 1 - math.exp(-4 * x), 1e-3 * (1 - x),
                1 + math.cos(step / 7))

    if layout == "simple":
        writer = SummaryWriter(str(folder), max_queue=10000, flush_secs=3600)
        for step in range(steps):
            for tag, value in zip(TAGS, values(step)):
                writer.add_scalar(tag, value, step)
        writer.close()
    else:
        import numpy as np
        from tensorboard.compat.proto import (
            event_pb2,
            summary_pb2,
            tensor_pb2,
            tensor_shape_pb2,
            types_pb2,
        )
        from tensorboard.plugins.scalar import metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        writer = EventFileWriter(str(folder), max_queue_size=10000, flush_secs=3600)
        meta = metadata.create_summary_metadata(display_name=None, description="")
        shape = tensor_shape_pb2.TensorShapeProto()
        for step in range(steps):
            for tag, value in zip(TAGS, values(step)):
                tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape,
                                                tensor_content=np.float32(value).tobytes())
                summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)])
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))
        writer.close()
    size = sum(f.stat().st_size for f in folder.iterdir())
    done.write_text(json.dumps({"scalars": steps * len(TAGS), "bytes": size}))
    print(f"  generated {steps * len(TAGS):,} scalars ({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr)
    return folder


# -- children: one reader each -----------------------------------------------------------------

def child(reader: str, folder: str, layout: str) -> None:
    t_import = time.perf_counter()
    c_import = time.process_time()
    if reader.startswith("regadvisor"):
        if reader == "regadvisor-purepython":
            import regadvisor.logs.tensorboard as tb

            tb._CRC_FAST = None  # what a machine without google-crc32c/crc32c gets
        from regadvisor.logs.tensorboard import read

        t0, c0 = time.perf_counter(), time.process_time()
        run = read(Path(folder))
        count = sum(len(s) for s in run.series.values())
    elif reader == "tbparse":
        from tbparse import SummaryReader

        t0, c0 = time.perf_counter(), time.process_time()
        reader_ = SummaryReader(folder)
        count = len(reader_.scalars if layout == "simple" else reader_.tensors)
    elif reader == "event_accumulator":
        from tensorboard.backend.event_processing.event_accumulator import (
            EventAccumulator,
        )

        t0, c0 = time.perf_counter(), time.process_time()
        ea = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0, "histograms": 0,
                                                     "images": 0, "audio": 0, "compressedHistograms": 0})
        ea.Reload()
        if layout == "simple":
            count = sum(len(ea.Scalars(t)) for t in ea.Tags()["scalars"])
        else:
            count = sum(len(ea.Tensors(t)) for t in ea.Tags()["tensors"])
    else:
        raise SystemExit(f"unknown reader {reader}")
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(json.dumps({"count": count, "seconds": seconds, "cpu_s": cpu, "import_s": t0 - t_import,
                      "import_cpu_s": c0 - c_import, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS since exec: VmHWM (its own memory map, created by exec), not
    getrusage's ru_maxrss, which also counts the parent's pages between fork and exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(reader: str, folder: Path, layout: str) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", reader, str(folder), layout],
                            stdout=subprocess.PIPE, cwd=str(HERE.parent))
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{reader} failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["total_s"] = total
    result.setdefault("peak_rss_mb", usage.ru_maxrss / 1024)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300_000, 3_000_000])
    parser.add_argument("--readers", nargs="+",
                        default=["regadvisor", "regadvisor-purepython", "tbparse", "event_accumulator"])
    parser.add_argument("--repeat", type=int, default=3,
                        help="best of N (by CPU time) for each reader, on sizes under 1M (bigger ones: once)")
    parser.add_argument("--layout", choices=("simple", "tf2"), default="simple",
                        help="simple_value events (PyTorch, Lightning) or TF2 tensor scalars")
    parser.add_argument("--child", nargs=3, metavar=("READER", "FOLDER", "LAYOUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    rows = []
    for n in args.sizes:
        folder = generate(n, args.layout)
        meta = json.loads((folder / ".complete").read_text())
        for reader in args.readers:
            best = None
            for _ in range(args.repeat if n < 1_000_000 else 1):
                r = run_child(reader, folder, args.layout)
                if best is None or r["cpu_s"] < best["cpu_s"]:
                    best = r
            if best["count"] != meta["scalars"]:
                raise SystemExit(f"{reader} read {best['count']} scalars, expected {meta['scalars']}")
            rows.append((n, meta["bytes"], reader, best))
            print(f"  {reader:<22} {n:>9,}  {best['seconds']:8.2f} s wall {best['cpu_s']:8.2f} s cpu", file=sys.stderr)

    print(f"\n{'scalars':>9} {'MB':>5}  {'reader':<22} {'wall s':>8} {'cpu s':>8} {'scalars/s':>11} "
          f"{'x tbparse':>9} {'x EA':>6} {'peak RSS MB':>11}   (scalars/s and x: read CPU time)")
    for n, size, reader, r in rows:
        ref = {rd: rr for nn, _, rd, rr in rows if nn == n}
        rate = r["count"] / r["cpu_s"]
        vs = []
        for other in ("tbparse", "event_accumulator"):
            vs.append(f"{ref[other]['cpu_s'] / r['cpu_s']:.1f}" if other in ref else "-")
        print(f"{n:>9,} {size / 1e6:>5.0f}  {reader:<22} {r['seconds']:>8.2f} {r['cpu_s']:>8.2f} "
              f"{rate:>11,.0f} {vs[0]:>9} {vs[1]:>6} {r['peak_rss_mb']:>11.0f}")
    if len(args.sizes) > 1:
        lo, hi = min(args.sizes), max(args.sizes)
        print(f"\ngrowth {lo:,} → {hi:,} scalars (×{hi / lo:.0f}):")
        for reader in args.readers:
            a = next(r for nn, _, rd, r in rows if nn == lo and rd == reader)
            b = next(r for nn, _, rd, r in rows if nn == hi and rd == reader)
            print(f"  {reader:<22} cpu time ×{b['cpu_s'] / a['cpu_s']:.1f}, peak RSS "
                  f"{a['peak_rss_mb']:.0f} → {b['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
