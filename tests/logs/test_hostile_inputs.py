"""Inputs that used to crash, hang or exhaust memory (issue 15), each pinned by a small test.

Every one must end as a :class:`~regadvisor.errors.UserError` naming the file (exit code 2) or,
where the damage only costs a side file, as a warning on a run that is still read. The inputs
are built by tests/fuzz/_seeds.py so that each test shows exactly what is broken.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError, UserError
from regadvisor.logs import _io
from regadvisor.logs.read import find_runs, read_log
from regadvisor.logs.registry import ReadOptions
from regadvisor.logs.text import parse_line
from tests.fuzz import _seeds as seeds


@contextmanager
def never_hangs(seconds: int = 60):
    """Fail instead of hanging: the inputs here once took minutes (or forever); they take
    milliseconds now, so the bound is a hang detector with a wide margin, not a measurement."""
    def expired(*_):
        raise AssertionError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def lightning_run(folder: Path, hparams: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.csv").write_text(seeds.LIGHTNING_CSV)
    if hparams is not None:
        (folder / "hparams.yaml").write_text(hparams)
    return folder / "metrics.csv"


# --------------------------------------------------------------------------- YAML side files

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))


@pytest.mark.parametrize("hparams, problem", [
    ("lr: !!timestamp 'nope'\n", "typed value does not parse"),
    ("lr: !!timestamp '2020-13-45'\n", "month must be in 1..12"),
    ("lr: " + "9" * 5000 + "\n", "4300 digits"),
    (BILLION_LAUGHS, "expands to more than"),
    ("a: &a [*a]\n", "anchor that contains itself"),
    ("a: " + "[" * 500 + "]" * 500 + "\n", "nested more than"),
    ("lr: [unclosed\n", "invalid YAML at line 2"),
])
def test_a_broken_hparams_yaml_costs_its_facts_not_the_run(tmp_path, hparams, problem):
    with never_hangs():
        run = read_log(lightning_run(tmp_path, hparams))
    assert "val_loss" in run.series and "learning_rate" not in run.facts
    assert any(w.startswith("hparams.yaml ignored:") and problem in w for w in run.warnings), run.warnings
    assert all("\n" not in w for w in run.warnings)


def test_yolo_args_yaml_with_a_bad_timestamp_is_a_warning(tmp_path):
    (tmp_path / "results.csv").write_text(seeds.YOLO_CSV)
    (tmp_path / "args.yaml").write_text("lr0: !!timestamp 'nope'\n")
    run = read_log(tmp_path / "results.csv")
    assert run.format == "yolo" and any(w.startswith("args.yaml ignored") for w in run.warnings)


def test_wandb_config_yaml_with_a_bad_timestamp_is_a_warning(tmp_path):
    folder = tmp_path / "offline-run-20250101_000000-abc"
    (folder / "files").mkdir(parents=True)
    (folder / "run-abc.wandb").write_bytes(seeds.wandb_seed())
    (folder / "files" / "config.yaml").write_text("lr:\n  value: !!timestamp 'nope'\n")
    run = read_log(folder)
    assert "val_loss" in run.series and any("config.yaml ignored" in w for w in run.warnings)


@pytest.mark.parametrize("meta", [
    "run_id: abc123\nstart_time: !!timestamp '2020-13-45'\n",
    "run_id: abc123\nstart_time: " + "1" * 4400 + "\n",
    "run_id: abc123\nx: " + "[" * 200 + "]" * 200 + "\n",
    "run_id: !!timestamp 'nope'\n",
])
def test_mlflow_meta_yaml_that_does_not_load_is_a_read_error_during_discovery(tmp_path, meta):
    seeds.mlflow_run_dir(tmp_path, meta=meta)
    with pytest.raises(LogReadError, match="meta.yaml: ") as err:
        find_runs(tmp_path)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- JSON, sniffing, paths


@pytest.mark.parametrize("config", ["[" * 100_000 + "]" * 100_000, '{"num_labels": ' + "9" * 5000 + "}", "{"])
def test_a_broken_model_config_beside_a_trainer_state_costs_its_facts(tmp_path, config):
    (tmp_path / "trainer_state.json").write_text(seeds.HF_STATE)
    (tmp_path / "config.json").write_text(config)
    run = read_log(tmp_path / "trainer_state.json")
    assert "val_loss" in run.series and any(w.startswith("config.json beside the state ignored") for w in run.warnings)


def test_deeply_nested_jsonl_does_not_abort_the_folder_scan(tmp_path):
    (tmp_path / "deep.jsonl").write_text('{"a": ' * 2000 + "1" + "}" * 2000 + "\n")
    lightning_run(tmp_path / "run")
    assert find_runs(tmp_path) == [tmp_path / "run" / "metrics.csv"]


def test_json_with_an_integer_too_long_to_convert_is_a_read_error(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text('{"log_history": [{"loss": ' + "7" * 5000 + ', "step": 1}]}')
    with pytest.raises(LogReadError, match="not valid JSON"):
        read_log(path)


def test_a_path_component_longer_than_the_file_system_allows_is_a_read_error(tmp_path):
    long = tmp_path / ("x" * 300) / "metrics.csv"
    for call in (read_log, find_runs):
        with pytest.raises(LogReadError, match="File name too long|does not exist"):
            call(long)
        with pytest.raises(LogReadError):
            call(str(long) + "#run")


# --------------------------------------------------------------------------- memory bounded by data


@pytest.fixture
def small_line_limit(monkeypatch):
    """The line bound at 64 KiB, so that a test can exceed it with a file of 200 KB."""
    monkeypatch.setattr(_io, "MAX_LINE_BYTES", 64 << 10)
    return 64 << 10


@pytest.mark.parametrize("name, head, fmt", [
    ("metrics.csv", seeds.LIGHTNING_CSV * 400, None),  # a valid head longer than the sniffing window
    ("metrics.csv", seeds.LIGHTNING_CSV, "lightning"),
    ("train.log", seeds.TEXT_LOG * 200, None),
    ("m.jsonl", seeds.JSONL * 200, None),
    ("wandb-history.jsonl", seeds.WANDB_HISTORY * 200, None),
])
def test_a_log_followed_by_a_run_of_nul_bytes_is_refused_at_the_line_bound(tmp_path, small_line_limit, name, head, fmt):
    path = tmp_path / name
    path.write_bytes(head.encode() + b"\0" * (3 * small_line_limit))
    with never_hangs(), pytest.raises(LogReadError, match=r"line \d+ is longer than 0 MiB|binary"):
        read_log(path, fmt)


def test_a_single_line_csv_is_refused_at_the_line_bound(tmp_path, small_line_limit):
    path = tmp_path / "wide.csv"
    path.write_text("step,loss," + ",".join(f"c{i}" for i in range(40_000)))
    with never_hangs(), pytest.raises(LogReadError, match="line 1 is longer than"):
        read_log(path, "csv")


def test_the_line_bound_counts_lines_across_chunks(tmp_path, small_line_limit):
    path = tmp_path / "log.csv"
    path.write_text(seeds.GENERIC_CSV + "9," + "1" * (2 * small_line_limit) + "\n")
    with pytest.raises(LogReadError, match="line 10 is longer"):
        read_log(path, "csv")
    ok = tmp_path / "ok.csv"  # long enough to span many read chunks, every line short
    ok.write_text("step,loss,val_loss\n" + "".join(f"{i},{1 / (i + 1)},{1 / (i + 1)}\n" for i in range(60_000)))
    assert len(read_log(ok).series["train_loss"]) == 60_000


def test_a_tensorboard_record_longer_than_its_file_is_a_read_error(tmp_path):
    for first_field in (b"\x09", b"\x2a"):  # wall_time first, or a summary first (not skippable)
        path = tmp_path / "events.out.tfevents.1.host"
        path.write_bytes(seeds.tb_record(first_field + b"\0" * 75, length=1 << 40)[:88])
        assert path.stat().st_size == 88
        with pytest.raises(LogReadError, match=r"claims 1,099,511,627,776 bytes, but the file ends 76 bytes"):
            read_log(path)


def test_a_tensorboard_file_whose_last_record_lies_keeps_the_records_before(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    path.write_bytes(seeds.tb_seed() + seeds.tb_record(b"\x2a\x00", length=1 << 40))
    run = read_log(path)
    assert len(run.series["val_loss"]) == 6 and any("claims 1,099,511,627,776 bytes" in w for w in run.warnings)


def test_an_alias_bomb_sidecar_is_refused_quickly(tmp_path):
    with never_hangs(20):
        run = read_log(lightning_run(tmp_path, BILLION_LAUGHS))
    assert any("expands to more than" in w for w in run.warnings)


# --------------------------------------------------------------------------- FIFOs and devices


def test_a_fifo_given_as_the_log_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "metrics.csv"
    os.mkfifo(fifo)
    for fmt in (None, "lightning", "tensorboard", "wandb-log"):
        with never_hangs(20), pytest.raises(LogReadError, match="named pipe"):
            read_log(fifo, fmt)


def test_a_fifo_inside_a_searched_folder_is_skipped(tmp_path):
    lightning_run(tmp_path / "run")
    os.mkfifo(tmp_path / "run" / "notes.txt")
    os.mkfifo(tmp_path / "events.out.tfevents.1.fifo")
    with never_hangs(20):
        assert find_runs(tmp_path) == [tmp_path / "run" / "metrics.csv"]


def test_a_device_is_refused(tmp_path):
    with never_hangs(20), pytest.raises(LogReadError, match="character device"):
        read_log("/dev/zero")


# --------------------------------------------------------------------------- text-log regexes


@pytest.mark.parametrize("line", [
    "ab" * 100_000,  # one long word: `[A-Za-z_]\w*\(` restarted at every letter
    "loss " + "1" * 100_000 + "_",  # a digit run `\d+\.?\d*` could split every way
    "a" + " " * 200_000 + "b",  # a space run `\s*(?:...|\s+)` could split every way
    "x = " + "a " * 100_000,
])
def test_hostile_text_lines_parse_in_linear_time(line):
    with never_hangs(30):
        for _ in range(5):
            parse_line(line, ReadOptions())


# --------------------------------------------------------------------------- MLflow SQLite values


def test_mlflow_db_with_a_null_param_value_reads(tmp_path):
    db = seeds.mlflow_db(tmp_path / "mlflow.db", params=[("r1", "lr", None), ("r1", "dropout", b"0.1")])
    run = read_log(db)
    assert run.facts["lr"] is None and run.facts["dropout"] == 0.1


def test_mlflow_db_with_integer_and_blob_metric_keys_reads(tmp_path):
    metrics = [("r1", key, 1.0 / (s + 1), s, 0) for s in range(5) for key in (7, b"val_loss", "train_loss", None)]
    run = read_log(seeds.mlflow_db(tmp_path / "mlflow.db", metrics=metrics))
    assert {"7", "val_loss", "train_loss"} <= set(run.series)


def test_mlflow_db_with_a_blob_run_name_renders_in_the_comparison_table(tmp_path):
    from regadvisor import api
    from regadvisor.render.compare import render

    metrics = [(run, key, 1.0 / (s + 1), s, 0) for run in ("r1", "r2") for s in range(5)
               for key in ("train_loss", "val_loss")]
    db = seeds.mlflow_db(tmp_path / "mlflow.db", runs=[("r1", b"blob\x1bname", "FINISHED"), ("r2", 12, None)],
                         metrics=metrics)
    reports = api.diagnose_runs([db]).reports
    table = render(reports)
    assert "blob\\x1bname" in table and "\x1b" not in table and "12" in table


def test_mlflow_db_with_odd_typed_columns_never_escapes_as_another_error(tmp_path):
    db = tmp_path / "mlflow.db"
    seeds.mlflow_db(db, metrics=[("r1", "val_loss", b"\xff", None, "x"), ("r1", "train_loss", 1.0, 2**62, None)])
    try:
        read_log(db)
    except UserError:
        pass
