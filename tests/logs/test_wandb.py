"""The W&B reader against runs written by the real ``wandb`` package, and damaged copies of them.

Runs are produced offline (``WANDB_MODE=offline``, no network) by ``wandb`` itself and read back
value for value. The committed fixture, the legacy ``wandb-history.jsonl`` and the chart-export
CSV are read without ``wandb`` installed (see tests/fixtures/logs/wandb/PROVENANCE.md).
"""

from __future__ import annotations

import math
import shutil
import struct
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs import wandb as reader
from regadvisor.logs.registry import formats

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "logs" / "wandb"
EPOCHS = 30
STEPS_PER_EPOCH = 20
BLOCK = 32 * 1024


def overfit_curves() -> dict[str, list[float]]:
    return {
        "train_loss": [2.0 * 0.85 ** e for e in range(EPOCHS)],
        "val_loss": [0.6 + 0.01 * (e - 10) ** 2 for e in range(EPOCHS)],
        "val/acc": [0.8 - 0.002 * abs(e - 10) for e in range(EPOCHS)],
        "val.f1": [0.7 - 0.001 * abs(e - 10) for e in range(EPOCHS)],
    }


def record_offsets(path: Path) -> list[tuple[int, int, int]]:
    """(offset, length, type) of every record header: an independent walk of the block layout."""
    data = path.read_bytes()
    out, pos = [], 7
    while pos + 7 <= len(data):
        room = BLOCK - pos % BLOCK
        if room < 7:
            pos += room
            continue
        _, length, rtype = struct.unpack_from("<IHB", data, pos)
        out.append((pos, length, rtype))
        pos += 7 + length
    return out


@pytest.fixture(scope="module")
def wandb_runs(tmp_path_factory):
    """Three offline runs: per-epoch metrics that overfit (with a config big enough to span
    blocks), a Lightning-style run with per-step training loss, and one that exits with 1."""
    wandb = pytest.importorskip("wandb")
    home = tmp_path_factory.mktemp("wandb_home")
    settings = {"x_disable_stats": True, "x_disable_meta": True, "disable_git": True, "save_code": False}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(home), "WANDB_SILENT": "true",
                           "WANDB_CONFIG_DIR": str(home / "config"), "WANDB_CACHE_DIR": str(home / "cache")}.items():
            mp.setenv(key, value)
        curves = overfit_curves()
        run = wandb.init(project="regadvisor-tests", name="overfit", settings=wandb.Settings(**settings), config={
            "lr": 3e-4, "batch_size": 16, "optimizer": "AdamW", "weight_decay": 0.01,
            "model": {"dropout": 0.2, "widths": list(range(20000))}})  # ~110 KB: the run record spans 4 blocks
        for e in range(EPOCHS):
            run.log({"epoch": e, "train_loss": curves["train_loss"][e], "val_loss": curves["val_loss"][e],
                     "val/acc": curves["val/acc"][e], "val": {"f1": curves["val.f1"][e]},
                     "diverging": math.nan if e == 7 else 1.0, "note": "text is not a metric"})
        run.finish()
        overfit_dir = Path(run.dir).parent

        run = wandb.init(project="regadvisor-tests", name="lightning-style", settings=wandb.Settings(**settings))
        step_losses = []
        for e in range(EPOCHS):
            for s in range(STEPS_PER_EPOCH):
                gs = e * STEPS_PER_EPOCH + s
                step_losses.append(1.0 / (1 + 0.01 * gs))
                run.log({"train_loss_step": step_losses[-1], "epoch": e, "trainer/global_step": gs})
            run.log({"val_loss": curves["val_loss"][e], "epoch": e, "trainer/global_step": gs})
        run.finish()
        lightning_dir = Path(run.dir).parent

        run = wandb.init(project="regadvisor-tests", name="crashed", settings=wandb.Settings(**settings))
        run.log({"train_loss": 1.0})
        run.log({"train_loss": 2.0})
        run.finish(exit_code=1)
        crashed_dir = Path(run.dir).parent
        wandb.teardown()
    return {"overfit": overfit_dir, "lightning": lightning_dir, "crashed": crashed_dir, "curves": curves,
            "step_losses": step_losses, "home": home}


def wandb_file(run_dir: Path) -> Path:
    return next(run_dir.glob("run-*.wandb"))


# --------------------------------------------------------------------------- runs written by wandb


