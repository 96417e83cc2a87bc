"""TensorBoard event files (``events.out.tfevents.*``), read without TensorFlow or protobuf.

An event file is a sequence of TFRecords: ``uint64 length | masked CRC-32C of the length |
data | masked CRC-32C of the data`` (little-endian), each ``data`` a serialized ``Event``
(tensorflow/core/util/event.proto). Only the scalar summaries matter here, in both layouts:

* ``Summary.Value.simple_value`` (TF1, PyTorch ``SummaryWriter.add_scalar``, Lightning);
* ``Summary.Value.tensor`` holding one number with the ``scalars`` plugin's metadata (TF2
  ``tf.summary.scalar``, Keras' TensorBoard callback, ``add_scalar(new_style=True)``), written
  by TF2 as ``tensor_content`` bytes and with the metadata only on a tag's first event. These
  are the points ``EventAccumulator.Scalars()`` and ``tbparse`` miss unless tensors are asked
  for.

Graphs, histograms, images, audio, text and run metadata are skipped by their length without
being decoded. The file is read in 4 MiB chunks, so memory is bounded by the chunk and the
largest record, not the file; values go straight into ``array('d')`` columns.

A folder reads as one run: every event file under it, ordered by start time (the first event's
wall time), with Keras' ``train/`` and ``validation/`` subfolders naming the split of their
tags (``validation/epoch_loss`` → ``val_loss``). Restarts that log a step again replace the
older points from that step on (what TensorBoard itself does), and a file written after
training ended that only re-evaluates (a post-fit ``trainer.validate()``) is set aside with a
warning, as the Lightning CSV reader does, rather than read as more training.
"""

from __future__ import annotations

import math
import os
import re
from array import array
from bisect import bisect_right
from collections.abc import Callable
from pathlib import Path
from struct import Struct
from struct import error as StructError
from typing import Any

from ..errors import LogReadError
from ..files import open_regular
from ..model import Run
from . import registry
from ._protobuf import DecodeError, fields, packed_varints, signed64, varint
from .aliases import canonical_name, normalise

FORMAT = "tensorboard"
_CHUNK = 4 << 20
_SKIP_UNREAD = 16 << 20  # a non-summary record this large (a big graph) is skipped by seeking
_MAX_RECORD = 256 << 20  # a record with a summary this large (images, never scalars alone) is skipped too
_MAX_FAST_KEYS = 65536

_U64 = Struct("<Q")
_U32 = Struct("<I")
_F32 = Struct("<f")
_F64 = Struct("<d")

# ---------------------------------------------------------------------------------------------
# CRC-32C (Castagnoli), as TFRecord uses it, masked as tensorflow/core/lib/hash/crc32c.h does.
#
# Decision, measured on this project's shared 2-core machine (Python 3.11, CPU time):
#   CRC of one 48-byte record (a typical scalar event), table-driven pure Python: 5.2 µs
#     (9 MB/s): 15 s for the 3 M-scalar benchmark file, 5x the whole rest of the read;
#   the same with the C ``crc32c`` / ``google-crc32c`` packages: 0.07-0.1 µs per call, but
#     with the slice and the unmasking about 0.3 µs per record in the loop;
#   the rest of the read (fast path below): about 0.7-1 µs per record.
# benchmarks/bench_tensorboard.py, 3 M scalars (155 MB), over several runs (the machine is
# shared, ±30%): 2.1-3.0 s CPU without data CRCs, 3.5-5.1 s checking each with the C CRC;
# tbparse 62-73 s, EventAccumulator 60 s.
# So: the 8-byte length CRC is always checked (once per distinct length, then a dict lookup:
# lengths repeat), which keeps the framing trustworthy and catches truncation; the data CRC is
# checked for every record when a C CRC-32C is installed, and otherwise only for a record that
# fails to decode (so a damaged record is still reported as a CRC mismatch with its offset),
# or for every record when asked (``verify=True``, ``REGADVISOR_TB_VERIFY=1``). A flipped bit
# inside a float that still decodes goes unnoticed only without a C CRC and without asking.
# ---------------------------------------------------------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)
del _i, _c


def crc32c_py(data: bytes, crc: int = 0) -> int:
    """CRC-32C of ``data``, table-driven, one byte per step (slow: ~9 MB/s)."""
    crc ^= 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _fast_crc32c() -> Callable[[bytes], int] | None:
    """A C CRC-32C when one is installed: ``crc32c`` (slightly the faster per call here, 65 vs
    95 ns for 48 bytes) or ``google-crc32c`` (when built with its C extension)."""
    try:
        import crc32c  # type: ignore[import-not-found]
    except ImportError:
        crc32c = None
    if crc32c is not None:
        return crc32c.crc32c
    try:
        import google_crc32c  # type: ignore[import-not-found]
    except ImportError:
        return None
    return google_crc32c.value if getattr(google_crc32c, "implementation", "c") == "c" else None


_CRC_FAST = _fast_crc32c()


