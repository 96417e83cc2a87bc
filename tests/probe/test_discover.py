"""Script discovery: missing functions, import failures and raising code become ScriptError
with the user's own traceback lines; knobs are passed only where the signature accepts them."""

from __future__ import annotations

import sys

import pytest

from regadvisor.errors import ScriptError, UserError
from regadvisor.probe import run_probe
from regadvisor.probe.discover import (
    accepted_kwargs,
    load_script,
    script_importable,
    unload_script,
)


def test_missing_build_data_names_it(write_script):
    path = write_script("def build_model():\n    return None\n")
    with pytest.raises(ScriptError) as err:
        load_script(path)
    msg = str(err.value)
    assert "build_data()" in msg and str(path.resolve()) in msg
    assert isinstance(err.value, UserError) and err.value.exit_code == 2


def test_missing_both_required(write_script):
    path = write_script("x = 1\n")
    with pytest.raises(ScriptError, match=r"missing required functions build_model\(\), build_data\(\)"):
        load_script(path)


def test_missing_file(tmp_path):
    with pytest.raises(ScriptError, match="not found"):
        load_script(tmp_path / "nope.py")


def test_syntax_error_quotes_the_line(write_script):
    path = write_script("def build_model():\n    return (\n\ndef build_data(:\n    pass\n")
    with pytest.raises(ScriptError) as err:
        load_script(path)
    msg = str(err.value)
    assert "SyntaxError" in msg and "script.py:" in msg and "importing the script" in msg


def test_import_error_quotes_the_import(write_script):
    path = write_script("import torch\nimport regadvisor_no_such_module_xyz\n")
    with pytest.raises(ScriptError) as err:
        load_script(path)
    msg = str(err.value)
    assert "ModuleNotFoundError" in msg
    assert "script.py:2 in <module>: import regadvisor_no_such_module_xyz" in msg


def test_exception_at_import(write_script):
    path = write_script("def helper():\n    raise ValueError('boom at import')\n\nhelper()\n")
    with pytest.raises(ScriptError) as err:
        load_script(path)
    msg = str(err.value)
    assert "ValueError: boom at import" in msg
    assert "script.py:4 in <module>: helper()" in msg
    assert "script.py:2 in helper: raise ValueError('boom at import')" in msg
    assert not any(name.startswith("_regadvisor_probe_script") for name in sys.modules)


def test_raising_forward_keeps_only_user_frames(write_script, tiny_data):
    path = write_script(tiny_data + '''
def check(x):
    raise RuntimeError("shape is wrong in my forward")

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
    def forward(self, x):
        return check(self.fc(x))

def build_model():
    return Net()
''')
    with pytest.raises(ScriptError) as err:
        run_probe(path, steps=2, device="cpu")
    msg = str(err.value)
    assert msg.startswith(str(path.resolve()) + ": forward raised RuntimeError: shape is wrong in my forward")
    assert "in forward: return check(self.fc(x))" in msg
    assert 'in check: raise RuntimeError("shape is wrong in my forward")' in msg
    assert "torch/nn" not in msg and "regadvisor/probe" not in msg


def test_build_model_raising(write_script, tiny_data):
    path = write_script(tiny_data + "def build_model():\n    return 1 / 0\n")
    with pytest.raises(ScriptError, match="build_model raised ZeroDivisionError"):
        run_probe(path, steps=1, device="cpu")


def test_build_model_wrong_type(write_script, tiny_data):
    path = write_script(tiny_data + "def build_model():\n    return 'not a model'\n")
    with pytest.raises(ScriptError, match="not a torch.nn.Module"):
        run_probe(path, steps=1, device="cpu")


def test_bad_batches(write_script):
    path = write_script(
        "import torch\nfrom torch import nn\n"
        "def build_data():\n    return [torch.zeros(4, 8)], []\n"
        "def build_model():\n    return nn.Linear(8, 2)\n"
    )
    with pytest.raises(ScriptError, match=r"not an \(inputs, targets\) pair"):
        run_probe(path, steps=1, device="cpu")