def test_offline_run_value_for_value(wandb_runs):
    run = reader.read(wandb_runs["overfit"])
    curves = wandb_runs["curves"]
    assert run.name == "overfit" and run.format == "wandb"
    names = {"train_loss": "train_loss", "val_loss": "val_loss", "val/acc": "val_acc", "val.f1": "val_f1"}
    for raw, canonical in names.items():
        series = run.series[canonical]
        assert series.original_name == raw
        assert list(series.values) == curves[raw]
        assert list(series.steps) == [float(e) for e in range(EPOCHS)]
        assert list(series.epochs) == [float(e) for e in range(EPOCHS)]
    assert set(run.series) == set(names.values()) | {"diverging"}
    assert math.isnan(run.series["diverging"].values[7])
    assert run.facts["learning_rate"] == 3e-4 and run.facts["batch_size"] == 16
    assert run.facts["weight_decay"] == 0.01 and run.facts["dropout"] == 0.2
    assert str(run.facts["optimizer"]).lower() == "adamw"
    assert run.warnings == ["diverging: 1 NaN/inf value(s)"]


def test_record_spanning_blocks_is_reassembled(wandb_runs):
    kinds = {rtype for _, _, rtype in record_offsets(wandb_file(wandb_runs["overfit"]))}
    assert {2, 3, 4} <= kinds  # FIRST, MIDDLE and LAST fragments are really there
    assert reader.read(wandb_file(wandb_runs["overfit"])).facts["dropout"] == 0.2


