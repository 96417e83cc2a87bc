"""Scripts without the contract, run unmodified as programs: what is measured, how knobs and
budgets act on the script's own loop, and how each way a script can end is reported.

Each probe here starts a real child process (about 3 s for torch's import on a loaded 2-core
machine), so runs are shared through module fixtures where one run can answer several questions.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from regadvisor.errors import ConfigError, ScriptError
from regadvisor.probe.discover import defines_contract
from regadvisor.probe.program import run_script
from regadvisor.probe.trials import TrialRunner
from tests.conftest import ROOT

LOOP = '''
import argparse
import sys

import torch
import torch.nn.functional as F
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--noise", type=float, default=0.0)
args = parser.parse_args()
torch.manual_seed(args.seed)
x = torch.randn(256, 8, generator=torch.Generator().manual_seed(0))
y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
flip = torch.rand(256, generator=torch.Generator().manual_seed(1)) < args.noise
y[flip] = 1 - y[flip]
data = torch.utils.data.TensorDataset(x[:192], y[:192])
train = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True)
model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 2))
opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
for epoch in range(1, args.epochs + 1):
    model.train()
    for xb, yb in train:
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(x[192:])
        vl = F.cross_entropy(out, y[192:]).item()
        va = (out.argmax(1) == y[192:]).float().mean().item()
    print(f"epoch {epoch}: val_loss={vl:.5f} val_acc={va:.4f}")
'''


def _write(tmp: Path, body: str, name: str = "train.py") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(body))
    return path


@pytest.fixture(scope="module")
def loop(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("loop")
    marker = folder / "runs.txt"
    return _write(folder, f"import sys\nopen({str(marker)!r}, 'a').write(__name__ + ' ' + ' '.join(sys.argv[1:]) + '\\n')\n"
                  + LOOP)


@pytest.fixture(scope="module")
def plain(loop) -> object:
    return run_script(loop, args=["--epochs", "3"], output=loop.parent / "out.log")


# -- which scripts are programs -----------------------------------------------------------------


def test_the_contract_is_read_from_the_source_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    script = _write(tmp_path, f"open({str(marker)!r}, 'w').write('x')\nimport argparse\nargparse.ArgumentParser().parse_args()\n")
    assert defines_contract(script) is False and not marker.exists()
    contract = _write(tmp_path, "if True:\n    from helpers import build_model\ntry:\n    build_data = None\nexcept Exception:\n    pass\n",
                      "contract.py")
    assert defines_contract(contract) is True
    broken = _write(tmp_path, "def f(:\n    pass\n", "broken.py")
    with pytest.raises(ScriptError, match=r"is not valid Python at line 1"):
        defines_contract(broken)


def test_arguments_are_refused_for_a_contract_script():
    with pytest.raises(ConfigError, match="arguments after -- are for scripts run as programs"):
        run_script(ROOT / "examples/models/healthy.py", args=["--epochs", "3"], steps=1)


# -- one run, measured ---------------------------------------------------------------------------


def test_the_script_runs_once_as_main_with_its_own_arguments(loop, plain):
    assert (loop.parent / "runs.txt").read_text() == "__main__ --epochs 3\n"
    assert "epoch 3: val_loss=" in (loop.parent / "out.log").read_text()


def test_curves_come_from_the_steps_and_the_scripts_own_reporting(plain):
    run = plain.run
    assert plain.steps == 18 and plain.stop_reason == "epochs" and not plain.diverged
    val = run.get("val_loss")
    assert list(val.steps) == [6, 12, 18] and list(val.epochs) == [1.0, 2.0, 3.0]
    assert len(run.get("val_acc")) == 3 and all(0 <= v <= 1 for v in run.get("val_acc").values)
    loss = run.get("train_loss")
    assert list(loss.steps) == list(range(1, 19)) and 0.3 < loss.values[0] < 1.2  # ≈ ln 2 at the start
    assert len(run.get("grad_norm")) == 18 and all(g > 0 for g in run.get("grad_norm").values)


def test_facts_describe_the_model_the_optimizer_holds(plain):
    f = plain.run.facts
    assert [layer["name"] for layer in f["layer_stats"]] == ["0", "3"]
    assert all(g > 0 for layer in f["layer_stats"] for g in layer["grad_norm"])
    assert f["optimizer"] == "adam" and f["adam_coupled_weight_decay"] is True and f["dropout"] == 0.2
    assert f["normalization"] == "none" and f["batch_size"] == 32 and f["num_train_examples"] == 192
    assert f["task"] == "classification" and f["num_classes"] == 2 and f["steps_per_epoch"] == 6
    assert f["train_length"] == {"epochs": 3} and f["train_length_source"] == "the script's argument epochs=3"
    assert f["program"]["args"] == ["--epochs", "3"] and f["program"]["framework"] == "pytorch"


def test_a_model_loaded_whole_is_found_among_all_modules(tmp_path):
    """Unpickling skips ``nn.Module.__init__``, so the modules the script constructed do not
    include the loaded body; the new head alone holds only part of the optimizer's parameters."""
    body = LOOP.replace("model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 2))", """\
import io
buffer = io.BytesIO()
torch.save(nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.2)), buffer)
buffer.seek(0)
model = torch.load(buffer, weights_only=False)
model.append(nn.Linear(64, 2))""")
    result = run_script(_write(tmp_path, body), args=["--epochs", "1"], output=tmp_path / "out.log")
    assert [layer["name"] for layer in result.run.facts["layer_stats"]] == ["0", "3"]


