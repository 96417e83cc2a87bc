"""Hypothesis strategies for hostile inputs: mutated bytes of a valid seed, and structurally valid
containers (TFRecords, LevelDB records, SQLite rows) around hostile contents, so that the fuzz
reaches past the framing checks into the decoders.

The mutations are the ones that found the bugs of issue 15: truncation, flipped and inserted
bytes, NaN and ±1e308, huge integers, control characters, deep nesting, odd YAML, lying lengths.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from . import _seeds as seeds

TOKENS = [
    b"NaN", b"nan", b"inf", b"-inf", b"Infinity", b"1e308", b"-1e308", b"1e999", b"-0", b"5e-324",
    b"9" * 400, b"9" * 4400, b"\x00", b"\x1b[31m", b"\x1b]0;title\x07", b"\r", b"\n", b"\r\n", b"\t",
    b'"', b"'", b",", b":", b"=", b"{", b"}", b"[", b"]", b'{"a": ' * 60, b"[" * 3000, b"- " * 80,
    b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x80\xae", b"\xef\xbb\xbf", b"\xc2\x85",
    b"!!timestamp 'nope'", b"!!timestamp '2020-13-45'", b"&a [*a]", b"*a", b"!!binary x", b"!!python/object:os.system",
    b" " * 200, b"step", b"epoch", b"loss", b"val_loss", b"train_acc", b"#", b'"\\ud800"', b"\\u0000",
    b"true", b"null", b"-", b"%", b"/", b"ab" * 3000, b"1" * 3000 + b"_",
]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([1e308, -1e308, 5e-324, -0.0, math.nan, math.inf, -math.inf, 0.0, 1.0, 3.4e38]),
)
HOSTILE_TEXT = st.one_of(
    st.text(max_size=24),
    st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF,
                                   categories=None), max_size=12),
    st.sampled_from(["\x1b[31m", "\x1b]0;pwned\x07", "\ud800", "\u202e", "\r", "\x00", "\ufffe", "[bold]", "[/]",
                     "%0A", "::error::", "]]>", "&amp;", "{x}", "{", "\\", "val_loss", "train/loss", "epoch", "step",
                     "", " ", "a" * 300]),
)


_OP = st.tuples(st.integers(0, 6), st.floats(0, 1), st.integers(0, 64), st.sampled_from(TOKENS),
                st.binary(max_size=32), st.integers(0, 255), st.integers(1, 30))


def mutations(max_ops: int = 8) -> st.SearchStrategy[list]:
    """A plan of up to ``max_ops`` edits, drawn apart from the bytes it will edit (a server
    thread applies it to an answer it computes later)."""
    return st.lists(_OP, max_size=max_ops)


def apply(plan: list, seed: bytes) -> bytes:
    """``seed`` after the plan's truncations, flips, insertions, deletions and repeats."""
    data = bytearray(seed)
    for kind, where, span, token, blob, byte, times in plan:
        at = int(where * len(data))
        end = min(len(data), at + span)
        if kind == 0:
            del data[at:]
        elif kind == 1 and data:
            data[min(at, len(data) - 1)] = byte
        elif kind == 2:
            data[at:at] = token
        elif kind == 3:
            data[at:at] = blob
        elif kind == 4:
            del data[at:end]
        elif kind == 5:
            data[at:at] = data[at:end] * times
        else:
            data[at:end] = token
    return bytes(data)


@st.composite
def mutated(draw, seed: bytes, max_ops: int = 8) -> bytes:
    """``seed`` after up to ``max_ops`` edits (see :func:`apply`)."""
    return apply(draw(mutations(max_ops)), seed)


def text_of(seed: str) -> st.SearchStrategy[bytes]:
    return mutated(seed.encode())


# --------------------------------------------------------------------------- TensorBoard


@st.composite
def tb_event(draw) -> bytes:
    """One Event: a scalar as SummaryWriter writes it, a TF2 tensor scalar, or random fields."""
    kind = draw(st.integers(0, 3))
    tag = draw(st.sampled_from(["train_loss", "val_loss", "epoch", "train/acc", "validation/epoch_loss", "x"]))
    step = draw(st.integers(-(2**63), 2**64 - 1) | st.integers(0, 100))
    if kind == 0:
        value = draw(NUMBERS)
        return seeds.tb_scalar_event(tag, value if not math.isfinite(value) or abs(value) < 3.4e38 else 1e38, step % 2**64)
    if kind == 1:  # Summary.Value.tensor with the scalars plugin's metadata
        dtype = draw(st.sampled_from([1, 2, 3, 9, 19, 7, 0, 99]))
        content = draw(st.binary(min_size=0, max_size=9))
        tensor = seeds.field(1, dtype) + seeds.field(4, content) + draw(st.sampled_from(
            [b"", seeds.field(2, seeds.field(2, seeds.field(1, draw(st.integers(0, 5)))))]))
        meta = seeds.field(1, seeds.field(1, b"scalars")) + seeds.field(4, 1)
        value = seeds.field(1, tag.encode()) + seeds.field(8, tensor) + seeds.field(9, meta)
        return seeds.field(1, 1.7e9) + seeds.field(2, step % 2**64) + seeds.field(5, seeds.field(1, value))
    if kind == 2:  # hparams plugin's session start info
        hp = seeds.field(1, draw(st.binary(max_size=12))) + seeds.field(2, draw(st.binary(max_size=12)))
        content = seeds.field(3, seeds.field(1, hp))
        meta = seeds.field(1, seeds.field(1, b"hparams") + seeds.field(2, content))
        value = seeds.field(1, b"_hparams_/session_start_info") + seeds.field(9, meta)
        return seeds.field(1, 1.7e9) + seeds.field(5, seeds.field(1, value))
    return draw(mutated(seeds.tb_scalar_event(tag, 0.5, 3), max_ops=4))


