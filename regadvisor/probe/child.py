"""The child process of a program probe: the user's script as ``__main__``, under :mod:`.capture`.

Started by :func:`~.program.run_program` as ``python -c BOOT ROOT ADDRESS``. It connects back,
receives its instructions, makes the process look as ``python SCRIPT ARGS`` would
(``sys.argv = [SCRIPT, *ARGS]``, the script's folder first on ``sys.path``, the working directory
left as it is), installs the instruments and runs the script once with
:func:`runpy.run_path`. How the script ended is part of the result: it returned, called
``sys.exit`` (with its code), was stopped at an optimizer step (:class:`~.capture.StopTraining`),
interrupted, or raised; then its own traceback is printed from its first frame on, as Python
prints it for a script, and the exception also goes back as text. An exception raised inside
regadvisor's own code is reported as regadvisor's (``internal``), not the script's.
"""

from __future__ import annotations

import runpy
import shutil
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import ConfigError
from .discover import user_traceback
from .program import Channel, connect

PACKAGE = Path(__file__).resolve().parents[1]
MAX_LINE = 1 << 20
"""Characters of an unfinished line kept for the reader (the text reader refuses longer lines)."""


class _Tee:
    """A text stream that passes everything to ``stream`` and each finished line to ``capture``."""

    def __init__(self, stream: Any, capture: Any):
        self._stream, self._capture, self._line = stream, capture, ""

    def write(self, text: str) -> int:
        written = self._stream.write(text)
        if "\n" not in text and "\r" not in text:
            self._line = (self._line + text)[-MAX_LINE:]
            return written
        *lines, rest = (self._line + text).split("\n")
        for line in lines:
            *bars, last = line.split("\r")
            self._bars(bars)
            self._capture.output(last, bool(bars))
        *bars, self._line = rest.split("\r")
        self._bars(bars)
        return written

    def _bars(self, bars: list[str]) -> None:
        for bar in bars:  # a progress bar redrawn in place
            self._capture.output(bar, True)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _script_tb(tb: TracebackType | None, script: Path) -> TracebackType | None:
    """The traceback from the script's first frame on (runpy's and regadvisor's frames dropped)."""
    start = tb
    while start is not None and Path(start.tb_frame.f_code.co_filename) != script:
        start = start.tb_next
    return start or tb


def _innermost_is_ours(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return False
    try:
        return PACKAGE in Path(last.tb_frame.f_code.co_filename).resolve().parents
    except (OSError, ValueError):
        return False


def run_script(script: Path, capture: Any) -> dict[str, Any]:
    """Run ``script`` as ``__main__``; how it ended, as data."""
    from .capture import StopTraining

    try:
        runpy.run_path(str(script), run_name="__main__")
    except StopTraining:
        return {"kind": "stopped"}
    except SystemExit as exc:
        code = exc.code if exc.code is None or isinstance(exc.code, int) else str(exc.code)
        return {"kind": "exit", "code": code}
    except KeyboardInterrupt:
        return {"kind": "interrupted"}
    except BaseException as exc:  # noqa: BLE001 - every way the script fails is reported
        text = f"{type(exc).__name__}: {exc}".strip()
        if _innermost_is_ours(exc):
            traceback.print_exception(type(exc), exc, exc.__traceback__)
            return {"kind": "internal", "error": text}
        traceback.print_exception(type(exc), exc, _script_tb(exc.__traceback__, script))
        return {"kind": "error", "error": text, "frames": user_traceback(exc, script)}
    return {"kind": "returned"}


def _config_error(channel: Channel, exc: ConfigError) -> None:
    channel.send({"type": "result", "outcome": {"kind": "config-error", "message": exc.detail, "source": exc.source,
                                                 "hint": exc.hint}})


def main() -> None:
    """The child's entry point (see the module docstring)."""
    channel = connect(sys.argv[2])
    spec = channel.receive()
    script = Path(spec["script"])
    from .capture import Capture

    try:
        capture = Capture(spec, channel)
    except ConfigError as exc:
        _config_error(channel, exc)
        return
    sys.argv = [spec["argv0"], *spec["args"]]
    sys.path[0] = str(script.parent)
    capture.install()
    sys.stdout, sys.stderr = _Tee(sys.stdout, capture), _Tee(sys.stderr, capture)
    try:
        outcome = run_script(script, capture)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    try:
        result = capture.result(outcome)
    finally:
        if capture.framework_log is not None:
            shutil.rmtree(capture.framework_log.parent, ignore_errors=True)
    channel.send(result)
    channel.conn.close()