def masked_crc(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def crc32c(data: bytes) -> int:
    return _CRC_FAST(data) if _CRC_FAST is not None else crc32c_py(data)


_LENGTH_OK: dict[int, int] = {}  # record lengths seen → their masked CRC (lengths repeat)
# A record header (length, its CRC) and the first bytes of an Event: 0x09, wall_time, 0x10 and
# the first three bytes of the step varint (read even when the record is shorter; unused then).
_HEAD = Struct("<QIBdBBBB")


class _NothingYet(LogReadError):
    """An event file with no complete record yet (just created, or killed before a flush)."""


class _Corrupt(Exception):
    def __init__(self, offset: int, what: str):
        super().__init__(what)
        self.offset = offset
        self.what = what


# ---------------------------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------------------------

_TENSOR_FORMATS = {  # TensorProto.dtype → struct format of one element in tensor_content
    1: "<f", 2: "<d", 19: "<e", 3: "<i", 4: "<B", 5: "<h", 6: "<b", 9: "<q",
    17: "<H", 22: "<I", 23: "<Q", 10: "<?",
}
_SCALAR_PLUGINS = {"scalars", ""}


class EventFile:
    """The scalars of one event file, and what the run needs to order and merge files."""

    def __init__(self, path: Path):
        self.path = path
        self.first_wall_time: float | None = None
        self.last_wall_time: float | None = None
        self.records = 0
        self.scalars: dict[str, tuple[array, array]] = {}
        self.hparams: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.file_version: str | None = None

    def columns(self, tag: str) -> tuple[array, array]:
        col = self.scalars.get(tag)
        if col is None:
            col = self.scalars[tag] = (array("d"), array("d"))
        return col


def _tensor_scalar(buf: bytes, a: int, b: int) -> tuple[float, int, str] | None:
    """The single number in the ``TensorProto`` at ``buf[a:b]``, with its offset and struct
    format (for the fast path), or None when it is not a one-element numeric tensor."""
    layout = _tensor_layout(buf, a, b)
    if layout is None:
        return None
    dtype, (num, x, y), wire = layout
    if num == 4:  # tensor_content: raw little-endian bytes (what TF2's C++ writer emits)
        fmt = _TENSOR_FORMATS[dtype]
        st = Struct(fmt)
        return (float(st.unpack_from(buf, x)[0]), x, fmt) if y - x == st.size else None
    if num == 5:  # float_val (packed, or a single fixed32)
        ok = (wire == 2 and y - x == 4) or wire == 5
        return (float(_F32.unpack_from(buf, x)[0]), x, "<f") if ok else None
    if num == 6:  # double_val
        ok = (wire == 2 and y - x == 8) or wire == 1
        return (_F64.unpack_from(buf, x)[0], x, "<d") if ok else None
    value = _tensor_integer(buf, dtype, num, x, y, wire)
    return None if value is None else (value, -1, "")


def _tensor_layout(buf: bytes, a: int, b: int) -> tuple[int, tuple[int, int, int], int] | None:
    """``(dtype, (field, start, stop) of the value payload, its wire type)`` of a one-element
    numeric ``TensorProto``; None for any other tensor."""
    dtype = 0
    elements = 1
    found: tuple[int, int, int] | None = None
    wire_of_value = 2
    for num, wt, x, y in fields(buf, a, b):
        if num == 1 and wt == 0:
            dtype = x
        elif num == 2 and wt == 2:
            size = _tensor_size(buf, x, y)
            if size is None:
                return None  # unknown rank
            elements *= size
        elif num in (4, 5, 6, 7, 10, 11, 13, 16, 17):
            found = (num, x, y)
            wire_of_value = wt
        elif num in (8, 9, 12, 14, 15):
            return None  # strings, complex numbers, resources, variants
    if elements != 1 or found is None or dtype not in _TENSOR_FORMATS:
        return None
    return dtype, found, wire_of_value


def _tensor_size(buf: bytes, a: int, b: int) -> int | None:
    """The number of elements a ``TensorShapeProto`` describes; None for an unknown rank."""
    elements = 1
    for dnum, dwt, dx, dy in fields(buf, a, b):
        if dnum == 2 and dwt == 2:
            size = 1
            for snum, swt, sx, _ in fields(buf, dx, dy):
                if snum == 1 and swt == 0:
                    size = signed64(sx)
            elements *= size
        elif dnum == 3 and dwt == 0 and dx:
            return None
    return elements


def _tensor_integer(buf: bytes, dtype: int, num: int, x: int, y: int, wire: int) -> float | None:
    """An integer-valued field's one value (packed varints, or a single varint: ``x`` is then
    the value itself): half floats, sign-extended ints, unsigned ints; None for any other count."""
    if wire == 0:
        values = [x]
    elif wire == 2:
        values = packed_varints(buf, x, y)
    else:
        return None
    if len(values) != 1:
        return None
    v = values[0]
    if num == 13:  # half_val: the float16 bits in an int32
        return float(Struct("<e").unpack(Struct("<H").pack(v & 0xFFFF))[0])
    if num in (7, 10):
        v = signed64(v)
        if dtype in (3, 5, 6):  # int32 and narrower are sign-extended to 64 bits
            v = v if v < (1 << 31) else v - (1 << 32)
    return float(v)


def _hparams(buf: bytes, a: int, b: int, out: dict[str, Any]) -> None:
    """Hyperparameters from the hparams plugin's ``session_start_info`` (Lightning and
    ``SummaryWriter.add_hparams`` write it): map<string, google.protobuf.Value>."""
    for num, wt, x, y in fields(buf, a, b):
        if num != 3 or wt != 2:  # HParamsPluginData.session_start_info
            continue
        for snum, swt, sx, sy in fields(buf, x, y):
            if snum != 1 or swt != 2:  # SessionStartInfo.hparams (map entry)
                continue
            key = None
            value: Any = None
            for enum_, ewt, ex, ey in fields(buf, sx, sy):
                if enum_ == 1 and ewt == 2:
                    key = buf[ex:ey].decode("utf-8", "replace")
                elif enum_ == 2 and ewt == 2:
                    for vnum, vwt, vx, vy in fields(buf, ex, ey):
                        if vnum == 2 and vwt == 1:
                            value = _F64.unpack_from(buf, vx)[0]
                            if value.is_integer() and abs(value) < 2**53:
                                value = int(value)
                        elif vnum == 3 and vwt == 2:
                            value = buf[vx:vy].decode("utf-8", "replace")
                        elif vnum == 4 and vwt == 0:
                            value = bool(vx)
            if key is not None and value is not None:
                out[key] = value


class _Scanner:
    """Streams one file's records; the per-record loop is written for speed (see ``scan``)."""

    def __init__(self, path: Path, plugins: dict[str, str], verify: bool | None):
        self.ef = EventFile(path)
        self.plugins = plugins  # tag → plugin name, shared by the files of a run
        if verify is None:  # REGADVISOR_TB_VERIFY=1 / 0 forces it on / off
            env = os.environ.get("REGADVISOR_TB_VERIFY", "").strip()
            verify = env not in ("0", "false", "no") if env else _CRC_FAST is not None
        self.verify = verify
        self.crc = _CRC_FAST if _CRC_FAST is not None else crc32c_py
        # Scalar layouts seen (see the end of ``decode``): the bytes between the step and the
        # number → (append value, append step, unpack). ``fast`` is the common one, number last
        # and 4 bytes wide; ``layouts`` the others (TF2 writes the plugin metadata after the
        # number; doubles are 8 bytes), each keyed by (bytes before, bytes after the number).
        self.fast: dict[bytes, tuple[Callable, Callable, Callable]] = {}
        self.layouts: list[tuple[int, int, dict]] = []  # (bytes after the number, its width, table)
        self.n_layouts = 0
        self.cut: str | None = None  # why the file's last record is incomplete, when it is
        self.slow_records = 0  # records decoded field by field (the others took the fast path)
        self.slow_points = 0

    # -- the slow path: any record, decoded field by field --------------------------------------
    def decode(self, buf: bytes, ds: int, de: int) -> None:
        """One Event at ``buf[ds:de]``: its wall time and step, and each scalar of its Summary."""
        step, summary = self._event(buf, ds, de)
        if summary is None:
            return
        n_values = 0
        last: tuple[str, int, str, int] | None = None
        for num, wt, a, b in fields(buf, summary[0], summary[1]):
            if num == 1 and wt == 2:
                n_values += 1
                last = self._summary_value(buf, a, b, step)
        # Remember this layout for the fast path when the event is wall_time, step, then one
        # Summary.Value holding one fixed-width number (float32 or double): every later record
        # with the same bytes before and after that number is the same tag in the same layout,
        # since the number's width fixes every length prefix around it.
        if (n_values == 1 and last is not None and summary[1] == de and last[3] == de
                and buf[ds] == 0x09 and self.n_layouts < _MAX_FAST_KEYS):
            self._remember_layout(buf, ds, de, last[0], last[1], last[2])

    def _event(self, buf: bytes, ds: int, de: int) -> tuple[int, tuple[int, int] | None]:
        """The Event's step and the span of its Summary; the wall time and file version noted."""
        ef = self.ef
        wall = None
        step = 0
        summary = None
        for num, wt, a, b in fields(buf, ds, de):
            if num == 1 and wt == 1:
                wall = _F64.unpack_from(buf, a)[0]
            elif num == 2 and wt == 0:
                step = signed64(a)
            elif num == 5 and wt == 2:
                summary = (a, b)
            elif num == 3 and wt == 2:
                ef.file_version = buf[a:b].decode("utf-8", "replace")
            # other fields (graph_def, session_log, run metadata, ...) are skipped by length
        if wall is not None:
            if ef.first_wall_time is None:
                ef.first_wall_time = wall
            ef.last_wall_time = wall
        return step, summary

    def _summary_value(self, buf: bytes, a: int, b: int, step: int) -> tuple[str, int, str, int] | None:
        """Store the scalar of the ``Summary.Value`` at ``buf[a:b]``, if it holds one. Returns
        (tag, offset of the number, its struct format, end of the value) when the value is that
        number alone, the layout the fast path can learn."""
        tag, simple, tensor, meta, other = None, None, None, None, False
        for vnum, vwt, x, y in fields(buf, a, b):
            if vnum == 1 and vwt == 2:
                tag = buf[x:y].decode("utf-8", "replace")
            elif vnum == 2 and vwt == 5:
                simple = x
            elif vnum == 8 and vwt == 2:
                tensor = (x, y)
            elif vnum == 9 and vwt == 2:
                meta = (x, y)
            else:
                other = True  # image, histogram, audio, node_name: skipped
        if tag is None:
            return None
        if meta is not None:
            self._plugin(buf, meta, tag)
        if simple is not None:
            self._store(tag, float(_F32.unpack_from(buf, simple)[0]), step)
            return (tag, simple, "<f", b) if not other and tensor is None else None
        if tensor is not None and self.plugins.get(tag, "") in _SCALAR_PLUGINS:
            got = _tensor_scalar(buf, tensor[0], tensor[1])
            if got is not None:
                self._store(tag, got[0], step)
                return (tag, got[1], got[2], b) if not other else None
        return None

    def _plugin(self, buf: bytes, meta: tuple[int, int], tag: str) -> None:
        """Note which plugin wrote ``tag`` (from its SummaryMetadata) and read the hparams plugin's values."""
        plugin, data_class, content = "", 0, None
        for mnum, mwt, x, y in fields(buf, meta[0], meta[1]):
            if mnum == 1 and mwt == 2:
                for pnum, pwt, px, py in fields(buf, x, y):
                    if pnum == 1 and pwt == 2:
                        plugin = buf[px:py].decode("utf-8", "replace")
                    elif pnum == 2 and pwt == 2:
                        content = (px, py)
            elif mnum == 4 and mwt == 0:
                data_class = x
        if tag not in self.plugins:
            self.plugins[tag] = "scalars" if data_class == 1 else plugin
        if plugin == "hparams" and content is not None and tag == "_hparams_/session_start_info":
            _hparams(buf, content[0], content[1], self.ef.hparams)

    def _store(self, tag: str, value: float, step: int) -> None:
        cols = self.ef.columns(tag)
        cols[0].append(value)
        cols[1].append(step)
        self.slow_points += 1

    def _remember_layout(self, buf: bytes, ds: int, de: int, tag: str, off: int, fmt: str) -> None:
        """Key the bytes around the number at ``off`` so that later records of this layout take the fast path."""
        width = 4 if fmt == "<f" else 8 if fmt == "<d" else 0
        p = ds + 9
        if buf[p] == 0x10:
            _, p = varint(buf, p + 1, de)
        if not width or off < p:
            return
        cols = self.ef.columns(tag)
        hit = (cols[0].append, cols[1].append, _F32.unpack_from if width == 4 else _F64.unpack_from)
        after = de - off - width
        self.n_layouts += 1
        if after == 0 and width == 4:
            self.fast[buf[p:off]] = hit
            return
        for a, w, table in self.layouts:
            if a == after and w == width:
                break
        else:
            table = {}
            self.layouts.append((after, width, table))
        table[(buf[p:off], buf[off + width:de])] = hit

    def header(self, buf: bytes, pos: int, offset: int) -> int:
        length = _U64.unpack_from(buf, pos)[0]
        expected = masked_crc(crc32c(buf[pos:pos + 8]))
        if expected != _U32.unpack_from(buf, pos + 8)[0]:
            raise _Corrupt(offset, "record header CRC mismatch")
        if len(_LENGTH_OK) < 4096:
            _LENGTH_OK[length] = expected
        return length

    # -- the loop ------------------------------------------------------------------------------
    def scan(self) -> EventFile:
        """Read the file record by record, a buffer at a time (see :meth:`_records`)."""
        ef = self.ef
        path = ef.path
        self.last_wall = -math.inf
        with open_regular(path) as f:
            buf = f.read(_CHUNK)
            if not buf:
                raise _NothingYet("empty file (0 bytes), not a TensorBoard event file yet", source=path,
                                   hint="a writer that has not flushed leaves it empty; wait, or pick another file")
            size = os.fstat(f.fileno()).st_size
            base, pos = 0, 0  # file offset of buf[0]; the first record not read yet
            while True:
                pos = self._records(buf, pos, base)
                more = self._next_buffer(f, buf, pos, base, size)
                if more is None:
                    break
                buf, pos, base = more
        if ef.last_wall_time is None or self.last_wall > ef.last_wall_time:
            ef.last_wall_time = self.last_wall
        ef.records = self.slow_records + sum(len(c[0]) for c in ef.scalars.values()) - self.slow_points
        if self.slow_records == 0:
            raise _NothingYet(f"no complete record: {self.cut or 'the file is shorter than one event'}", source=path,
                               hint="the writer may have been killed before its first flush")
        return ef

    def _records(self, buf: bytes, pos: int, base: int) -> int:
        """Every complete record of ``buf`` from ``pos``; returns where the first incomplete one starts.

        This loop is the reader's cost, so it is written for CPython: one ``struct`` call reads
        a record's header and the start of its Event (wall_time tag and value, step tag and the
        first three bytes of the step varint); a record whose bytes between the step and its
        last 4 (or 8) bytes were seen before (one tag's scalar layout) is stored with one dict
        lookup; anything else is decoded field by field (:meth:`_slow`). The per-record work stays
        inline on purpose: moving the step decoding into a function of its own made reading the
        300,000-scalar file of ``benchmarks/bench_tensorboard.py`` about 7% slower (CPU time
        0.193 → 0.205 s; TF2's layout 0.284 → 0.298 s).
        """
        fast = self.fast.get
        layouts = self.layouts
        f32 = _F32.unpack_from
        crc = self.crc if self.verify else None
        u32 = _U32.unpack_from
        head = _HEAD.unpack_from
        length_ok = _LENGTH_OK.get
        n = len(buf)
        limit = n - _HEAD.size
        while True:
            try:
                while pos <= limit:
                    length, length_crc, t1, wall, t2, b, c, d = head(buf, pos)
                    if length_ok(length) != length_crc:
                        self.header(buf, pos, base + pos)  # raises unless the CRC is right
                    ds = pos + 12
                    de = ds + length
                    if de + 4 > n:
                        return pos
                    # the masked CRC (masked_crc), inline: a call per record is measurable
                    if crc is not None and ((((v := crc(buf[ds:de])) >> 15) | (v << 17)) + 0xA282EAD8) \
                            & 0xFFFFFFFF != u32(buf, de)[0]:
                        raise _Corrupt(base + pos, "record data CRC mismatch")
                    if t1 == 0x09:  # (a record too short for this reads past its end: no key matches)
                        self.last_wall = wall
                        if t2 == 0x10:  # the step varint, unrolled for up to 3 bytes
                            if b < 0x80:
                                step, p = b, ds + 11
                            elif c < 0x80:
                                step, p = (b & 0x7F) | (c << 7), ds + 12
                            elif d < 0x80:
                                step, p = (b & 0x7F) | ((c & 0x7F) << 7) | (d << 14), ds + 13
                            else:
                                step, p = varint(buf, ds + 10, de)
                                step = signed64(step)
                        else:
                            step, p = 0, ds + 9
                        hit = fast(buf[p:de - 4])
                        if hit is not None:
                            hit[0](f32(buf, de - 4)[0])
                            hit[1](step)
                            pos = de + 4
                            continue
                        for after, width, table in layouts:
                            hit = table.get((buf[p:de - after - width], buf[de - after:de]))
                            if hit is not None:
                                hit[0](hit[2](buf, de - after - width)[0])
                                hit[1](step)
                                break
                        else:
                            self._slow(buf, ds, de, base + pos)
                    else:
                        self._slow(buf, ds, de, base + pos)
                    pos = de + 4
                return self._tail(buf, pos, n, base)
            except (IndexError, StructError, DecodeError):
                # a damaged record made the fast path read past it: decode it properly
                pos = self._tail(buf, pos, n, base, one=True)

    def _next_buffer(self, f: Any, buf: bytes, pos: int, base: int, size: int) -> tuple[bytes, int, int] | None:
        """``(buffer, pos, base)`` holding the record at ``pos`` whole (its rest read, or a huge
        unread record skipped by seeking); None at the end of the file."""
        n = len(buf)
        need = 12 if pos + 12 > n else _U64.unpack_from(buf, pos)[0] + 16
        if base + pos + need > size:
            # The file ends here, or its last record (length CRC-checked) runs past its
            # end: a writer that was cut off, or a length no file could hold, never allocated.
            if pos < n:
                self._truncated(base + pos, tail=buf[pos:], size=size, claimed=need - 16 if pos + 12 <= n else None)
            return None
        if need > _SKIP_UNREAD and (self._skippable(buf, pos, n) or self._oversized(base + pos, need)):
            f.seek(base + pos + need)
            return f.read(_CHUNK), 0, base + pos + need
        more = f.read(max(_CHUNK, need - (n - pos)))
        if not more:
            if pos < n:
                self._truncated(base + pos, tail=buf[pos:])
            return None
        return buf[pos:] + more, 0, base + pos

    def _tail(self, buf: bytes, pos: int, n: int, base: int, one: bool = False) -> int:
        """The general path for the records at ``pos`` (the last bytes of a buffer, or a record
        the fast path stumbled on): returns where the first incomplete record starts."""
        while pos + 12 <= n:
            length = self.header(buf, pos, base + pos)
            ds = pos + 12
            de = ds + length
            if de + 4 > n:
                break
            if self.verify:
                self.check(buf, ds, de, base + pos)
            self._slow(buf, ds, de, base + pos)
            pos = de + 4
            if one:
                break
        return pos

    def check(self, buf: bytes, ds: int, de: int, offset: int) -> None:
        if masked_crc(self.crc(buf[ds:de])) != _U32.unpack_from(buf, de)[0]:
            raise _Corrupt(offset, "record data CRC mismatch")

    def _slow(self, buf: bytes, ds: int, de: int, offset: int) -> None:
        self.slow_records += 1
        try:
            self.decode(buf, ds, de)
        except (DecodeError, StructError, IndexError, UnicodeDecodeError) as exc:
            if masked_crc(self.crc(buf[ds:de])) != _U32.unpack_from(buf, de)[0]:
                raise _Corrupt(offset, "record data CRC mismatch") from None
            raise _Corrupt(offset, f"record is not an Event ({exc})") from None
        if self.ef.first_wall_time is None and self.ef.file_version is None and offset == 0:
            raise _Corrupt(0, "first record is not an Event")

    def _skippable(self, buf: bytes, pos: int, n: int) -> bool:
        """Whether the big record at ``pos`` holds no summary (a graph, run metadata ...):
        fields are written in number order, so the first field after wall_time/step says."""
        p = pos + 12
        try:
            while True:
                key, p = varint(buf, p, n)
                if key == 0x09:
                    p += 8
                elif key == 0x10:
                    _, p = varint(buf, p, n)
                else:
                    return (key >> 3) != 5
        except DecodeError:
            return False

    def _oversized(self, offset: int, need: int) -> bool:
        """Whether a record holding a summary is too large to read (``_MAX_RECORD``): said, and skipped."""
        if need <= _MAX_RECORD:
            return False
        self.ef.warnings.append(f"{self.ef.path.name}: the record at byte {offset} is {need - 16:,} bytes, more "
                                f"than {_MAX_RECORD >> 20} MiB (no scalar event is); skipped it")
        return True

    def _truncated(self, offset: int, tail: bytes = b"", claimed: int | None = None, size: int = 0) -> None:
        if tail and not tail.strip(b"\0"):
            what = f"{len(tail)} zero byte(s) after the last record (preallocated, never written)"
        elif claimed is not None:
            what = (f"the last record is incomplete at byte {offset}: it claims {claimed:,} bytes, but the file "
                    f"ends {max(0, size - offset - 12):,} bytes after its header (a run still writing, or killed)")
        else:
            what = f"the last record is incomplete at byte {offset} (a run still writing, or killed)"
        self.cut = what
        self.ef.warnings.append(f"{self.ef.path.name}: {what}; read the complete records before it")


def read_event_file(path: str | Path, *, verify: bool | None = None,
                    plugins: dict[str, str] | None = None) -> EventFile:
    """Read the scalars of one event file.

    ``verify`` forces (True) or skips (False) checking every record's data CRC; by default it
    is checked when a C CRC-32C is installed (see the measurements above). Raises
    :class:`LogReadError` naming the file and byte offset of a corrupt record; a truncated
    last record becomes a warning on the returned file.
    """
    path = Path(path)
    scanner = _Scanner(path, {} if plugins is None else plugins, verify)
    try:
        return scanner.scan()
    except _Corrupt as exc:
        if exc.offset == 0:
            hint = ("its name says event file but its first record is damaged or it holds something else"
                    if _is_event_file(path.name) else "TensorBoard writes files named events.out.tfevents.*")
            raise LogReadError(f"not a TensorBoard event file ({exc.what} at byte 0)", source=path,
                               hint=hint) from None
        raise LogReadError(f"corrupt event file: {exc.what} in the record at byte {exc.offset}",
                           source=path, hint="the file was damaged after it was written; "
                           "copy it again or remove the damaged file from the run folder") from None
    except OSError as exc:
        raise LogReadError(f"cannot read: {exc.strerror or exc}", source=path) from None


# ---------------------------------------------------------------------------------------------
# A run: one file or a folder of them
# ---------------------------------------------------------------------------------------------

_SPLIT_FOLDERS = {
    "train": "train", "training": "train",
    "validation": "validation", "val": "validation", "valid": "validation",
    "eval": "eval", "evaluation": "eval", "test": "test",
}
_SPLIT_PREFIXES = {"train", "training", "val", "valid", "validation", "eval", "evaluation", "test", "testing"}
_FILE_TIME = re.compile(r"tfevents\.(\d+(?:\.\d+)?)")
_MAX_DEPTH = 4


def _is_event_file(name: str) -> bool:
    return "tfevents" in name


def _event_files(root: Path) -> list[Path]:
    found: list[Path] = []
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).parts) - root_depth
        if depth >= _MAX_DEPTH:
            dirnames[:] = []
        dirnames.sort()
        found.extend(Path(dirpath) / name for name in sorted(filenames) if _is_event_file(name))
    return found


