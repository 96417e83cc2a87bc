"""Small valid inputs of every format, written by hand from each format's specification, for
the fuzz suite to mutate and for the resource tests to corrupt precisely.

Each writer follows the layout its reader's module docstring cites (TFRecord framing and the
``Event`` proto for TensorBoard, the LevelDB log format and ``wandb_internal.Record`` for W&B,
MLflow's file store and SQL schema); the reader tests in tests/logs check the readers against
files the real libraries wrote, so these seeds only need to be valid enough to reach deep code.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from pathlib import Path

from regadvisor.logs.tensorboard import crc32c, masked_crc

# --------------------------------------------------------------------------- protobuf wire format


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number: int, payload: bytes | int | float, wire: int | None = None) -> bytes:
    """One protobuf field: bytes are length-delimited, ints varints, floats doubles (wire 1)
    or, with ``wire=5``, float32."""
    if isinstance(payload, bytes):
        return varint(number << 3 | 2) + varint(len(payload)) + payload
    if isinstance(payload, float) or wire in (1, 5):
        if wire == 5:
            return varint(number << 3 | 5) + struct.pack("<f", payload)
        return varint(number << 3 | 1) + struct.pack("<d", payload)
    return varint(number << 3 | 0) + varint(payload)


# --------------------------------------------------------------------------- TensorBoard


def tb_record(data: bytes, *, length: int | None = None) -> bytes:
    """A TFRecord with correct CRCs; ``length`` makes it claim another length (CRC still right)."""
    header = struct.pack("<Q", len(data) if length is None else length)
    return (header + struct.pack("<I", masked_crc(crc32c(header))) + data
            + struct.pack("<I", masked_crc(crc32c(data))))


def tb_scalar_event(tag: str, value: float, step: int, wall: float = 1.7e9) -> bytes:
    """``Event{wall_time, step, summary{value{tag, simple_value}}}`` as SummaryWriter writes it."""
    value_msg = field(1, tag.encode()) + field(2, value, wire=5)
    return field(1, wall) + field(2, step) + field(5, field(1, value_msg))


def tb_file(points: list[tuple[str, float, int]]) -> bytes:
    version = field(1, 1.7e9) + field(3, b"brain.Event:2")
    return tb_record(version) + b"".join(tb_record(tb_scalar_event(t, v, s)) for t, v, s in points)


def tb_seed() -> bytes:
    return tb_file([(tag, 1.0 / (s + 1) + (0.1 if tag == "val_loss" else 0.0), s)
                    for s in range(6) for tag in ("train_loss", "val_loss")])


# --------------------------------------------------------------------------- W&B transaction log

WANDB_HEADER = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)


def wandb_chunk(data: bytes, rtype: int = 1) -> bytes:
    """One LevelDB log record (FULL by default) with W&B's plain CRC-32 of type byte and data."""
    crc = zlib.crc32(data, zlib.crc32(bytes([rtype])))
    return struct.pack("<IHB", crc, len(data), rtype) + data


def wandb_history(items: dict[str, str], step: int) -> bytes:
    """``Record{history{item{key, value_json}..., step{num}}}``."""
    body = b"".join(field(1, field(1, k.encode()) + field(16, v.encode())) for k, v in items.items())
    return field(2, body + field(2, field(1, step)))


def wandb_file(records: list[bytes]) -> bytes:
    """A ``run-<id>.wandb`` holding FULL records (the seeds stay inside the first 32 KiB block)."""
    return WANDB_HEADER + b"".join(wandb_chunk(r) for r in records)


def wandb_seed() -> bytes:
    rows = [wandb_history({"loss": repr(1 / (s + 1)), "val_loss": repr(1.2 / (s + 1)), "epoch": str(s)}, s)
            for s in range(6)]
    config = field(5, field(1, field(1, b"lr") + field(16, b"0.001")))
    exit_record = field(18, field(1, 0))
    return wandb_file([config, *rows, exit_record])


# --------------------------------------------------------------------------- MLflow

MLFLOW_SCHEMA = (
    "CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT)",
    "CREATE TABLE runs (run_uuid TEXT, name TEXT, status TEXT, lifecycle_stage TEXT, experiment_id INTEGER,"
    " start_time INTEGER)",
    "CREATE TABLE metrics (key TEXT, value REAL, timestamp INTEGER, step INTEGER, run_uuid TEXT, is_nan INTEGER)",
    "CREATE TABLE params (key TEXT, value TEXT, run_uuid TEXT)",
)


def mlflow_db(path: Path, *, runs=None, metrics=None, params=None) -> Path:
    """An ``mlflow.db`` with MLflow's four tracking tables (the columns the reader selects).

    ``runs`` are (run_uuid, name, status); ``metrics`` (run_uuid, key, value, step, is_nan);
    ``params`` (run_uuid, key, value); any SQLite value may stand in any column."""
    runs = [("r1", "run-one", "FINISHED")] if runs is None else runs
    if metrics is None:
        metrics = [("r1", key, 1.0 / (s + 1) + offset, s, 0) for s in range(6)
                   for key, offset in (("train_loss", 0.0), ("val_loss", 0.1))]
    params = [("r1", "lr", "0.001")] if params is None else params
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA synchronous = OFF")  # a test file: no fsync per commit
        conn.execute("PRAGMA journal_mode = MEMORY")
        for statement in MLFLOW_SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO experiments VALUES (0, 'Default', 'active')")
        conn.executemany("INSERT INTO runs VALUES (?, ?, ?, 'active', 0, 0)", runs)
        conn.executemany("INSERT INTO metrics VALUES (?, ?, 0, ?, ?, ?)",
                         [(key, value, step, run, nan) for run, key, value, step, nan in metrics])
        conn.executemany("INSERT INTO params VALUES (?, ?, ?)", [(k, v, run) for run, k, v in params])
    conn.close()
    return path


