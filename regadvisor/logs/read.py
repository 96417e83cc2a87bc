"""The one entrance for logs: :func:`read_log` (auto-detecting the format) and :func:`find_runs`.

Detection asks every registered format to score the path and its first 64 KiB (see
:class:`~regadvisor.logs.registry.LogFormat`) and takes the best score, so adding a format is
adding a module, never editing a chain of ``if`` tests here. A folder is searched for the logs
frameworks leave behind (``lightning_logs/version_0/metrics.csv``, ``checkpoint-500/
trainer_state.json``, a TensorBoard run folder, ...).
"""

from __future__ import annotations

import csv
import glob
import os
import re
from pathlib import Path

from ..errors import ConfigError, LogReadError
from ..files import is_uri, refuse_special
from ..model import Run
from ._io import read_head, require_content, require_metrics
from .registry import LogFormat, ReadOptions, formats, split_address

RUN_SCORE = 0.4
"""A file inside a searched folder counts as a run only when some format is at least this sure:
generic CSV/JSON/text score below it, so a folder's ``config.json`` or ``notes.txt`` is not a run."""

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox", ".mypy_cache",
              ".pytest_cache", "site-packages", "wandb-artifacts"}
_MAX_DEPTH = 6
# Source, documentation, config and weight files: never a log, though a README may quote metrics.
_NOT_LOGS = {".md", ".rst", ".py", ".ipynb", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".html", ".sh",
             ".pt", ".pth", ".ckpt", ".safetensors", ".bin", ".onnx", ".h5", ".hdf5", ".pkl", ".pickle",
             ".npy", ".npz", ".parquet", ".arrow", ".tar", ".gz", ".zip", ".png", ".jpg", ".jpeg", ".gif", ".webp"}
_DOCUMENTS = {".md": "a Markdown document", ".rst": "a reStructuredText document", ".html": "an HTML page",
              ".htm": "an HTML page", ".tex": "a LaTeX document", ".ipynb": "a Jupyter notebook",
              ".py": "Python source", ".sh": "a shell script"}
"""Prose and code given as a log: their sample numbers (a README quoting a report) are not a run."""
_MAX_FILES = 20_000
"""Folder search gives up beyond this many candidate files: a home directory is not a run folder."""
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _best(path: Path, head: bytes, candidates: list[LogFormat]) -> tuple[float, LogFormat | None]:
    """The most confident format; ties go to the earlier-registered one (deterministic)."""
    best: tuple[float, LogFormat | None] = (0.0, None)
    for fmt in candidates:
        try:
            score = float(fmt.sniff(path, head))
        except (OSError, ValueError, UnicodeError, csv.Error, RecursionError):
            score = 0.0  # a sniffer that cannot make sense of the file: not its format
        if score > best[0]:
            best = (score, fmt)
    return best


def detect(path: Path) -> tuple[float, LogFormat | None]:
    """Score every registered format on ``path`` (a file, or a folder for folder formats)."""
    registered = list(formats().values())
    store, _ = split_address(path)
    if store.is_dir():
        return _best(path, b"", [f for f in registered if f.directory])
    return _best(path, read_head(store), registered)


def _scheme_format(path: str | Path) -> LogFormat | None:
    """The format that reads ``path`` as a URI (``mlflow://...``), if it is one."""
    text = str(path)
    if not is_uri(text):
        return None
    scheme = text.split("://", 1)[0].lower()
    for fmt in formats().values():
        if fmt.scheme == scheme:
            return fmt
    raise ConfigError(f"unknown URI scheme {scheme!r}", source=text,
                      hint="supported: " + ", ".join(f"{f.scheme}://" for f in formats().values() if f.scheme))


def _store_runs(path: Path, candidates: list[LogFormat], head: bytes) -> list[Path] | None:
    """The runs of a store (``mlflow.db``, ``mlruns/``, ``wandb/``) when a format that lists runs claims it."""
    score, fmt = _best(path, head, [f for f in candidates if f.find_runs is not None])
    if fmt is None or fmt.find_runs is None or score < RUN_SCORE:
        return None
    return fmt.find_runs(path)


