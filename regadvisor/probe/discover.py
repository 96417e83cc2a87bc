"""Import a probe script by path and call its functions safely.

The probe script contract (a fixed interface, docs/ARCHITECTURE.md): a Python file defining
``build_model(**knobs)`` and ``build_data()`` (required), and optionally ``build_optimizer(params, **knobs)`` and
``loss_fn(outputs, targets)``.

Everything that can go wrong on the user's side (the file is missing, does not import, lacks a
required function, or raises inside one) becomes a :class:`~regadvisor.errors.ScriptError`
whose message names the script and quotes the user's own traceback frames only. Frames from
torch, regadvisor or the standard library are dropped: the user cannot act on them, and the
CLI prints the message and exits 2 without a Python traceback.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import inspect
import linecache
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import ScriptError

REQUIRED = ("build_model", "build_data")
OPTIONAL = ("build_optimizer", "loss_fn")
MAX_FRAMES = 8


@dataclass
class ProbeScript:
    """A loaded probe script: its path, module and the contract functions it defines."""

    path: Path
    module: ModuleType
    build_model: Callable[..., Any]
    build_data: Callable[[], Any]
    build_optimizer: Callable[..., Any] | None = None
    loss_fn: Callable[[Any, Any], Any] | None = None
    epochs: int | None = None
    """The script's ``EPOCHS``: how many epochs the user really trains (``None`` when not set)."""

    @property
    def name(self) -> str:
        return self.path.name

    def call(self, fn: Callable[..., Any], *args: Any, what: str | None = None, **kwargs: Any) -> Any:
        """Call one of the user's functions, turning any exception into a :class:`ScriptError`.

        ``sys.exit()`` inside one is an error too: left alone, ``sys.exit(0)`` in
        ``build_model`` would end regadvisor with exit code 0 and no report, a silent pass in CI.
        """
        try:
            with threads_as_daemons():
                return fn(*args, **kwargs)
        except (KeyboardInterrupt, ScriptError):
            raise
        except (Exception, SystemExit) as exc:
            raise script_error(self.path, exc, what or str(getattr(fn, "__name__", "script code"))) from exc


@contextlib.contextmanager
def threads_as_daemons() -> Iterator[None]:
    """Threads the script starts while the block runs are daemon threads.

    Python waits for every non-daemon thread before it exits, so a script that starts one (a
    prefetcher, a logger, ``Thread(target=time.sleep, args=(25,))``) held regadvisor's exit by
    as long as the thread ran, after the report was written. ``Thread.start`` is wrapped for the
    duration only (nested blocks leave the outer wrapper in place).
    """
    original = threading.Thread.start
    if getattr(original, "_regadvisor_daemons", False):
        yield
        return

    def start(thread: threading.Thread) -> None:
        if not thread.daemon:
            thread.daemon = True
        original(thread)

    start._regadvisor_daemons = True  # type: ignore[attr-defined]
    threading.Thread.start = start  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]


def _is_user_frame(filename: str, script: Path) -> bool:
    """A frame is the user's when it is the script itself or a file beside it (not a venv).

    ``<frozen importlib._bootstrap>`` and ``<string>`` are not files: resolved as paths they
    would land in the working directory, often the script's own folder."""
    if filename.startswith("<"):
        return False
    try:
        f = Path(filename).resolve()
    except (OSError, ValueError):
        return False
    if f == script:
        return True
    parts = set(f.parts)
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return script.parent in f.parents


def user_traceback(exc: BaseException, script: Path) -> list[str]:
    """The traceback of ``exc`` restricted to frames in the user's files, one line per frame.

    Each line reads ``file.py:LINE in FUNC: source text``. A ``SyntaxError`` in the script gets
    its location from the exception itself (it has no frame in the script). At most
    ``MAX_FRAMES`` of the innermost frames are kept. Chained exceptions (``raise ... from``)
    contribute their user frames too, outermost first.
    """
    script = script.resolve()
    lines: list[str] = []
    chain: list[BaseException] = []
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        chain.append(cur)
        cur = cur.__cause__ or (None if cur.__suppress_context__ else cur.__context__)
    for item in reversed(chain):
        for fs in traceback.extract_tb(item.__traceback__):
            if _is_user_frame(fs.filename, script):
                text = (fs.line or linecache.getline(fs.filename, fs.lineno or 0)).strip()
                lines.append(f"{Path(fs.filename).name}:{fs.lineno} in {fs.name}: {text}")
        if isinstance(item, SyntaxError) and item.filename and _is_user_frame(item.filename, script):
            text = (item.text or "").strip()
            lines.append(f"{Path(item.filename).name}:{item.lineno}: {text}")
    return lines[-MAX_FRAMES:]


def script_error(script: Path, exc: BaseException, what: str) -> ScriptError:
    """A :class:`ScriptError` for ``exc`` raised while running ``what`` from ``script``."""
    frames = user_traceback(exc, script)
    body = "\n".join("  " + line for line in frames) if frames else \
        f"  (raised outside {script.name}: no line of the script is in the traceback)"
    if isinstance(exc, SystemExit):
        return ScriptError(f"{what} called sys.exit({exc.code!r})\n{body}", source=script,
                           hint="a probe script is imported and its functions called: they must return, not exit; "
                                "keep code that exits (argument parsing, a training run) under "
                                "`if __name__ == '__main__':`")
    head = f"{type(exc).__name__}: {exc}".strip()
    return ScriptError(f"{what} raised {head}\n{body}", source=script)


