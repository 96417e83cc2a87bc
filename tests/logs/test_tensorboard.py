"""The TensorBoard reader against TensorBoard's own loader, on real and library-written files.

The oracle is ``tensorboard``'s ``EventAccumulator`` (every event kept: ``size_guidance`` 0,
tensors included, no orphan purging): for each file regadvisor must read the same scalars,
value for value and step for step. Test files are written by the real libraries:
``torch.utils.tensorboard.SummaryWriter`` (the ``simple_value`` layout of PyTorch and
Lightning, and its ``new_style`` tensor layout) and tensorboard's own ``EventFileWriter`` with
the ``scalars`` plugin's metadata for the TF2 layout (see :func:`write_tf2_style`). Damaged
files are made from library-written ones by cutting or flipping bytes.
"""

from __future__ import annotations

import math
import os
import random
import struct
import time
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError, UserError
from regadvisor.logs import registry
from regadvisor.logs import tensorboard as tb
from regadvisor.logs.aliases import canonical_name

np = pytest.importorskip("numpy")
pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import (
    event_pb2,
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REAL_RUN = FIXTURES / "real-logs" / "tensorboard" / "mnist_cnn_version_0"
REAL_MAIN = REAL_RUN / "events.out.tfevents.1785441771.squirrels-iMac.local.1798.3"
REAL_POSTFIT = REAL_RUN / "events.out.tfevents.1785441960.squirrels-iMac.local.1798.4"


# -- helpers -----------------------------------------------------------------------------------

def oracle(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of one event file as TensorBoard reads it, tensor-stored ones included."""
    ea = EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0, "histograms": 0,
                                                    "images": 0, "audio": 0, "compressedHistograms": 0},
                          purge_orphaned_data=False)
    ea.Reload()
    out = {tag: [(e.step, e.value) for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}
    for tag in ea.Tags()["tensors"]:
        if ea.SummaryMetadata(tag).plugin_data.plugin_name not in ("scalars", ""):
            continue
        points = []
        for e in ea.Tensors(tag):
            array = tensor_util.make_ndarray(e.tensor_proto)
            if array.size == 1 and array.dtype.kind in "fiub":
                points.append((e.step, float(array.reshape(()).item())))
        if points:
            out[tag] = points
    return out


def ours(path: Path, **kw) -> dict[str, list[tuple[int, float]]]:
    ef = tb.read_event_file(path, **kw)
    return {tag: [(int(s), v) for v, s in zip(values, steps)] for tag, (values, steps) in ef.scalars.items()}


def same(a: dict, b: dict) -> bool:
    """Equal, with NaN equal to NaN (both readers keep non-finite values)."""
    if a.keys() != b.keys():
        return False
    for tag, points in a.items():
        if len(points) != len(b[tag]):
            return False
        for (s1, v1), (s2, v2) in zip(points, b[tag]):
            if s1 != s2 or not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))):
                return False
    return True


def event_file(folder: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if "tfevents" in p.name)
    assert len(files) == 1, files
    return files[0]


def record_offsets(data: bytes) -> list[int]:
    """Where each TFRecord starts (only to know which bytes to damage)."""
    offsets, pos = [], 0
    while pos + 12 <= len(data):
        offsets.append(pos)
        pos += 12 + struct.unpack_from("<Q", data, pos)[0] + 4
    return offsets


def write_torch_run(folder: Path, steps: int = 60) -> Path:
    """A PyTorch run with scalars of every kind SummaryWriter writes, among histograms, images,
    text, audio, a PR curve and a graph that the reader has to skip."""
    torch = pytest.importorskip("torch")
    from torch.utils.tensorboard import SummaryWriter

    rng = np.random.default_rng(0)
    w = SummaryWriter(str(folder))
    w.add_graph(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), torch.zeros(2, 4))
    for step in range(steps):
        w.add_scalar("train/loss", 2.0 * math.exp(-step / 20) + 0.01 * rng.standard_normal(), step)
        w.add_scalar("big_step/loss", 1.0 / (step + 1), 1_000_000_007 + step)
        w.add_scalar("lr", 1e-3 * (1 - step / steps), step, new_style=True)
        w.add_scalar("x_double", 1 / 3 + step, step, new_style=True, double_precision=True)
        if step % 10 == 0:
            w.add_scalar("val/loss", 1.5 - step / 100, step)
            w.add_histogram("weights", rng.standard_normal(100), step)
            w.add_image("sample", rng.random((3, 8, 8)), step)
            w.add_text("note", f"step {step}", step)
            w.add_audio("beep", rng.random(100) * 2 - 1, step, sample_rate=8000)
            w.add_pr_curve("pr", rng.integers(0, 2, 50), rng.random(50), step)
    w.add_scalar("edge/nan", float("nan"), 3)
    w.add_scalar("edge/inf", float("inf"), 4)
    w.add_scalar("edge/negative_step", 0.5, -5)
    w.add_scalar("edge/step_zero", 0.25, 0)
    for step in (1, 127, 128, 16383, 16384, 2097151, 2097152, 2**40):  # step varints of 1 to 6 bytes
        w.add_scalar("edge/varint", step / 3, step)
        w.add_scalar("edge/varint_tensor", step / 3, step, new_style=True)
    w.close()
    return event_file(folder)


def write_tf2_style(folder: Path, points: dict[str, list[tuple[int, float]]], *, start: float | None = None,
                    dtype: str = "float32", metadata: str = "every") -> Path:
    """Scalars as TF2's ``tf.summary.scalar`` (and Keras' TensorBoard callback) writes them.

    ``tf.summary.scalar`` (tensorboard/plugins/scalar/summary_v2.py) builds the ``scalars``
    plugin's ``SummaryMetadata`` with ``metadata.create_summary_metadata`` and hands a rank-0
    tensor to TF2's C++ ``SummaryFileWriter::WriteTensor``, which stores it with
    ``Tensor::AsProtoTensorContent`` (dtype, empty shape, ``tensor_content`` bytes, no
    ``float_val``) and attaches the metadata to every event (``metadata="every"``); TF1's
    Python ``FileWriter`` strips it from all but a tag's first event (``metadata="first"``).
    Without installing TensorFlow, the same messages are built here from tensorboard's compiled
    protos and its own metadata function, and written by tensorboard's ``EventFileWriter``; the
    oracle (``EventAccumulator`` + ``tensor_util.make_ndarray``) decodes them as TensorBoard
    shows them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    np_dtype, tf_dtype = {"float32": (np.float32, types_pb2.DT_FLOAT),
                          "float64": (np.float64, types_pb2.DT_DOUBLE),
                          "int64": (np.int64, types_pb2.DT_INT64)}[dtype]
    seen: set[str] = set()
    now = start if start is not None else time.time()
    merged = sorted((step, i, tag, value) for tag, pts in points.items() for i, (step, value) in enumerate(pts))
    for k, (step, _, tag, value) in enumerate(merged):
        tensor = tensor_pb2.TensorProto(dtype=tf_dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(),
                                        tensor_content=np.array(value, dtype=np_dtype).tobytes())
        val = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
        if metadata == "every" or tag not in seen:
            seen.add(tag)
            val.metadata.CopyFrom(scalar_metadata.create_summary_metadata(display_name=None, description=""))
        writer.add_event(event_pb2.Event(wall_time=now + k * 0.01, step=step, summary=summary_pb2.Summary(value=[val])))
    writer.close()
    return max(p for p in folder.iterdir() if "tfevents" in p.name)


@pytest.fixture(scope="module")
def torch_file(tmp_path_factory) -> Path:
    return write_torch_run(tmp_path_factory.mktemp("torch_run"))


# -- the real Lightning run ----------------------------------------------------------------------

@pytest.mark.parametrize("path", [REAL_MAIN, REAL_POSTFIT], ids=["fit", "validate"])
def test_real_files_match_eventaccumulator(path):
    expected = oracle(path)
    assert expected and same(ours(path), expected)


def test_real_run_folder_is_one_run_with_postfit_set_aside():
    run = tb.read(REAL_RUN)
    val = run.get("val_loss")
    assert [round(v, 3) for v in val.values] == [0.071, 0.048, 0.049, 0.048, 0.057]
    assert list(val.steps) == [1718, 3437, 5156, 6875, 8594]
    best = min(range(len(val)), key=lambda i: val.values[i])
    assert val.steps[best] == 6875 and round(val.values[best], 3) == 0.048
    assert run.get("val_loss").values[-1] / min(val.values) == pytest.approx(1.19, abs=0.01)
    assert len(run.get("train_loss")) == 5 and len(run.get("val_acc")) == 5
    assert list(val.epochs) == [0, 1, 2, 3, 4]  # Lightning's "epoch" scalar became the axis
    assert "epoch" not in run.series
    # the post-fit validate() (val_loss 0.0234 at step 8595, in the second file) is not training
    assert all(v > 0.04 for v in val.values)
    assert any("post-fit" in w and "0.02336" in w for w in run.warnings)
    assert run.facts["num_classes"] == 10 and run.facts["event_files"] == 2


def test_registered_and_sniffed():
    fmt = registry.formats()["tensorboard"]
    assert fmt.directory
    assert fmt.sniff(REAL_MAIN, REAL_MAIN.read_bytes()[:4096]) == 1.0
    assert fmt.sniff(REAL_RUN, b"") == 0.9
    assert fmt.sniff(Path("metrics.csv"), b"step,loss\n0,1.0\n") == 0.0
    run = fmt.read(REAL_RUN, registry.ReadOptions())
    assert run.format == "tensorboard" and run.get("val_loss") is not None


def test_single_file_reads_without_its_folder_mates():
    run = tb.read(REAL_MAIN)
    assert len(run.get("val_loss")) == 5 and not run.warnings


# -- files written by SummaryWriter -------------------------------------------------------------

def test_torch_writer_file_matches_eventaccumulator(torch_file):
    expected = oracle(torch_file)
    got = ours(torch_file)
    assert same(got, expected)
    # tensor-stored scalars (new_style, float and double) are there, skipped records are not
    assert {"lr", "x_double", "train/loss", "big_step/loss", "edge/negative_step"} <= got.keys()
    assert not {"weights", "sample", "note", "beep", "pr"} & got.keys()
    assert got["edge/negative_step"] == [(-5, 0.5)]
    assert got["edge/step_zero"] == [(0, 0.25)]
    assert [s for s, _ in got["edge/varint"]] == [1, 127, 128, 16383, 16384, 2097151, 2097152, 2**40]
    assert got["x_double"][1] == (1, 1 / 3 + 1)  # double precision kept exactly


@pytest.mark.parametrize("verify", [True, False])
def test_same_result_with_and_without_data_crc(torch_file, verify, monkeypatch):
    monkeypatch.setattr(tb, "_CRC_FAST", None)  # the pure-Python CRC-32C
    assert same(ours(torch_file, verify=verify), oracle(torch_file))


def test_verify_env_switch(torch_file, tmp_path, monkeypatch):
    data = bytearray(torch_file.read_bytes())
    ends = [off + 12 + struct.unpack_from("<Q", data, off)[0] for off in record_offsets(bytes(data))]
    end = next(e for e in ends[len(ends) // 2:] if data[e - 5] == 0x15)  # a record ending in simple_value
    data[end - 1] ^= 0x01  # the float's sign/exponent byte: still a float, a wrong one
    bad = tmp_path / "events.out.tfevents.9.flipped"
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("REGADVISOR_TB_VERIFY", "1")
    with pytest.raises(LogReadError, match="data CRC mismatch"):
        tb.read_event_file(bad)
    monkeypatch.setenv("REGADVISOR_TB_VERIFY", "0")
    tb.read_event_file(bad)  # the damage is inside a value that still decodes: read as is


def test_small_chunks_and_skipped_big_records(torch_file, monkeypatch):
    # Every record crosses a buffer boundary; the graph and images are skipped by seeking.
    monkeypatch.setattr(tb, "_CHUNK", 64)
    monkeypatch.setattr(tb, "_SKIP_UNREAD", 100)
    assert same(ours(torch_file), oracle(torch_file))


def test_torch_run_canonical_names(torch_file):
    run = tb.read(torch_file.parent)
    assert len(run.get("train_loss")) == 60 and len(run.get("val_loss")) == 6
    assert len(run.get("learning_rate")) == 60
    assert any("NaN/inf" in w for w in run.warnings)


# -- TF2 tensor scalars and Keras folders -------------------------------------------------------

@pytest.mark.parametrize("metadata", ["every", "first"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_tf2_tensor_scalars_match_eventaccumulator(tmp_path, dtype, metadata):
    pts = {"epoch_loss": [(s, 1.0 / (s + 1) if dtype != "int64" else 100 - s) for s in range(30)],
           "epoch_accuracy": [(s, s / 30 if dtype != "int64" else s) for s in range(30)]}
    path = write_tf2_style(tmp_path, pts, dtype=dtype, metadata=metadata)
    expected = oracle(path)
    assert set(expected) == {"epoch_loss", "epoch_accuracy"}  # EventAccumulator.Scalars() alone has none
    assert same(ours(path), expected)


def test_tensor_make_tensor_proto_float_val(tmp_path):
    # tensorboard's own make_tensor_proto writes float_val / int64_val instead of tensor_content
    writer = EventFileWriter(str(tmp_path))
    for step in range(5):
        for tag, value in (("f", np.float32(step / 7)), ("i", np.int64(-step)), ("h", np.float16(step / 4)),
                           ("d", np.float64(step / 3)), ("b", np.bool_(step % 2)), ("i32", np.int32(-step))):
            val = summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(value))
            val.metadata.CopyFrom(scalar_metadata.create_summary_metadata(display_name=tag, description=""))
            writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[val])))
    writer.close()
    path = event_file(tmp_path)
    assert same(ours(path), oracle(path))
    assert ours(path)["i"][-1] == (4, -4.0)


def test_keras_train_and_validation_folders(tmp_path):
    t0 = time.time() - 100
    write_tf2_style(tmp_path / "train", {"epoch_loss": [(e, 1.0 - e / 10) for e in range(8)],
                                         "epoch_accuracy": [(e, 0.5 + e / 20) for e in range(8)]}, start=t0)
    write_tf2_style(tmp_path / "validation", {"epoch_loss": [(e, 0.9 - e / 20 + (e > 4) * e / 10) for e in range(8)],
                                              "epoch_accuracy": [(e, 0.5 + e / 40) for e in range(8)],
                                              "evaluation_loss_vs_iterations": [(e * 100, 0.5) for e in range(8)]},
                    start=t0 + 1)
    run = tb.read(tmp_path)
    assert run.get("train_loss").original_name == "train/epoch_loss"
    assert run.get("val_loss").original_name == "validation/epoch_loss"
    assert list(run.get("train_loss").values) == pytest.approx([1.0 - e / 10 for e in range(8)])
    assert list(run.get("val_loss").values) == pytest.approx([0.9 - e / 20 + (e > 4) * e / 10 for e in range(8)])
    assert len(run.get("val_acc")) == 8 and len(run.get("train_acc")) == 8
    assert not any("post-fit" in w for w in run.warnings)  # validation ran alongside training


def test_keras_folders_are_one_run_for_read_log(tmp_path):
    from regadvisor.logs.read import find_runs, read_log

    logs = tmp_path / "logs"
    write_tf2_style(logs / "train", {"epoch_loss": [(e, 1.0 - e / 10) for e in range(4)]})
    write_tf2_style(logs / "validation", {"epoch_loss": [(e, 0.9) for e in range(4)]})
    assert find_runs(tmp_path) == [logs]
    run = read_log(logs)
    assert run.format == "tensorboard" and len(run.get("val_loss")) == 4 and len(run.get("train_loss")) == 4
    assert len(read_log(logs / "train", fmt="tensorboard").get("train_loss")) == 4


def test_add_hparams_subfolder_is_part_of_its_run(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    from regadvisor.logs.read import find_runs, read_log

    w = SummaryWriter(str(tmp_path / "run"))
    for s in range(5):
        w.add_scalar("train/loss", 1 / (s + 1), s)
    w.add_hparams({"lr": 0.1}, {"hparam/loss": 0.2}, run_name="hp")
    w.close()
    assert find_runs(tmp_path) == [tmp_path / "run"]
    run = read_log(tmp_path / "run")
    assert len(run.get("train_loss")) == 5
    assert any("ignored other runs" in w and "hp" in w for w in run.warnings)
    assert run.facts["learning_rate"] == 0.1  # the sub-folder's hparams are the run's


def test_keras_alias_spellings():
    assert canonical_name("validation/epoch_loss").canonical == "val_loss"
    assert canonical_name("train/epoch_loss").canonical == "train_loss"
    assert canonical_name("validation/epoch_accuracy").canonical == "val_acc"
    assert canonical_name("epoch_time").canonical == "epoch_time"  # only known metrics lose the word


# -- several files in one run ------------------------------------------------------------------

def test_restart_replaces_relogged_steps(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    first = SummaryWriter(str(tmp_path))
    for s in range(10):
        first.add_scalar("train/loss", 10 - s, s)
    first.close()
    time.sleep(0.05)
    second = SummaryWriter(str(tmp_path))  # resumed from the checkpoint of step 5
    for s in range(5, 15):
        second.add_scalar("train/loss", 100 - s, s)
    second.close()
    run = tb.read(tmp_path)
    loss = run.get("train_loss")
    assert list(loss.steps) == list(range(15))
    assert list(loss.values) == [10 - s for s in range(5)] + [100 - s for s in range(5, 15)]
    assert any("restart" in w for w in run.warnings)


def test_postfit_validate_file_is_set_aside(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    fit = SummaryWriter(str(tmp_path))
    for s in range(0, 101, 10):
        fit.add_scalar("train_loss", 1 / (s + 1), s)
        fit.add_scalar("val_loss", 0.5 + s / 1000, s)
    fit.close()
    time.sleep(0.05)
    validate = SummaryWriter(str(tmp_path))
    validate.add_scalar("val_loss", 0.123, 100)
    validate.close()
    run = tb.read(tmp_path)
    assert len(run.get("val_loss")) == 11 and 0.123 not in list(run.get("val_loss").values)
    assert any("post-fit" in w and "val_loss=0.123" in w for w in run.warnings)


def test_folder_of_several_runs_is_refused(tmp_path):
    for version in ("version_0", "version_1"):
        write_tf2_style(tmp_path / version, {"loss": [(0, 1.0)]})
    with pytest.raises(LogReadError, match="2 runs"):
        tb.read(tmp_path)


def test_hparams_become_facts(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    w.add_hparams({"lr": 0.01, "batch_size": 16, "optim": "AdamW", "nesterov": True}, {"hparam/val_loss": 0.3},
                  run_name="hp")
    w.close()
    run = tb.read(tmp_path / "hp")
    assert run.facts["learning_rate"] == 0.01 and run.facts["batch_size"] == 16
    assert run.facts["optimizer"] == "adamw" and run.facts["nesterov"] == 1  # torch logs bools as numbers


# -- damaged and wrong inputs --------------------------------------------------------------------

def test_flipped_data_byte_is_a_crc_error_with_offset(torch_file, tmp_path, monkeypatch):
    data = bytearray(torch_file.read_bytes())
    offsets = record_offsets(bytes(data))
    k = len(offsets) // 2
    data[offsets[k] + 12 + 12] ^= 0x01  # inside the record's Event payload
    bad = tmp_path / "events.out.tfevents.1.flipped"
    bad.write_bytes(bytes(data))
    for crc in (tb._CRC_FAST, None):  # the C and the pure-Python CRC-32C
        monkeypatch.setattr(tb, "_CRC_FAST", crc)
        with pytest.raises(LogReadError, match=rf"data CRC mismatch in the record at byte {offsets[k]}\b") as info:
            tb.read_event_file(bad, verify=True)
        assert str(bad) in str(info.value)


def test_flipped_structure_byte_is_reported_even_without_data_crc(tmp_path):
    # a damaged length inside the Event no longer decodes; the CRC then says why
    path = write_tf2_style(tmp_path / "run", {"loss": [(s, 1.0) for s in range(20)]})
    data = bytearray(path.read_bytes())
    offsets = record_offsets(bytes(data))
    data[offsets[10] + 12 + 9 + 2 + 1] ^= 0x40  # the summary's length varint
    path.write_bytes(bytes(data))
    with pytest.raises(LogReadError, match=rf"byte {offsets[10]}\b"):
        tb.read_event_file(path, verify=False)


def test_flipped_length_is_a_header_error(torch_file, tmp_path):
    data = bytearray(torch_file.read_bytes())
    offsets = record_offsets(bytes(data))
    data[offsets[7] + 1] ^= 0x10
    bad = tmp_path / "events.out.tfevents.2.len"
    bad.write_bytes(bytes(data))
    with pytest.raises(LogReadError, match=rf"header CRC mismatch in the record at byte {offsets[7]}\b"):
        tb.read(bad)


@pytest.mark.parametrize("cut", [5, 20], ids=["in-header", "in-payload"])
def test_truncated_tail_reads_the_valid_prefix_with_a_warning(torch_file, tmp_path, cut):
    data = torch_file.read_bytes()
    last = record_offsets(data)[-3]
    short = tmp_path / "events.out.tfevents.3.short"
    short.write_bytes(data[: last + cut])
    ef = tb.read_event_file(short)
    assert ef.warnings and "incomplete" in ef.warnings[0]
    assert same(ours(short), oracle(short))
    run = tb.read(short)
    assert any("incomplete" in w for w in run.warnings)


def test_zero_length_file(tmp_path):
    empty = tmp_path / "events.out.tfevents.4.empty"
    empty.write_bytes(b"")
    with pytest.raises(LogReadError, match="empty"):
        tb.read(empty)


def test_empty_file_beside_others_is_skipped_with_a_warning(tmp_path):
    run_dir = tmp_path / "version_0"
    run_dir.mkdir()
    for f in REAL_RUN.iterdir():
        (run_dir / f.name).write_bytes(f.read_bytes())
    (run_dir / "events.out.tfevents.1785441999.host.1.5").write_bytes(b"")  # a writer that just started
    run = tb.read(run_dir)
    assert len(run.get("val_loss")) == 5
    assert any("1785441999" in w and "empty" in w for w in run.warnings)


def test_wrong_magic(tmp_path):
    csv = tmp_path / "events.out.tfevents.5.csv"
    csv.write_text("step,loss\n0,1.0\n1,0.5\n")
    with pytest.raises(LogReadError, match="not a TensorBoard event file"):
        tb.read(csv)


def test_random_garbage(tmp_path):
    junk = tmp_path / "events.out.tfevents.6.junk"
    junk.write_bytes(random.Random(0).randbytes(10_000))
    with pytest.raises(LogReadError, match="not a TensorBoard event file"):
        tb.read(junk)


def test_shorter_than_one_record(tmp_path):
    tiny = tmp_path / "events.out.tfevents.7.tiny"
    tiny.write_bytes(REAL_MAIN.read_bytes()[:30])
    with pytest.raises(LogReadError, match="no complete record"):
        tb.read(tiny)


def test_folder_without_event_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LogReadError, match="no TensorBoard event files"):
        tb.read(tmp_path)


def test_every_cut_and_every_flipped_byte_is_a_clear_outcome(tmp_path):
    """No damage to the real file ever escapes as anything but a LogReadError or a warning."""
    data = REAL_MAIN.read_bytes()
    path = tmp_path / "events.out.tfevents.8.fuzz"
    outcomes = set()
    for i in range(len(data)):
        for variant in (data[:i], data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:]):
            path.write_bytes(variant)
            for verify in (True, False):
                try:
                    tb.read_event_file(path, verify=verify)
                    outcomes.add("read")
                except UserError:
                    outcomes.add("error")
    assert outcomes == {"read", "error"}


def test_no_tensorboard_import_at_runtime():
    import subprocess
    import sys

    code = ("import sys; from regadvisor.logs import tensorboard as tb; tb.read(sys.argv[1]); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorboard', 'tensorflow', 'google', 'numpy')]; "
            "print(bad); assert not bad, bad")
    env = dict(os.environ, PYTHONPATH=str(Path(tb.__file__).parents[2]))
    subprocess.run([sys.executable, "-c", code, str(REAL_RUN)], check=True, env=env)