def find_runs(path: str | Path) -> list[Path | str]:
    """The runs under ``path``, each a file, folder, ``store#member`` address or URI that
    :func:`read_log` can read, sorted.

    A URI or an address is itself (``mlflow://HOST:PORT/<experiment>`` too: :func:`read_runs`
    reads its runs together); a file is itself unless its format holds several runs (an
    ``mlflow.db``). In a folder, a run is a file some format recognises with confidence
    (``RUN_SCORE``) or a sub-folder a folder format claims (a TensorBoard run); a store that
    lists its own runs (``mlruns/``, ``wandb/``) is asked for them and not searched further.
    Where a folder holds both files and a folder run, its files win: they are the same run, and
    cheaper to read. HF ``checkpoint-N`` folders of one output directory are one run: the last
    checkpoint's state holds the whole history, so only it is returned.
    """
    if _scheme_format(path) is not None:
        return [str(path)]
    text = str(path)
    if not os.path.exists(text) and any(c in text for c in "*?["):
        # A quoted glob ("runs/*/metrics.csv"), as CI configs and Windows shells pass them.
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise LogReadError("matches no file", source=text, hint="check the pattern")
        return [run for match in matches for run in find_runs(match)]
    root, member = split_address(Path(path))
    _require_usable(root)
    registered = list(formats().values())
    folder_formats = [f for f in registered if f.directory]
    file_formats = [f for f in registered if not f.directory]
    if member is not None:
        return [Path(path)]
    if not root.is_dir():
        return [*(_store_runs(root, file_formats, read_head(root)) or [root])]
    runs: list[Path] = []
    examined = 0
    for folder, subdirs, files in _walk(root):
        stored = _store_runs(folder, folder_formats, b"")
        if stored is not None:
            runs.extend(stored)
            subdirs.clear()
            continue
        found = []
        for name in sorted(files):
            file = folder / name
            if file.suffix.lower() in _NOT_LOGS:
                continue
            examined += 1
            if examined > _MAX_FILES:
                raise LogReadError(f"holds more than {_MAX_FILES:,} files to examine", source=root,
                                   hint="pass the run's own folder (e.g. lightning_logs/version_0) or the log file")
            try:
                score, _ = _best(file, read_head(file), file_formats)
            except LogReadError:
                continue
            if score >= RUN_SCORE:
                found.append(file)
        if not found and folder_formats and _best(folder, b"", folder_formats)[0] >= RUN_SCORE:
            found.append(folder)
        runs.extend(found)
    return [*_one_per_checkpoint_series(_innermost(runs))]