def test_sibling_import_and_cleanup(write_script, tmp_path, tiny_data):
    (tmp_path / "probe_sibling_helper.py").write_text("WIDTH = 16\n")
    path = write_script(tiny_data + '''
import probe_sibling_helper

def build_model():
    return nn.Sequential(nn.Linear(8, probe_sibling_helper.WIDTH), nn.ReLU(), nn.Linear(16, 2))
''')
    before = list(sys.path)
    result = run_probe(path, steps=2, device="cpu")
    assert result.steps == 2
    assert sys.path == before
    assert not any(name.startswith("_regadvisor_probe_") for name in sys.modules)
    sys.modules.pop("probe_sibling_helper", None)


def test_script_importable_removes_only_its_entry(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("")
    before = list(sys.path)
    with script_importable(path):
        assert sys.path[0] == str(tmp_path.resolve())
    assert sys.path == before


def test_load_and_unload(write_script, tiny_data):
    path = write_script(tiny_data + "def build_model():\n    return nn.Linear(8, 2)\n")
    with script_importable(path):
        script = load_script(path)
    assert script.build_optimizer is None and script.loss_fn is None
    assert script.module.__name__ in sys.modules
    unload_script(script)
    assert script.module.__name__ not in sys.modules


def test_accepted_kwargs_by_signature():
    def named(dropout=0.0, residual=False):
        pass

    def kwonly(*, normalization="batchnorm"):
        pass

    def var_kw(**kw):
        pass

    def positional_only(dropout, /):
        pass

    wanted = {"dropout": 0.3, "normalization": "layernorm"}
    assert accepted_kwargs(named, wanted) == ({"dropout": 0.3}, {"normalization": "layernorm"})
    assert accepted_kwargs(kwonly, wanted) == ({"normalization": "layernorm"}, {"dropout": 0.3})
    assert accepted_kwargs(var_kw, wanted) == (wanted, {})
    assert accepted_kwargs(positional_only, wanted) == ({}, wanted)


# ------------------------------------------------------------ what a hostile script can do (issue 15)


def test_sys_exit_zero_in_build_model_is_an_error_not_a_silent_pass(write_script, tiny_data):
    path = write_script(tiny_data + "import sys\ndef build_model():\n    sys.exit(0)\n")
    with pytest.raises(ScriptError, match=r"build_model called sys.exit\(0\)") as err:
        run_probe(path, steps=1, device="cpu")
    assert "in build_model: sys.exit(0)" in str(err.value) and "__name__" in str(err.value)


def test_sys_exit_with_a_message_at_import_is_a_script_error(write_script):
    path = write_script("import sys\nsys.exit('usage: train.py --lr LR')\n")
    with pytest.raises(ScriptError, match=r"importing the script called sys.exit\('usage: train.py --lr LR'\)"):
        load_script(path)


def test_sys_exit_through_the_cli_exits_2(write_script, tiny_data, cli):
    for body in ("import sys\nsys.exit('bad args')\n", tiny_data + "import sys\ndef build_model():\n    sys.exit(0)\n"):
        result = cli("probe", str(write_script(body)), "--steps", "1", "--device", "cpu")
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) >= 1 and "sys.exit" in result.stderr


def test_syntax_error_lists_no_importlib_frames(write_script, monkeypatch):
    path = write_script("def build_model():\n    return (\n")
    monkeypatch.chdir(path.parent)  # <frozen importlib._bootstrap> resolved against the cwd lands beside the script
    with pytest.raises(ScriptError) as err:
        load_script(path)
    frames = str(err.value).splitlines()[1:]
    assert frames and all(line.strip().startswith("script.py:") for line in frames), frames


def test_a_non_daemon_thread_started_by_the_script_does_not_hold_the_exit(write_script, tiny_data, tmp_path):
    import subprocess
    import time

    path = write_script(tiny_data + """
import threading, time
threading.Thread(target=time.sleep, args=(30,)).start()
def build_model():
    threading.Thread(target=time.sleep, args=(30,), daemon=False).start()
    return nn.Sequential(nn.Linear(8, 2))
""")
    code = ("import sys; from regadvisor.probe import run_probe; "
            f"run_probe({str(path)!r}, steps=1, device='cpu'); print('done')")
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "done" in result.stdout, result.stderr
    assert time.monotonic() - start < 25  # the threads sleep 30 s; waiting for them would take that long