def mlflow_run_dir(root: Path, *, meta: str | None = None, metrics: dict[str, str] | None = None,
                   params: dict[str, str] | None = None) -> Path:
    """``mlruns/0/<run_id>/`` of the file store: meta.yaml, metrics/<key>, params/<key>."""
    run = root / "mlruns" / "0" / "abc123"
    (run / "metrics").mkdir(parents=True, exist_ok=True)
    (run / "params").mkdir(exist_ok=True)
    (root / "mlruns" / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\nlifecycle_stage: active\n")
    (run / "meta.yaml").write_text(meta if meta is not None else
                                   "run_id: abc123\nrun_name: demo\nstatus: 3\nlifecycle_stage: active\n")
    lines = {key: "".join(f"1700000000000 {1.0 / (s + 1) + off} {s}\n" for s in range(6))
             for key, off in (("train_loss", 0.0), ("val_loss", 0.1))}
    for key, text in (lines if metrics is None else metrics).items():
        (run / "metrics" / key).parent.mkdir(parents=True, exist_ok=True)  # a key with / nests folders
        (run / "metrics" / key).write_text(text)
    for key, text in ({"lr": "0.001"} if params is None else params).items():
        (run / "params" / key).write_text(text)
    return run


# --------------------------------------------------------------------------- text formats

CSV_ROWS = "".join(f"{e},{e * 10 + 9},{1.0 / (e + 1):.4f},{1.1 / (e + 1) + 0.02 * e:.4f},{0.5 + 0.04 * e:.3f}\n"
                   for e in range(8))
LIGHTNING_CSV = "epoch,step,train_loss,val_loss,val_acc\n" + CSV_ROWS
GENERIC_CSV = "step,loss,val_loss,accuracy\n" + "".join(
    f"{s},{1.0 / (s + 1):.4f},{1.2 / (s + 1):.4f},{0.5 + 0.05 * s:.2f}\n" for s in range(8))
KERAS_CSV = "epoch,accuracy,loss,val_accuracy,val_loss\n" + "".join(
    f"{e},{0.6 + 0.04 * e:.3f},{1.0 / (e + 1):.4f},{0.55 + 0.03 * e:.3f},{1.1 / (e + 1) + 0.02 * e:.4f}\n"
    for e in range(8))
FASTAI_CSV = "epoch,train_loss,valid_loss,accuracy,time\n" + "".join(
    f"{e},{1.0 / (e + 1):.4f},{1.1 / (e + 1):.4f},{0.6 + 0.03 * e:.3f},00:01\n" for e in range(8))
YOLO_CSV = ("epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),val/box_loss,val/cls_loss,"
            "val/dfl_loss\n" + "".join(
                f"{e},{1.0 / (e + 1):.3f},{0.5 / (e + 1):.3f},{0.9:.3f},{0.5 + 0.04 * e:.3f},{1.1 / (e + 1):.3f},"
                f"{0.6 / (e + 1):.3f},{0.95:.3f}\n" for e in range(8)))
JSONL = "".join(f'{{"step": {s}, "train": {{"loss": {1.0 / (s + 1):.4f}}}, "val_loss": {1.2 / (s + 1):.4f}}}\n'
                for s in range(8))
KERAS_JSON = '{"loss": [1.0, 0.8, 0.6, 0.5], "val_loss": [1.1, 0.9, 0.85, 0.9], "accuracy": [0.5, 0.6, 0.7, 0.8]}'
HF_STATE = ('{"global_step": 40, "train_batch_size": 8, "log_history": ['
            + ", ".join(f'{{"loss": {1.0 / (s + 1):.3f}, "step": {s * 10}, "epoch": {s}}}, '
                        f'{{"eval_loss": {1.1 / (s + 1):.3f}, "step": {s * 10}, "epoch": {s}}}' for s in range(1, 5))
            + "]}")
TEXT_LOG = "".join(f"step {s * 100}: train loss {1.0 / (s + 1):.4f}, val loss {1.1 / (s + 1):.4f}\n" for s in range(8))
WANDB_HISTORY = "".join(f'{{"_step": {s}, "loss": {1.0 / (s + 1):.3f}, "val_loss": {1.1 / (s + 1):.3f}}}\n'
                        for s in range(8))
WANDB_CHART = '"Step","demo - val/loss","demo - val/loss__MIN","demo - val/loss__MAX"\n' + "".join(
    f"{s * 10},{1.0 / (s + 1):.3f},{0.9 / (s + 1):.3f},{1.1 / (s + 1):.3f}\n" for s in range(8))
HPARAMS = "lr: 0.001\nbatch_size: 32\ndropout: 0.1\noptimizer: adamw\n"