def _split_of(folder: Path) -> str | None:
    return _SPLIT_FOLDERS.get(folder.name.lower())


def _raw_name(split: str | None, tag: str) -> str:
    if split is None:
        return tag
    words = normalise(tag).split("_")
    if words and words[0] in _SPLIT_PREFIXES:
        return tag  # the tag names its own split (val_loss written into validation/)
    return f"{split}/{tag}"


def _start_time(ef: EventFile) -> float:
    if ef.first_wall_time is not None:
        return ef.first_wall_time
    m = _FILE_TIME.search(ef.path.name)
    return float(m.group(1)) if m else math.inf


def _is_train(raw: str) -> bool:
    return canonical_name(raw).canonical.startswith("train_")


def _merge(target: tuple[array, array], values: array, steps: array) -> int:
    """Append a later file's points; a step at or below the last one held means the run was
    restarted from a checkpoint, and (as TensorBoard does) the older points from that step on
    are dropped. Returns how many were dropped."""
    old_v, old_s = target
    dropped = 0
    if old_s and steps and steps[0] <= old_s[-1]:
        first = steps[0]
        keep = len(old_s)
        while keep and old_s[keep - 1] >= first:
            keep -= 1
        dropped = len(old_s) - keep
        del old_v[keep:]
        del old_s[keep:]
    old_v.extend(values)
    old_s.extend(steps)
    return dropped


