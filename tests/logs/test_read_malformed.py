"""Every malformed input is a LogReadError that names the file and says what to do; never another type."""

from __future__ import annotations

import pytest

from regadvisor.errors import ConfigError, LogReadError
from regadvisor.logs.read import read_log

CSV_HEADER = "epoch,step,train_loss,val_loss\n"

# (file name, content, format forced or None, phrase the message must contain)
CASES = [
    ("metrics.csv", b"", None, "is empty"),
    ("metrics.csv", b"\n\n  \n", None, "is empty"),
    ("metrics.csv", b"", "lightning", "is empty"),
    ("metrics.csv", (CSV_HEADER + "0,1,1.0\n0,2,0.9,\n0,3,0.8,\n").encode(), "lightning", "line 2 has 3 cells"),
    ("log.csv", b"a,b\n1,2\n", "keras", "no loss or accuracy"),
    ("log.csv", b"width,height\n1,0.5\n", None, "columns found: 'width', 'height'"),
    ("log.jsonl", b'{"precision": 0.5}\n{"precision": 0.6}\n', None, "no loss or accuracy"),
    ("README.md", b"| run | val_loss 0.31 at epoch 4 |\nstep 3: train loss 1.2, val loss 1.4\n", None,
     "is a Markdown document, not a training log"),
    ("log.csv", b"epoch,train_loss,valid_loss\n\"0,1.0,1.1\n", "fastai", "no data rows"),
    ("blob.bin", bytes(range(256)) * 4, None, "not a training log regadvisor recognises"),
    ("metrics.csv", b"epoch,step,loss\x00\x01\x02\n", "lightning", "binary"),
    ("metrics.csv", "epoch,step,perte_entraînement\n0,1,1.0\n".encode("latin-1"), "lightning", "not UTF-8"),
    ("metrics.csv", ("epoch,step,train_loss\n" + "0,1,1.0\n" * 20000).encode() + b"0,2,\xe9\n",
     "lightning", "not UTF-8"),
    ("trainer_state.json", b'{"log_history": [{"loss": 1.0,', None, "ends early"),
    ("trainer_state.json", b'{"log_history": [}', None, "not valid JSON"),
    ("trainer_state.json", b'{"log_history": []}', None, "empty log_history"),
    ("trainer_state.json", b'[1, 2]', "hf", "no 'log_history'"),
    ("trainer_state.json", b"[" * 100000 + b"]" * 100000, "hf", "nested too deeply"),
    ("log.jsonl", b'{"step": 1, "loss": 1.0}\n{"step": 2, lo\n{"step": 3, "loss": 0.8}\n', "jsonl", "line 2"),
    ("log.jsonl", b'[1]\n[2]\n', "jsonl", "not an object"),
    ("log.json", b'{"loss": 1.0}', "json", "no per-epoch lists"),
    ("log.txt", b"nothing to see\n", None, "no metric lines"),
    ("log.txt", b"\xff\xfe\x00h\x00i", "text", "binary"),
]


@pytest.mark.parametrize("name, content, fmt, phrase", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES])
def test_malformed_input_is_a_log_read_error(tmp_path, name, content, fmt, phrase):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LogReadError) as err:
        read_log(path, fmt=fmt)
    message = str(err.value)
    assert phrase in message
    assert str(path) in message
    assert err.value.hint, "every read error says what to do"


def test_missing_path(tmp_path):
    with pytest.raises(LogReadError, match="does not exist"):
        read_log(tmp_path / "nope.csv")


def test_directory_without_a_log(tmp_path):
    (tmp_path / "README.md").write_text("# notes\n")
    with pytest.raises(LogReadError, match="holds no training log"):
        read_log(tmp_path)


def test_unknown_format_name_is_an_option_error(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("step,loss\n1,1.0\n")
    with pytest.raises(ConfigError, match="unknown log format 'excel'"):
        read_log(path, fmt="excel")


def test_fuzzed_bytes_never_escape_as_another_exception(tmp_path):
    import random

    rng = random.Random(0)
    seeds = [CSV_HEADER.encode() + b"0,1,1.0,\n0,2,,0.9\n", b'{"log_history": [{"loss": 1, "step": 1}]}',
             b"step 1: train loss 1.0, val loss 1.2\n", b'{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n']
    for i in range(200):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path = tmp_path / f"f{i}{rng.choice(['.csv', '.json', '.jsonl', '.txt'])}"
        path.write_bytes(bytes(data))
        try:
            read_log(path)
        except LogReadError:
            pass