def test_the_probing_process_never_imports_torch_and_a_seed_repeats(loop, plain):
    code = ("import sys; from regadvisor.probe.program import run_script; "
            f"r = run_script({str(loop)!r}, args=['--epochs', '3'], output={str(loop.parent / 'x.log')!r}); "
            "print('torch' in sys.modules, list(r.run.get('val_loss').values))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.stdout.strip() == f"False {list(plain.run.get('val_loss').values)}", out.stderr


# -- seeds, budgets, knobs ------------------------------------------------------------------------


def test_other_seeds_shift_the_scripts_own(loop, plain):
    shifted = run_script(loop, args=["--epochs", "3"], output=loop.parent / "out.log", seed=1)
    assert list(shifted.run.get("val_loss").values) != list(plain.run.get("val_loss").values)


def test_budgets_stop_at_the_optimizer_step_after_the_last_evaluation(loop):
    steps = run_script(loop, args=["--epochs", "4"], output=loop.parent / "out.log", steps=8)
    assert steps.steps == 8 and steps.stop_reason == "steps"
    assert list(steps.run.get("val_loss").steps) == [6]
    epochs = run_script(loop, args=["--epochs", "4"], output=loop.parent / "out.log", epochs=2)
    assert epochs.steps == 12 and epochs.stop_reason == "epochs"
    assert list(epochs.run.get("val_loss").steps) == [6, 12]
    assert epochs.run.facts["train_length"] == {"epochs": 4}  # the real length is still the script's


def test_knobs_are_applied_by_standard_means(loop):
    result = run_script(loop, args=["--epochs", "2"], output=loop.parent / "out.log",
                        knobs={"dropout": 0.45, "weight_decay": 0.05, "normalization": "layernorm"})
    f = result.run.facts
    assert f["dropout"] == 0.45 and f["knobs_applied"]["dropout"] == "set p=0.45 on 1 existing dropout module(s)"
    assert f["optimizer"] == "adamw" and f["weight_decay"] == 0.05
    assert f["decay_on_bias_or_norm"] is False and f["adam_coupled_weight_decay"] is False
    assert "rebuilt Adam as AdamW" in f["knobs_applied"]["weight_decay"]
    assert "needs a change to its model code" in f["knobs_not_applied"]["normalization"]


def test_clipping_acts_before_each_step(loop, plain):
    frozen = run_script(loop, args=["--epochs", "3"], output=loop.parent / "out.log",
                        knobs={"optimizer": "sgd", "grad_clip_norm": 1e-9})  # Adam would rescale any clip away
    f = frozen.run.facts
    assert f["optimizer"] == "sgd" and f["knobs_applied"]["optimizer"] == "rebuilt Adam as SGD with the same parameter groups"
    assert f["grad_clip_norm"] == 1e-9
    # what is left is the weight decay, lr x 1e-4 = 1e-6 a step; unclipped steps move weights ~1e-2
    assert max(_update_ratios(frozen)) < 1e-5 < 1e-3 < min(_update_ratios(plain))


def _update_ratios(result) -> list[float]:
    """||dw|| / ||w|| of every weight matrix on every instrumented step."""
    return [u / w for t in result.run.facts["tensor_stats"] if t["dims"] >= 2
            for u, w in zip(t["update_norm"], t["weight_norm"])]


def test_early_stopping_ends_a_run_whose_validation_turns(loop):
    result = run_script(loop, args=["--epochs", "30", "--noise", "0.45"], output=loop.parent / "out.log",
                        knobs={"early_stopping_patience": 2}, stop_past_best=False)
    assert result.stop_reason == "early-stopping" and result.steps < 30 * 6
    es = result.run.facts["early_stopping"]
    vl = result.run.get("val_loss")
    assert es["stopped"] and vl.steps[-1] - es["best_step"] == 2 * 6
    assert es["best_val_loss"] == min(vl.values)


def test_a_trial_is_a_fresh_process_returning_its_curve(loop):
    log = loop.parent / "trials.log"
    runner = TrialRunner(loop, {}, {"epochs": 3}, "cpu", True,
                         program={"args": ["--epochs", "3"], "trial_output": str(log)})
    curve = runner.run({"dropout": 0.5}, seed=2, on_evaluation=lambda point: point.step >= 12)
    assert curve.stop_reason == "pruned" and curve.eval_steps == [6, 12] and curve.steps == 12
    assert curve.config == {"dropout": 0.5} and curve.not_applied == {}
    assert len(curve.score) == 2 and all(0 <= s <= 100 for s in curve.score)
    assert log.read_text().count("epoch 1: val_loss=") == 1


# -- how a script ends -------------------------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    from tests.conftest import run_cli

    return run_cli("probe", *args, cwd=cwd)


def test_output_passes_through_on_stderr_and_stdout_stays_the_report(loop, tmp_path):
    shown = _cli(str(loop), "-f", "json", "--", "--epochs", "2", cwd=tmp_path)
    assert shown.returncode in (0, 1), shown.stderr
    report = json.loads(shown.stdout)
    assert report["run"]["facts"]["probe_steps"] == 12
    assert "epoch 2: val_loss=" in shown.stderr  # and stdout held nothing but the JSON report
    log = tmp_path / "script.log"
    quiet = _cli(str(loop), "-f", "json", "--script-log", str(log), "--", "--epochs", "1", cwd=tmp_path)
    assert "val_loss=" not in quiet.stderr and "epoch 1: val_loss=" in log.read_text()
    assert f"the script's own output is in {log}" in json.loads(quiet.stdout)["notes"]


@pytest.mark.parametrize(("body", "message"), [
    ("import torch\nraise ValueError('my data path is wrong')\n",
     "the script raised ValueError: my data path is wrong"),
    ("import argparse\nargparse.ArgumentParser().parse_args()\n", "the script exited with sys.exit(2)"),
    ("import sys\nsys.exit(0)\n", "the script called sys.exit(0) without an optimizer step"),
    ("import torch\nprint('loss: 0.5')\n", "the script ran to its end without an optimizer step"),
])
def test_a_script_that_does_not_train_exits_2_with_its_own_words(tmp_path, body, message):
    script = _write(tmp_path, body)
    result = _cli(str(script), "--", "--unknown" if "argparse" in body else "--x", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    if "ValueError" in body:
        assert "Traceback (most recent call last)" in result.stderr and 'train.py", line 2, in <module>' in result.stderr
        assert "runpy" not in result.stderr and "regadvisor/probe" not in result.stderr
    if "argparse" in body:
        assert "error: unrecognized arguments: --unknown" in result.stderr  # the script's own message


def test_exit_zero_after_training_is_the_scripts_normal_end(loop, tmp_path):
    script = _write(tmp_path, LOOP + "sys.exit(0)\n")
    result = run_script(script, args=["--epochs", "1"], output=tmp_path / "out.log")
    assert result.steps == 6 and result.stop_reason == "epochs"
    failing = _write(tmp_path, LOOP + "sys.exit(3)\n", "failing.py")
    with pytest.raises(ScriptError, match=r"the script exited with sys.exit\(3\)"):
        run_script(failing, args=["--epochs", "1"], output=tmp_path / "out.log")


def test_ctrl_c_in_the_script_keeps_what_was_measured(tmp_path):
    script = _write(tmp_path, LOOP.replace('    print(f"epoch', '    if epoch == 2:\n        raise KeyboardInterrupt\n    print(f"epoch'))
    result = run_script(script, args=["--epochs", "4"], output=tmp_path / "out.log")
    assert result.interrupted and result.stop_reason == "interrupted" and result.steps == 12
    assert len(result.run.get("val_loss")) == 1


def test_closure_steps_and_scaled_losses_are_measured(tmp_path):
    body = LOOP.replace('''        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()''', '''        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            scaler.scale(loss).backward()
            return loss
        opt.step(closure)''').replace("for epoch in range", "scaler = torch.amp.GradScaler('cpu', init_scale=1024.0)\nfor epoch in range")
    result = run_script(_write(tmp_path, body), args=["--epochs", "1"], output=tmp_path / "out.log")
    loss = result.run.get("train_loss").values
    assert len(loss) == 6 and 0.3 < loss[0] < 1.2  # unscaled: ln 2, not 1024 x ln 2
    assert all(g > 0 and math.isfinite(g) for g in result.run.get("grad_norm").values)


@pytest.mark.parametrize("writer", ["csv", "tensorboard"])
def test_a_log_file_the_script_writes_is_its_validation_curve(tmp_path, writer):
    if writer == "tensorboard":
        pytest.importorskip("tensorboard")
        body = LOOP.replace("for epoch in range", "from torch.utils.tensorboard import SummaryWriter\n"
                            "log = SummaryWriter('runs/exp')\nfor epoch in range").replace(
            '    print(f"epoch {epoch}: val_loss={vl:.5f} val_acc={va:.4f}")',
            '    log.add_scalar("val/loss", vl, epoch)\n    log.add_scalar("val/acc", va, epoch)') + "log.close()\n"
    else:
        body = LOOP.replace('    print(f"epoch {epoch}: val_loss={vl:.5f} val_acc={va:.4f}")', '''    with open("metrics.csv", "a") as f:
        f.write("epoch,val_loss,val_acc\\n" if epoch == 1 else "")
        f.write(f"{epoch},{vl},{va}\\n")''')
    script = _write(tmp_path, body)
    result = subprocess.run([sys.executable, "-c", "from regadvisor.probe.program import run_script; import json; "
                             f"r = run_script({str(script)!r}, args=['--epochs', '3']); "
                             "print(json.dumps([list(r.run.get('val_loss').steps), r.run.facts['curves_file']]))"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=180)
    steps, source = json.loads(result.stdout.splitlines()[-1])
    assert steps == [6, 12, 18]  # each epoch's point at the end of that epoch
    assert Path(source).name.startswith("metrics.csv" if writer == "csv" else "events.out.tfevents")