def _epochs_for(steps: array, epoch_steps: array, epoch_values: array) -> array:
    """The epoch of each step: the last ``epoch`` logged at or before it (Lightning logs
    ``epoch`` with every metric, so this is almost always an exact match)."""
    out = array("d")
    append = out.append
    nan = math.nan
    for s in steps:
        i = bisect_right(epoch_steps, s)
        append(epoch_values[i - 1] if i else nan)
    return out


def _add_facts(builder: registry.RunBuilder, run_dir: Path, hparams: dict[str, Any]) -> None:
    """Hyperparameters: Lightning's ``hparams.yaml`` beside the events, then the hparams
    plugin's values inside them."""
    from .facts import add_facts, add_sidecar_facts

    add_sidecar_facts(builder, run_dir / "hparams.yaml")
    add_facts(builder.facts, hparams)


_FileOfRun = tuple[EventFile, str | None, Path]  # an event file read, its split folder (train/, ...), its run folder


def read(path: Path, options: registry.ReadOptions | None = None, *, verify: bool | None = None) -> Run:
    """Read an event file or a run folder into a :class:`Run`: every event file read
    (:func:`_read_files`), the one run among them chosen (:func:`_the_run`), their scalars
    merged in time order (:func:`_merge_files`), the epoch scalar made the epoch axis."""
    path = Path(path)
    builder = registry.RunBuilder(path, FORMAT, options)
    if path.is_dir():
        files = _event_files(path)
        if not files:
            raise LogReadError("no TensorBoard event files (events.out.tfevents.*) in this folder", source=path,
                               hint="pass the run folder that holds them, or one event file")
    elif path.is_file():
        files = [path]
    else:
        raise LogReadError("no such file or folder", source=path)
    root = path if path.is_dir() else path.parent
    read_files = _read_files(files, root, verify, builder)
    run_dir, items = _the_run(read_files, root, path, builder)
    merged, hparams = _merge_files(items, builder)
    for ef, _, folder in read_files:  # add_hparams writes its hparams into a sub-folder of the run
        if folder.parent == run_dir:
            for key, value in ef.hparams.items():
                hparams.setdefault(key, value)
    _add_facts(builder, run_dir, hparams)
    _add_series(builder, merged)
    builder.facts.setdefault("event_files", len(items))
    name = path.name if path.is_dir() else path.parent.name
    return builder.build(name=name)