def _module_name(path: Path) -> str:
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"_regadvisor_probe_{stem}_{digest}"


@contextlib.contextmanager
def script_importable(path: Path) -> Iterator[None]:
    """Put the script's folder first on ``sys.path`` while the block runs; remove it after.

    Only the entry this function inserted is removed, so a folder the user already had on the
    path stays where it was.
    """
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        for i, entry in enumerate(sys.path):
            if entry == folder:
                del sys.path[i]
                break


def check_file(path: str | os.PathLike[str]) -> Path:
    """``path`` resolved, when it is a file regadvisor can probe; a :class:`ScriptError` otherwise."""
    p = Path(path)
    if not os.path.exists(p):  # os.path: a name too long for the file system is not there either
        raise ScriptError("probe script not found", source=p, hint="pass the path to a .py file")
    if not os.path.isfile(p):
        raise ScriptError("probe script is not a file", source=p, hint="pass the path to a .py file")
    return p.resolve()


def _top_level_names(body: list[ast.stmt]) -> set[str]:
    """Names a module body binds at import: defs, classes, assignments and imports, also inside
    top-level ``if``/``try``/``with`` blocks (``if TYPE_CHECKING``, ``try: import x``)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.AsyncWith)):
            for block in ("body", "orelse", "finalbody"):
                names |= _top_level_names(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                names |= _top_level_names(handler.body)
    return names


def defines_contract(path: str | os.PathLike[str]) -> bool:
    """Whether the script at ``path`` defines the probe contract (``build_model`` and
    ``build_data`` at module level), read from its source without running it.

    The decision comes before anything of the script runs: a script without the contract is run
    once, as the program it is (:mod:`regadvisor.probe.program`), not imported first, so its
    top-level training does not run twice and its argument errors are not taken for
    regadvisor's. A file that is not Python is refused with the line that does not parse.
    """
    p = check_file(path)
    try:
        source = p.read_bytes()
    except OSError as exc:
        raise ScriptError(f"cannot be read ({exc.strerror or exc})", source=p) from exc
    try:
        tree = ast.parse(source, filename=str(p))
    except (SyntaxError, ValueError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
        text = (exc.text or "").strip() if isinstance(exc, SyntaxError) else ""
        raise ScriptError(f"is not valid Python{where}: {getattr(exc, 'msg', exc)}" + (f": {text}" if text else ""),
                          source=p, hint="pass a Python training script") from exc
    return set(REQUIRED) <= _top_level_names(tree.body)


def load_script(path: str | os.PathLike[str]) -> ProbeScript:
    """Import the probe script at ``path`` and look up the contract functions.

    The module is registered in ``sys.modules`` under a private name while it executes (so
    dataclasses and pickling inside it work); :func:`unload_script` removes it. Call this inside
    :func:`script_importable` so that the script's own sibling imports resolve.
    """
    p = check_file(path)
    name = _module_name(p)
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise ScriptError("cannot be imported as a Python module", source=p, hint="use a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with threads_as_daemons():
            spec.loader.exec_module(module)
    except KeyboardInterrupt:
        sys.modules.pop(name, None)
        raise
    except BaseException as exc:  # SystemExit too: sys.exit("msg") at import would exit 1
        sys.modules.pop(name, None)
        raise script_error(p, exc, "importing the script") from exc
    fns: dict[str, Any] = {}
    for fname in REQUIRED + OPTIONAL:
        obj = getattr(module, fname, None)
        if obj is not None and not callable(obj):
            sys.modules.pop(name, None)
            raise ScriptError(f"{fname} is not a function", source=p, hint="see the probe script contract")
        fns[fname] = obj
    epochs = getattr(module, "EPOCHS", None)
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        sys.modules.pop(name, None)
        raise ScriptError(f"EPOCHS = {epochs!r} is not a positive whole number", source=p,
                          hint="EPOCHS is how many epochs you really train, e.g. EPOCHS = 100")
    missing = [f for f in REQUIRED if fns[f] is None]
    if missing:
        sys.modules.pop(name, None)
        defined = ", ".join(f"{f}()" for f in missing)
        raise ScriptError(
            f"missing required function{'s' if len(missing) > 1 else ''} {defined}",
            source=p,
            hint="a probe script defines build_model(**knobs) and build_data() returning "
            "(train_batches, val_batches); build_optimizer(params, **knobs) and loss_fn(outputs, targets) are optional",
        )
    return ProbeScript(path=p, module=module, epochs=epochs, **fns)


def unload_script(script: ProbeScript) -> None:
    """Forget the script's module (undo the ``sys.modules`` entry made by :func:`load_script`)."""
    if sys.modules.get(script.module.__name__) is script.module:
        del sys.modules[script.module.__name__]


def accepted_kwargs(fn: Callable[..., Any], wanted: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``wanted`` into the keyword arguments ``fn`` accepts and those it does not.

    A parameter accepts a knob when the signature names it as keyword-capable
    (positional-or-keyword or keyword-only); a ``**kwargs`` parameter accepts every knob. When
    the signature cannot be read (some builtins), nothing is passed.
    """
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}, dict(wanted)
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(wanted), {}
    names = {
        p.name for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    yes = {k: v for k, v in wanted.items() if k in names}
    no = {k: v for k, v in wanted.items() if k not in names}
    return yes, no


def format_call(fn_name: str, kwargs: dict[str, Any], first: str | None = None) -> str:
    """``build_model(dropout=0.3)``-style text for the ``knobs_applied`` facts."""
    args = ([first] if first else []) + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{fn_name}({', '.join(args)})"
