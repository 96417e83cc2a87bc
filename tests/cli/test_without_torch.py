"""`diagnose` works where torch is not installed, and never imports it where it is."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REAL_LOGS, ROOT

# A meta-path finder that makes `import torch` fail as it does when torch is not installed.
NO_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return None
sys.meta_path.insert(0, _NoTorch())
sys.argv = ["regadvisor", *{args!r}]
from regadvisor.cli import main
try:
    main()
except SystemExit as exc:
    print("EXIT", exc.code, file=sys.stderr)
    print("TORCH_LOADED", "torch" in sys.modules, file=sys.stderr)
"""


def test_diagnose_runs_with_torch_unavailable():
    log = str(REAL_LOGS / "hf/trainer_state_multi_eval.json")
    args = ["diagnose", log, "--format", "json", "--fail-on", "never"]
    result = subprocess.run([sys.executable, "-c", NO_TORCH.format(args=args)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert "EXIT 0" in result.stderr, result.stderr
    assert '"verdict": "overfitting"' in result.stdout


def test_probe_without_torch_says_what_to_install():
    args = ["probe", str(ROOT / "examples/models/healthy.py")]
    result = subprocess.run([sys.executable, "-c", NO_TORCH.format(args=args)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert "EXIT 2" in result.stderr and "Traceback" not in result.stderr
    assert "needs PyTorch, which is not installed" in result.stderr and "regadvisor[torch]" in result.stderr


def test_diagnose_does_not_import_torch_even_when_installed():
    code = ("import sys, runpy; sys.argv=['regadvisor','diagnose',{log!r},'--fail-on','never'];\n"
            "try: runpy.run_module('regadvisor', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)")
    for log in ("lightning/mnist_cnn_metrics.csv", "tensorboard/mnist_cnn_version_0", "text/modded_nanogpt_muon.txt"):
        result = subprocess.run([sys.executable, "-c", code.format(log=str(REAL_LOGS / log))],
                                capture_output=True, text=True, cwd=ROOT, timeout=60)
        assert result.stderr.strip().endswith("NOTORCH"), (log, result.stderr)