def _read_files(files: list[Path], root: Path, verify: bool | None, builder: registry.RunBuilder) -> list[_FileOfRun]:
    """Each event file read, with its split and run folders; a file with nothing in it yet is
    skipped with a warning (a writer that just started) unless it is the only one."""
    plugins: dict[str, str] = {}
    read_files: list[_FileOfRun] = []
    for file in files:
        try:
            ef = read_event_file(file, verify=verify, plugins=plugins)
        except _NothingYet as exc:
            if len(files) == 1:
                raise
            builder.warn(f"{file.name}: {exc.detail}; skipped")
            continue
        split = _split_of(file.parent)
        run_dir = file.parent.parent if split and file.parent != root else file.parent
        read_files.append((ef, split, run_dir))
        for w in ef.warnings:
            builder.warn(w)
    return read_files


def _the_run(read_files: list[_FileOfRun], root: Path, path: Path,
             builder: registry.RunBuilder) -> tuple[Path, list[_FileOfRun]]:
    """The run folder whose files hold scalars, and its files in time order. A folder of
    several runs (version_0/, version_1/) is not one run: it is refused rather than mixed,
    unless event files sit in the folder itself (then those are the run)."""
    runs: dict[Path, list[_FileOfRun]] = {}
    for item in read_files:
        runs.setdefault(item[2], []).append(item)
    with_scalars = [d for d, items in runs.items() if any(ef.scalars for ef, _, _ in items)]
    if not with_scalars:
        raise LogReadError("no scalar summaries in the event file(s)", source=path,
                           hint="only scalars (add_scalar, tf.summary.scalar, self.log) are read")
    if len(with_scalars) > 1:
        if root not in with_scalars:
            names = sorted(str(d.relative_to(root)) for d in with_scalars)
            raise LogReadError(f"this folder holds {len(names)} runs ({', '.join(names[:5])}"
                               f"{', ...' if len(names) > 5 else ''}), not one", source=path,
                               hint="pass one run's folder")
        ignored = sorted(str(d.relative_to(root)) for d in with_scalars if d != root)
        builder.warn(f"read the event files directly in {root.name}; ignored other runs in "
                     f"sub-folders: {', '.join(ignored)}")
        with_scalars = [root]
    items = sorted(runs[with_scalars[0]], key=lambda it: (_start_time(it[0]), it[0].path.name))
    return with_scalars[0], items