def test_global_step_and_epoch_from_lightning_keys(wandb_runs):
    run = reader.read(wandb_runs["lightning"])
    train = run.series["train_loss"]
    assert train.original_name == "train_loss_step"
    assert list(train.values) == wandb_runs["step_losses"]
    assert list(train.steps) == [float(s) for s in range(EPOCHS * STEPS_PER_EPOCH)]
    assert list(train.epochs) == [float(s // STEPS_PER_EPOCH) for s in range(EPOCHS * STEPS_PER_EPOCH)]
    val = run.series["val_loss"]
    assert list(val.values) == wandb_runs["curves"]["val_loss"]
    assert list(val.steps) == [float((e + 1) * STEPS_PER_EPOCH - 1) for e in range(EPOCHS)]
    assert wandb_file(wandb_runs["lightning"]).stat().st_size > 2 * BLOCK


def test_nonzero_exit_code_is_reported(wandb_runs):
    run = reader.read(wandb_runs["crashed"])
    assert list(run.series["train_loss"].values) == [1.0, 2.0]
    assert "the run exited with code 1" in run.warnings


def test_find_runs_in_wandb_folder(wandb_runs):
    wandb_dir = wandb_runs["overfit"].parent
    # Start time first (in the folder name), run id within a second: these three share a second.
    expected = sorted([wandb_runs["overfit"], wandb_runs["lightning"], wandb_runs["crashed"]], key=lambda p: p.name)
    assert (wandb_dir / "latest-run").exists()
    assert reader.find_runs(wandb_dir) == expected
    assert reader.find_runs(wandb_runs["home"]) == expected
    assert reader.find_runs(expected[0]) == [expected[0]]
    with pytest.raises(LogReadError, match="3 W&B runs here"):
        reader.read(wandb_dir)


def test_sniffing(wandb_runs):
    registered = formats()
    log = wandb_file(wandb_runs["overfit"])
    assert registered["wandb"].sniff(wandb_runs["overfit"], b"") == 1.0
    assert registered["wandb"].sniff(wandb_runs["overfit"].parent, b"") > 0.5
    assert registered["wandb-log"].sniff(log, log.read_bytes()[:64]) == 1.0
    assert registered["wandb"].sniff(wandb_runs["overfit"] / "files", b"") == 0.0


def test_synced_layout_config_yaml_wins(wandb_runs, tmp_path):
    synced = tmp_path / "run-20260101_000000-abc"
    synced.mkdir()
    shutil.copy(wandb_file(wandb_runs["overfit"]), synced / "run-abc.wandb")
    (synced / "files").mkdir()
    (synced / "files" / "config.yaml").write_text(
        "_wandb:\n  value:\n    cli_version: 0.31.0\nlr:\n  value: 0.5\nlabel_smoothing:\n  value: 0.1\n")
    (synced / "files" / "wandb-summary.json").write_text('{"train_loss": 123.0, "_step": 29}')
    run = reader.read(synced)
    assert run.facts["learning_rate"] == 0.5 and run.facts["label_smoothing"] == 0.1
    assert run.facts["batch_size"] == 16  # still from the transaction log
    assert list(run.series["train_loss"].values) == wandb_runs["curves"]["train_loss"]
    assert reader.read(synced / "run-abc.wandb").facts["learning_rate"] == 0.5  # the file alone, too


def test_typed_history_values_from_the_proto(tmp_path):
    """``HistoryItem.number``/``integer``/``json`` are in the schema though 0.31.0 writes only
    ``value_json``: records serialized by wandb's own generated classes, framed as the log does."""
    pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
    import zlib

    records = [
        pb.Record(history=pb.HistoryRecord(step=pb.HistoryStep(num=7), item=[
            pb.HistoryItem(key="train_loss", number=0.25), pb.HistoryItem(key="val_loss", integer=-3),
            pb.HistoryItem(nested_key=["val", "acc"], json="0.5"), pb.HistoryItem(key="flag", boolean=True)])),
        pb.Record(exit=pb.RunExitRecord(exit_code=0)),
    ]
    out = bytearray(b":W&B" + struct.pack("<HB", 0xBEE1, 0))
    for record in records:
        data = record.SerializeToString()
        out += struct.pack("<IHB", zlib.crc32(bytes([1]) + data), len(data), 1) + data
    log = tmp_path / "run-typed.wandb"
    log.write_bytes(bytes(out))
    run = reader.read(log)
    assert {k: (list(s.values), list(s.steps)) for k, s in run.series.items()} == {
        "train_loss": ([0.25], [7.0]), "val_loss": ([-3.0], [7.0]), "val_acc": ([0.5], [7.0])}
    assert run.warnings == []


# --------------------------------------------------------------------------- damaged transaction logs


def test_truncated_file_keeps_the_complete_records(wandb_runs, tmp_path):
    source = wandb_file(wandb_runs["lightning"])
    data = source.read_bytes()
    cut = tmp_path / "run-cut.wandb"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    run = reader.read(cut)
    values = list(run.series["train_loss"].values)
    assert 0 < len(values) < len(wandb_runs["step_losses"])
    assert values == wandb_runs["step_losses"][: len(values)]
    assert any("ends inside a record" in w for w in run.warnings)


def test_flipped_byte_skips_to_the_next_block_and_says_where(wandb_runs, tmp_path):
    source = wandb_file(wandb_runs["lightning"])
    data = bytearray(source.read_bytes())
    offset, length, _ = next(r for r in record_offsets(source) if r[0] > BLOCK + 1000 and r[1] > 50)
    data[offset + 7 + length // 2] ^= 0x40
    damaged = tmp_path / "run-flip.wandb"
    damaged.write_bytes(bytes(data))
    run = reader.read(damaged)
    values = list(run.series["train_loss"].values)
    logged = wandb_runs["step_losses"]
    assert len(values) < len(logged) and values[-1] == logged[-1]
    it = iter(logged)
    assert all(v in it for v in values)  # what survives is the logged sequence with a gap
    warning = next(w for w in run.warnings if "damaged record" in w)
    assert f"first at byte {offset}" in warning and "next 32 KiB block" in warning


def test_random_damage_is_a_warning_or_read_error_never_a_traceback(wandb_runs, tmp_path):
    import random

    original = wandb_file(wandb_runs["lightning"]).read_bytes()
    rng = random.Random(3)
    for i in range(60):
        data = bytearray(original)
        if i % 3 == 0:
            data = data[: rng.randrange(len(data))]
        elif i % 3 == 1:
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            at = rng.randrange(len(data))
            data[at:at + rng.randint(1, 200)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        damaged = tmp_path / f"run-damaged{i}.wandb"
        damaged.write_bytes(bytes(data))
        try:
            run = reader.read(damaged)
        except LogReadError as exc:
            assert str(damaged) in str(exc)
        else:
            values = list(run.series["train_loss"].values)
            assert values and len(values) <= len(wandb_runs["step_losses"])


def test_empty_and_foreign_files_are_read_errors(tmp_path):
    empty = tmp_path / "run-empty.wandb"
    empty.write_bytes(b"")
    with pytest.raises(LogReadError, match="is empty"):
        reader.read(empty)
    foreign = tmp_path / "run-foreign.wandb"
    foreign.write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(LogReadError, match="not a W&B transaction log") as err:
        reader.read(foreign)
    assert str(foreign) in str(err.value)
    assert formats()["wandb-log"].sniff(foreign, foreign.read_bytes()) > 0  # still ours to explain


def test_bad_log_in_a_folder_falls_back_to_the_summary(tmp_path):
    run_dir = tmp_path / "offline-run-20260101_000000-xyz"
    (run_dir / "files").mkdir(parents=True)
    (run_dir / "run-xyz.wandb").write_bytes(b"garbage!" * 10)
    (run_dir / "files" / "wandb-summary.json").write_text('{"train_loss": 0.1, "val_loss": 0.9, "_step": 41}')
    run = reader.read(run_dir)
    assert list(run.series["val_loss"].values) == [0.9] and list(run.series["val_loss"].steps) == [41.0]
    assert any("not a W&B transaction log" in w for w in run.warnings)
    assert any("final values from the run summary only" in w for w in run.warnings)


def test_folder_with_only_an_empty_log_is_a_read_error(tmp_path):
    run_dir = tmp_path / "offline-run-20260101_000000-nil"
    run_dir.mkdir()
    (run_dir / "run-nil.wandb").write_bytes(b"")
    with pytest.raises(LogReadError, match="no metrics found.*is empty"):
        reader.read(run_dir)


# --------------------------------------------------------------------------- committed fixtures (no wandb needed)


def test_committed_offline_run():
    run = reader.read(FIXTURES / "offline-run-20261122_031711-rafix001")
    # The formulas of make_offline_run.py, rounded as it rounds them.
    assert list(run.series["train_loss"].values) == [round(1.2 * 0.8 ** e, 6) for e in range(12)]
    assert list(run.series["val_loss"].values) == [
        round(0.9 + 0.03 * (e - 5) ** 2 - 0.3 * (e < 5) * (5 - e) * 0.1, 6) for e in range(12)]
    assert list(run.series["val_acc"].values) == [
        round(0.7 + 0.02 * min(e, 5) - 0.005 * max(0, e - 5), 6) for e in range(12)]
    assert list(run.series["val_acc"].epochs) == [float(e) for e in range(12)]
    assert run.name == "mlp-overfit"
    assert run.facts["learning_rate"] == 0.001 and run.facts["dropout"] == 0.0


def test_legacy_history_jsonl():
    folder = FIXTURES / "legacy-run-20200301_120000-old0001"
    run = reader.read(folder)
    assert list(run.series["train_loss"].values) == [round(0.7 ** e, 6) for e in range(6)]
    assert list(run.series["val_loss"].steps) == [float(e) for e in range(6)]
    assert list(run.series["train_acc"].values) == [round(0.5 + 0.08 * e, 6) for e in range(6)]
    assert "examples" not in run.series and not any(k.startswith("examples") for k in run.series)
    assert run.facts["learning_rate"] == 0.01 and run.facts["batch_size"] == 128
    assert any("line 4" in w for w in run.warnings)
    alone = reader.read_history_jsonl(folder / "wandb-history.jsonl")
    assert list(alone.series["train_loss"].values) == list(run.series["train_loss"].values)
    assert alone.name == "old0001" and str(alone.facts["optimizer"]).lower() == "sgd"
    assert formats()["wandb-history"].sniff(folder / "wandb-history.jsonl", b"") > 0.9


def test_chart_export_csv():
    export = FIXTURES / "chart_export_val_loss.csv"
    assert formats()["wandb-csv"].sniff(export, export.read_bytes()) == 0.95
    runs = reader.find_runs(export)
    assert runs == [Path(f"{export}#mlp-overfit"), Path(f"{export}#mlp-wd-0.1")]
    with pytest.raises(LogReadError, match="holds 2 runs; choose one"):
        reader.read_csv_export(export)
    overfit = reader.read_csv_export(runs[0])
    assert set(overfit.series) == {"val_loss"}  # the __MIN/__MAX bands are not curves
    assert list(overfit.series["val_loss"].steps) == [float(s * 100) for s in range(10)]
    assert list(overfit.series["val_loss"].values) == [
        round(0.9 - 0.05 * min(s, 4) + 0.02 * max(0, s - 4), 6) for s in range(10)]
    assert overfit.name == "mlp-overfit" and overfit.source == f"{export}#mlp-overfit"
    assert len(reader.read_csv_export(runs[1]).series["val_loss"]) == 9  # its empty last row is skipped
    with pytest.raises(LogReadError, match="no run named 'other'"):
        reader.read_csv_export(Path(f"{export}#other"))


def test_csv_without_run_columns_is_not_an_export(tmp_path):
    plain = tmp_path / "metrics.csv"
    plain.write_text("epoch,train_loss,val_loss\n0,1.0,1.1\n")
    assert formats()["wandb-csv"].sniff(plain, plain.read_bytes()) == 0.0
    with pytest.raises(LogReadError, match="not a W&B chart export"):
        reader.read_csv_export(plain)