@st.composite
def tb_file(draw) -> bytes:
    """Records with correct CRCs (mostly), some claiming another length, then maybe byte damage."""
    out = bytearray(seeds.tb_record(seeds.field(1, 1.7e9) + seeds.field(3, b"brain.Event:2")))
    for event in draw(st.lists(tb_event(), max_size=12)):
        lie = draw(st.sampled_from([None] * 8 + [0, 1, 2**40, 2**64 - 1, len(event) + 1]))
        out += seeds.tb_record(event, length=lie)
    return draw(mutated(bytes(out), max_ops=2)) if draw(st.booleans()) else bytes(out)


# --------------------------------------------------------------------------- W&B transaction log


@st.composite
def wandb_record(draw) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        items = draw(st.dictionaries(st.sampled_from(["loss", "val_loss", "epoch", "_step", "trainer/global_step",
                                                       "val.loss", "x"]),
                                     st.sampled_from(["1.5", "NaN", "Infinity", "-1e308", "9" * 400, '{"a": 1}',
                                                      "[1, 2]", '"text"', "", "{" * 2000, "true", "null"]),
                                     max_size=4))
        return seeds.wandb_history(items, draw(st.integers(0, 2**63 - 1)))
    if kind == 1:  # config update with a hostile key or value
        key = draw(HOSTILE_TEXT).encode("utf-8", "surrogatepass")
        return seeds.field(5, seeds.field(1, seeds.field(1, key) + seeds.field(16, draw(st.binary(max_size=16)))))
    if kind == 2:  # run record (display name) or exit record
        return draw(st.sampled_from([seeds.field(17, seeds.field(8, draw(st.binary(max_size=20)))),
                                     seeds.field(18, seeds.field(1, draw(st.integers(0, 2**64 - 1))))]))
    return draw(mutated(seeds.wandb_history({"loss": "0.5"}, 1), max_ops=4))


@st.composite
def wandb_file(draw) -> bytes:
    """Records with valid CRCs, some split FIRST/MIDDLE/LAST, some chunks out of order or damaged."""
    out = bytearray(seeds.WANDB_HEADER)
    for record in draw(st.lists(wandb_record(), max_size=10)):
        if draw(st.booleans()) and len(record) > 2:
            cut = draw(st.integers(1, len(record) - 1))
            types = draw(st.sampled_from([(2, 4), (2, 3), (3, 4), (4, 2), (1, 1)]))
            out += seeds.wandb_chunk(record[:cut], types[0]) + seeds.wandb_chunk(record[cut:], types[1])
        else:
            out += seeds.wandb_chunk(record)
    return draw(mutated(bytes(out), max_ops=2)) if draw(st.booleans()) else bytes(out)


# --------------------------------------------------------------------------- MLflow SQLite

SQL_VALUES = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), NUMBERS.filter(lambda v: not math.isnan(v)),
                       HOSTILE_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
                       st.binary(max_size=16))
SQL_RUN_IDS = st.sampled_from(["r1", "r2"]) | SQL_VALUES


@st.composite
def mlflow_rows(draw) -> dict:
    """Rows for :func:`seeds.mlflow_db`: mostly well-typed, any column possibly any SQLite type."""
    def cell(good):
        return draw(st.one_of(good, SQL_VALUES)) if draw(st.integers(0, 4)) == 0 else draw(good)

    runs = [(cell(st.just(run)), cell(st.sampled_from(["demo", "twin"])), cell(st.sampled_from(["FINISHED", "RUNNING"])))
            for run in draw(st.lists(st.sampled_from(["r1", "r2"]), min_size=1, max_size=2, unique=True))]
    metrics = [(cell(st.sampled_from(["r1", "r2"])), cell(st.sampled_from(["train_loss", "val_loss", "epoch", "val_acc"])),
                cell(NUMBERS.filter(lambda v: not math.isnan(v))), cell(st.integers(0, 50)), cell(st.integers(0, 1)))
               for _ in range(draw(st.integers(0, 30)))]
    params = [(cell(st.just("r1")), cell(st.sampled_from(["lr", "dropout", "optimizer", "batch_size"])),
               cell(st.sampled_from(["0.1", "adamw", "32", "1e999", "9" * 5000, "\x1b[31m"])))
              for _ in range(draw(st.integers(0, 4)))]
    return {"runs": runs, "metrics": metrics, "params": params}
