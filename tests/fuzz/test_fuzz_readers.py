"""Every reader on hostile inputs: a run, or a UserError naming the file, and nothing else.

Each registered format has a layout here: how to build one hostile input of it (a file, a
folder, a database or a server) from a valid seed. The input is then read forced to its format,
auto-detected, and searched as a folder; a run that comes back is analysed and rendered as JSON
(the signals must cope with whatever the reader accepted). Any other exception fails the test
with the shrunk input that raised it. See _settings.py for how long this runs.
"""

from __future__ import annotations

import functools
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from hypothesis import event, given
from hypothesis import strategies as st

from regadvisor.errors import UserError
from regadvisor.logs.read import detect, find_runs, read_log, read_runs
from regadvisor.logs.registry import formats
from regadvisor.render import json as render_json

from . import _seeds as seeds
from . import _strategies as hs
from ._render import analyze
from ._server import RUN_ID, Answer, ScriptedServer, mlflow_answers
from ._settings import fuzz

Layout = Callable[[st.DataObject, Path], Path]


def _file(name: str, seed: str, sidecar: tuple[str, str] | None = None) -> Layout:
    """A mutated ``seed`` saved as ``name``, with a mutated side file beside it half the time."""
    def build(data: st.DataObject, folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data.draw(hs.text_of(seed)))
        if sidecar is not None and data.draw(st.booleans()):
            (folder / sidecar[0]).write_bytes(data.draw(hs.text_of(sidecar[1])))
        return path
    return build


def _tensorboard(data: st.DataObject, folder: Path) -> Path:
    run = folder / "version_0"
    for i in range(data.draw(st.integers(1, 2))):
        sub = run / data.draw(st.sampled_from(["", "train", "validation"]))
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"events.out.tfevents.{1700000000 + i}.host").write_bytes(data.draw(hs.tb_file()))
    return run if data.draw(st.booleans()) else next(run.rglob("events.out.tfevents.*"))


def _wandb_log(data: st.DataObject, folder: Path) -> Path:
    path = folder / "run-abc.wandb"
    path.write_bytes(data.draw(hs.wandb_file()))
    return path


def _wandb_folder(data: st.DataObject, folder: Path) -> Path:
    run = folder / "wandb" / "offline-run-20250101_000000-abc"
    (run / "files").mkdir(parents=True)
    if data.draw(st.booleans()):
        (run / "run-abc.wandb").write_bytes(data.draw(hs.wandb_file()))
    if data.draw(st.booleans()):
        (run / "files" / "config.yaml").write_bytes(data.draw(hs.text_of("lr:\n  value: 0.001\n_wandb:\n  value: {}\n")))
    if data.draw(st.booleans()):
        (run / "files" / "wandb-summary.json").write_bytes(data.draw(hs.text_of('{"loss": 0.5, "val_loss": 0.6}')))
    if data.draw(st.booleans()):
        (run / "wandb-history.jsonl").write_bytes(data.draw(hs.text_of(seeds.WANDB_HISTORY)))
    return run if data.draw(st.booleans()) else folder