def _require_usable(path: Path) -> None:
    """``path`` exists and is a file or folder; a FIFO or device would hang a read, and a name
    the file system refuses (longer than 255 bytes) is the user's to fix, not a crash."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: an embedded NUL byte
        raise LogReadError("does not exist", source=path, hint="check the path") from None
    except OSError as exc:
        raise LogReadError(f"cannot be used: {exc.strerror or exc}", source=path, hint="check the path") from None
    refuse_special(path, mode)


def _innermost(runs: list[Path]) -> list[Path]:
    """A folder claimed as a run (a folder format may look into sub-folders) gives way to the
    runs found inside it: those are what it would have read."""
    ancestors = {parent for run in runs for parent in run.parents}
    return [run for run in runs if run not in ancestors]


def _walk(root: Path):
    """``os.walk`` in sorted order, skipping hidden, tool and virtualenv folders, ``_MAX_DEPTH`` deep.

    Yields ``(folder, subdirs, files)``; clearing ``subdirs`` stops the descent there."""
    base = len(root.parts)
    for folder, subdirs, files in os.walk(root):
        here = Path(folder)
        subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith(".")
                            and len(here.parts) - base < _MAX_DEPTH)
        yield here, subdirs, files


def _one_per_checkpoint_series(runs: list[Path]) -> list[Path]:
    """Keep one ``trainer_state.json`` per HF output directory (see :func:`find_runs`)."""
    states: dict[Path, list[tuple[int, Path]]] = {}
    kept = []
    for run in runs:
        m = _CHECKPOINT.match(run.parent.name) if run.name == "trainer_state.json" else None
        if m:
            states.setdefault(run.parent.parent, []).append((int(m.group(1)), run))
        else:
            kept.append(run)
    for output_dir, checkpoints in states.items():
        if output_dir / "trainer_state.json" not in kept:
            kept.append(max(checkpoints)[1])
    return sorted(kept)


def read_log(path: str | Path, fmt: str | None = None, options: ReadOptions | None = None) -> Run:
    """Read one training log into a :class:`~regadvisor.model.Run`.

    ``fmt`` forces a format by name (``--log-format``); otherwise it is detected. A folder holding
    exactly one run is read as that run; one holding several is an error that lists them (the
    CLI diagnoses each through :func:`find_runs`). A file holding several runs one after another
    (an appended log) reads as its last, with the others as ``earlier``; ``FILE#K`` reads run K.
    Every failure a user can fix is a :class:`~regadvisor.errors.LogReadError` naming the file.
    """
    options = options or ReadOptions()
    by_scheme = _scheme_format(path)
    if by_scheme is not None:
        return by_scheme.read(str(path), options)  # type: ignore[arg-type]  # a URI reader takes the text
    source = Path(path)
    store, member = split_address(source)
    _require_usable(store)
    registered = formats()
    if fmt is not None:
        chosen = registered.get(fmt)
        if chosen is None:
            raise ConfigError(f"unknown log format {fmt!r}", source="--log-format",
                              hint=f"use one of {', '.join(sorted(registered))}")
        if source.is_dir() and not chosen.directory:
            source = _single_run(source, lambda p: p.is_file())
    else:
        if store.is_dir():
            source = _single_run(source, lambda p: True)
        else:
            _refuse_documents(store)
            require_content(store, read_head(store))
        _, chosen = detect(source)
        if chosen is None:
            raise LogReadError("is not a training log regadvisor recognises", source=source,
                               hint=f"pass --log-format with one of {', '.join(sorted(registered))}")
    appended = member is not None and chosen.find_runs is None  # FILE#K: run K of a file holding several
    try:
        run = chosen.read(store if appended else source, options)
    except (UnicodeError, csv.Error, ValueError, OverflowError, RecursionError) as exc:
        raise LogReadError(f"could not be read as {chosen.name}: {exc.__class__.__name__}: {exc}", source=source,
                           hint="check the file, or pass --log-format for another format") from None
    except OSError as exc:
        raise LogReadError(f"could not be read: {exc.strerror or exc}", source=source,
                           hint="check the path and its permissions") from None
    require_metrics(source, [s.original_name or k for k, s in run.series.items()], options.metric_map,
                    counted=any(s.has_steps or s.has_epochs for s in run.series.values()))
    return _one_of(run, store, member) if appended and member is not None else run


def read_runs(path: str | Path, fmt: str | None = None, options: ReadOptions | None = None) -> list[Run]:
    """Every run one target of :func:`find_runs` holds: those of a URI that names several (an
    MLflow experiment, read together), else the run :func:`read_log` reads and the runs logged
    before it in the same file."""
    by_scheme = _scheme_format(path)
    if by_scheme is not None and by_scheme.read_all is not None:
        return by_scheme.read_all(str(path), options or ReadOptions())
    run = read_log(path, fmt, options)
    return [*run.earlier, run]


def _one_of(run: Run, store: Path, member: str) -> Run:
    """Run ``member`` (counted from 1) of a file holding several one after another."""
    runs = [*run.earlier, run]
    if not member.isdigit() or not 1 <= int(member) <= len(runs):
        raise LogReadError(f"holds {len(runs)} run(s) one after another; #{member} is not one of them", source=store,
                           hint=f"address one as {store}#1" + (f" … {store}#{len(runs)}" if len(runs) > 1 else ""))
    chosen = runs[int(member) - 1]
    chosen.earlier = []
    return chosen


def _refuse_documents(path: Path) -> None:
    kind = _DOCUMENTS.get(path.suffix.lower())
    if kind is not None:
        raise LogReadError(f"is {kind}, not a training log", source=path,
                           hint="pass the log the run wrote (its saved stdout, metrics.csv, trainer_state.json, ...); "
                                "if this file really is one, read it with --log-format text")


def _single_run(folder: Path, accept) -> Path:
    runs = [Path(r) for r in find_runs(folder) if accept(r)]  # a folder's runs are paths, never URIs
    if not runs:
        raise LogReadError("holds no training log regadvisor recognises", source=folder,
                           hint="pass the log file itself (metrics.csv, trainer_state.json, ...) or --log-format")
    if len(runs) > 1:
        shown = ", ".join(str(r.relative_to(folder)) for r in runs[:10]) + (", ..." if len(runs) > 10 else "")
        raise LogReadError(f"holds {len(runs)} runs ({shown})", source=folder,
                           hint="pass one of them, or diagnose the folder to report on each")
    return runs[0]