def _training_end(items: list[_FileOfRun]) -> tuple[float, float]:
    """The last step and the last wall time of the files that hold training points."""
    last_train_step = -math.inf
    train_end = -math.inf
    for ef, split, _ in items:
        if any(_is_train(_raw_name(split, t)) and cols[0] for t, cols in ef.scalars.items()):
            last_train_step = max(last_train_step, max(c[1][-1] for c in ef.scalars.values() if c[1]))
            train_end = max(train_end, ef.last_wall_time if ef.last_wall_time is not None else -math.inf)
    return last_train_step, train_end


def _merge_files(items: list[_FileOfRun], builder: registry.RunBuilder
                 ) -> tuple[dict[str, tuple[array, array]], dict[str, Any]]:
    """Every file's scalars by raw name, later files winning where a restart logged steps
    again, and the hparams they carry. A post-fit evaluation is set aside: a file begun after
    every training file had ended, with no training points, whose steps do not go past the
    last step logged in training (+1: Lightning's validate() logs at global_step + 1)."""
    last_train_step, train_end = _training_end(items)
    merged: dict[str, tuple[array, array]] = {}
    hparams: dict[str, Any] = {}
    for ef, split, _ in items:
        has_train = any(_is_train(_raw_name(split, t)) for t in ef.scalars)
        if (ef.scalars and not has_train and train_end > -math.inf and _start_time(ef) >= train_end
                and all(max(c[1]) <= last_train_step + 1 for c in ef.scalars.values() if c[1])):
            # Set aside, as the Lightning CSV reader does: not a point of the training curve.
            shown = [f"{_raw_name(split, t)}={v:.4g}" for t, c in ef.scalars.items() if t != "epoch" for v in c[0]]
            builder.warn(f"{ef.path.name}: set aside {len(shown)} value(s) logged after training ended "
                         f"({', '.join(shown[:6])}{', ...' if len(shown) > 6 else ''}): "
                         "a post-fit validate()/test(), not training progress")
            continue
        for tag, (values, steps) in ef.scalars.items():
            raw = _raw_name(split, tag)
            target = merged.get(raw)
            if target is None:
                merged[raw] = (values, steps)  # the file's own columns: no copy
                continue
            dropped = _merge(target, values, steps)
            if dropped:
                builder.warn(f"{raw}: {dropped} point(s) from step {int(steps[0])} on were logged again by "
                             f"{ef.path.name} (a restart from a checkpoint); kept the later ones")
        for key, value in ef.hparams.items():
            hparams.setdefault(key, value)
    return merged, hparams