def _mlflow_store(data: st.DataObject, folder: Path) -> Path:
    text = st.one_of(hs.HOSTILE_TEXT, st.just("0.001"))
    run = seeds.mlflow_run_dir(
        folder,
        meta=data.draw(hs.text_of("run_id: abc123\nrun_name: demo\nstatus: 3\nstart_time: 1700000000000\n"
                                  "lifecycle_stage: active\n")).decode("utf-8", "replace"),
        metrics={key: data.draw(hs.text_of("".join(f"1700000000000 {1 / (s + 1)} {s}\n" for s in range(6))))
                 .decode("utf-8", "replace") for key in data.draw(st.sets(st.sampled_from(
                     ["train_loss", "val_loss", "epoch", "nested/val_acc"]), max_size=4))},
        params={"lr": data.draw(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")})
    return data.draw(st.sampled_from([run, folder, folder / "mlruns", run.parent]))


@functools.cache
def _valid_db() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return seeds.mlflow_db(Path(tmp) / "mlflow.db").read_bytes()


def _mlflow_db(data: st.DataObject, folder: Path) -> Path:
    db = folder / "mlflow.db"
    if data.draw(st.booleans()):
        seeds.mlflow_db(db, **data.draw(hs.mlflow_rows()))
    else:
        db.write_bytes(data.draw(hs.mutated(_valid_db(), max_ops=3)))
    return Path(f"{db}#{data.draw(st.sampled_from(['r1', 'r2', 'demo', '']))}") if data.draw(st.booleans()) else db


FILE_LAYOUTS: dict[str, Layout] = {
    "lightning": _file("metrics.csv", seeds.LIGHTNING_CSV, ("hparams.yaml", seeds.HPARAMS)),
    "keras": _file("training.log", seeds.KERAS_CSV),
    "fastai": _file("history.csv", seeds.FASTAI_CSV),
    "yolo": _file("results.csv", seeds.YOLO_CSV, ("args.yaml", "lr0: 0.01\nbatch: 16\noptimizer: SGD\n")),
    "csv": _file("log.csv", seeds.GENERIC_CSV),
    "hf": _file("trainer_state.json", seeds.HF_STATE, ("config.json", '{"hidden_dropout_prob": 0.1, "num_labels": 3}')),
    "json": _file("history.json", seeds.KERAS_JSON),
    "jsonl": _file("metrics.jsonl", seeds.JSONL, ("hparams.yaml", seeds.HPARAMS)),
    "text": _file("train.log", seeds.TEXT_LOG),
    "wandb-history": _file("wandb-history.jsonl", seeds.WANDB_HISTORY, ("config.yaml", "lr:\n  value: 0.001\n")),
    "wandb-csv": _file("export.csv", seeds.WANDB_CHART),
    "tensorboard": _tensorboard,
    "wandb-log": _wandb_log,
    "wandb": _wandb_folder,
    "mlflow": _mlflow_store,
    "mlflow-sqlite": _mlflow_db,
}
SERVER_FORMAT = "mlflow-server"


def check_run(run) -> None:
    """A run that was read is well-typed, and analysis and the JSON renderer accept it."""
    for name, series in run.series.items():
        assert isinstance(name, str) and len(series.values) == len(series.steps) == len(series.epochs)
    json.loads(render_json.render(analyze([run])[0]))


def read_every_way(path: Path, fmt: str) -> None:
    """Forced to ``fmt``, auto-detected, and searched: each a run or a UserError."""
    for forced, how in ((fmt, "forced"), (None, "detected")):
        try:
            check_run(read_log(path, forced))
            event(f"{how}: a run")
        except UserError as exc:
            event(f"{how}: {type(exc).__name__}")
    try:
        detect(path)
    except UserError:
        pass
    try:
        found = find_runs(path if path.is_dir() else path.parent)
    except UserError:
        return
    for run in found[:3]:
        try:
            check_run(read_log(run))
        except UserError:
            pass


def test_every_registered_format_is_fuzzed():
    assert set(formats()) == set(FILE_LAYOUTS) | {SERVER_FORMAT}


@pytest.mark.parametrize("fmt", sorted(FILE_LAYOUTS))
@fuzz()
@given(data=st.data())
def test_reader_survives_hostile_inputs(fmt, data):
    with tempfile.TemporaryDirectory() as tmp:
        read_every_way(FILE_LAYOUTS[fmt](data, Path(tmp)), fmt)


@fuzz()
@given(name=st.sampled_from(["metrics.csv", "events.out.tfevents.1.h", "run-x.wandb", "mlflow.db", "x.jsonl",
                             "trainer_state.json", "export.csv", "results.csv", "wandb-history.jsonl", "a.txt",
                             "x#y", "meta.yaml"]),
       head=st.one_of(st.binary(max_size=300), st.sampled_from(hs.TOKENS), hs.text_of(seeds.LIGHTNING_CSV),
                      st.just(b"SQLite format 3\x00" + bytes(200)), st.just(seeds.WANDB_HEADER + bytes(50))))
def test_sniffing_any_bytes_under_any_name_never_raises_other_errors(name, head):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(head)
        read_every_way(path, "csv")


# --------------------------------------------------------------------------- the server reader

_TRUTH = mlflow_answers()
_ANSWER_PLAN = st.tuples(
    st.integers(0, 5),
    st.sampled_from([200, 204, 301, 302, 304, 400, 401, 404, 500, 503]),
    st.sampled_from(["/", "http://127.0.0.2:1/x", "//evil/x", "", "http://user:pw@127.0.0.1:1/"]),
    st.sampled_from([0, 1, 10**12, -5]),
    st.sampled_from([b"", b"HTTP/1.1 200\r\n", b"garbage\r\n\r\n", b"HTTP/9 x y\r\n\r\n{}",
                     b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 200 + b"\r\n{}"]),
    hs.mutations(4),
)


def server_answer(plan, request) -> Answer:
    """The truthful answer, or one with a changed status, a lying length, a mutated body, a
    redirect or a broken status line, as ``plan`` (drawn before the server ran) says."""
    kind, status, location, length, raw, edits = plan
    truthful = _TRUTH(request)
    if kind == 1:
        return Answer(status, hs.apply(edits, truthful.body), {"Location": location})
    if kind == 2:
        return Answer(truthful.status, truthful.body, content_length=length)
    if kind == 3:
        return Answer(raw=raw)
    if kind == 4:
        return Answer(truthful.status, hs.apply(edits, truthful.body))
    return truthful


@fuzz()
@given(st.lists(_ANSWER_PLAN, min_size=1, max_size=8), st.sampled_from([RUN_ID, "0/demo", "exp/twin", "exp", "exp/"]))
def test_server_reader_survives_hostile_answers(plans, address):
    answers = iter(plans)
    with ScriptedServer(lambda request: server_answer(next(answers, (0,) * 6), request)) as server:
        try:
            for run in read_runs(f"mlflow://127.0.0.1:{server.port}/{address}"):  # an experiment's too
                check_run(run)
            event("a run")
        except UserError as exc:
            event(type(exc).__name__)
