"""Just enough of the protobuf wire format to walk a message without its schema.

The TensorBoard reader decodes a handful of fields of ``Event``, ``Summary`` and
``TensorProto`` by number and skips every other field by its length, so it needs neither the
``protobuf`` package nor generated classes. Wire types: 0 varint, 1 fixed 64-bit, 2
length-delimited, 5 fixed 32-bit (3/4, the deprecated groups, never occur in these messages and
are rejected). Reference: https://protobuf.dev/programming-guides/encoding/.
"""

from __future__ import annotations

from collections.abc import Iterator

_U64 = 1 << 64
_I64_MAX = (1 << 63) - 1


class DecodeError(ValueError):
    """Bytes that do not follow the protobuf wire format."""


def varint(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode the varint at ``pos``; return ``(value, position after it)``."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint longer than 10 bytes")


def signed64(value: int) -> int:
    """An ``int64`` field's varint as a Python int (negative numbers use 10 bytes)."""
    value &= _U64 - 1
    return value - _U64 if value > _I64_MAX else value


def fields(buf: bytes | memoryview, pos: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """Walk the fields of the message in ``buf[pos:end]``.

    Yields ``(field_number, wire_type, a, b)``: for a varint ``a`` is its value; for fixed
    64/32-bit fields ``a`` is the offset of their bytes; for length-delimited fields
    ``buf[a:b]`` is the payload, found without copying or decoding it.
    """
    while pos < end:
        key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DecodeError("field number 0")
        if wire == 0:
            value, pos = varint(buf, pos, end)
            yield number, 0, value, pos
        elif wire == 2:
            size, pos = varint(buf, pos, end)
            stop = pos + size
            if stop > end:
                raise DecodeError(f"field {number} runs past the end of its message")
            yield number, 2, pos, stop
            pos = stop
        elif wire == 1:
            if pos + 8 > end:
                raise DecodeError(f"field {number} runs past the end of its message")
            yield number, 1, pos, pos + 8
            pos += 8
        elif wire == 5:
            if pos + 4 > end:
                raise DecodeError(f"field {number} runs past the end of its message")
            yield number, 5, pos, pos + 4
            pos += 4
        else:
            raise DecodeError(f"unsupported wire type {wire} for field {number}")
    if pos != end:
        raise DecodeError("message overruns its length")


def packed_varints(buf: bytes, pos: int, end: int) -> list[int]:
    """The values of a packed repeated varint field (``int_val``, ``int64_val``, ...)."""
    out = []
    while pos < end:
        value, pos = varint(buf, pos, end)
        out.append(value)
    return out