def _add_series(builder: registry.RunBuilder, merged: dict[str, tuple[array, array]]) -> None:
    """The merged scalars into the builder. Lightning logs the epoch as a scalar named "epoch":
    it is an axis, not a metric, so it becomes every other series' epochs."""
    epoch_col = merged.pop("epoch", None)
    if epoch_col is None:
        for raw, (values, steps) in merged.items():
            builder.extend(raw, values, steps, None)
        return
    order = sorted(range(len(epoch_col[1])), key=lambda i: epoch_col[1][i])
    e_steps = array("d", (epoch_col[1][i] for i in order))
    e_values = array("d", (epoch_col[0][i] for i in order))
    for raw, (values, steps) in merged.items():
        builder.extend(raw, values, steps, _epochs_for(steps, e_steps, e_values))


def _holds_events(folder: Path) -> bool:
    try:
        return any(_is_event_file(entry.name) for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return False


def _part_of_a_run(folder: Path) -> bool:
    """Whether ``folder`` is a piece of the run its parent is: Keras' ``train/`` beside
    ``validation/``, or the sub-folders ``SummaryWriter.add_hparams``/``add_scalars`` write
    inside a run folder that holds event files itself."""
    parent = folder.parent
    if parent == folder:
        return False
    if _holds_events(parent):
        return True
    if _split_of(folder) is None:
        return False
    try:
        siblings = [Path(e.path) for e in os.scandir(parent) if e.is_dir() and e.name != folder.name]
    except OSError:
        return False
    return any(_split_of(s) is not None and _holds_events(s) for s in siblings)


def sniff(path: Path, head: bytes) -> float:
    """1.0 for a file named like an event file whose first record header checks out; 0.9 for a
    folder holding event files (0.3, below what makes a run, for a piece of its parent's run:
    ``train/`` beside ``validation/``); 0.8 for a file of another name with a valid header."""
    path = Path(path)
    if path.is_dir():
        try:
            seen = 0
            for dirpath, dirnames, filenames in os.walk(path):
                if any(_is_event_file(n) for n in filenames):
                    return 0.3 if _part_of_a_run(path) else 0.9
                seen += len(filenames) + len(dirnames)
                if seen > 2000 or len(Path(dirpath).parts) - len(path.parts) >= _MAX_DEPTH:
                    break
        except OSError:
            return 0.0
        return 0.0
    valid = False
    if len(head) >= 13:
        valid = masked_crc(crc32c(head[:8])) == _U32.unpack_from(head, 8)[0] and head[12] == 0x09
    if _is_event_file(path.name):
        return 1.0 if valid or not head else 0.9
    return 0.8 if valid else 0.0


registry.register(registry.LogFormat(
    name=FORMAT,
    description="TensorBoard event files (events.out.tfevents.*), a file or a run folder",
    sniff=sniff,
    read=lambda path, options: read(path, options),
    directory=True,
))
