"""Loss components (YOLO's box/cls/dfl) are judged one by one, and a YOLO run by its mAP."""

from __future__ import annotations

import pytest

from regadvisor import api
from regadvisor.config import Settings
from tests.conftest import REAL_LOGS

HEADER = ("epoch,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
          "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2\n")


def _curve(start, low, end, n, at):
    """Falls from ``start`` to ``low`` at epoch ``at``, then moves linearly to ``end``."""
    return [start + (low - start) * e / at if e <= at else low + (end - low) * (e - at) / (n - 1 - at)
            for e in range(n)]


def test_parts_moving_apart_are_judged_apart(tmp_path):
    """box +13% and dfl +11% after epoch 15 while cls falls 24%: the sum stays within 2%."""
    n = 40
    box, dfl = _curve(1.6, 1.2, 1.356, n, 15), _curve(1.5, 1.1, 1.221, n, 15)
    cls = _curve(2.4, 1.6, 1.6 * 0.76, n, 15)
    train = _curve(2.0, 1.0, 0.7, n, 15)
    rows = [f"{e},{train[e]:.4f},{train[e]:.4f},{train[e]:.4f},0.6,0.5,0.55,{0.3 + 0.002 * e:.4f},"
            f"{box[e]:.4f},{cls[e]:.4f},{dfl[e]:.4f},0.001,0.001,0.001\n" for e in range(n)]
    path = tmp_path / "results.csv"
    path.write_text(HEADER + "".join(rows))
    total = [b + c + d for b, c, d in zip(box, cls, dfl)]
    assert abs(total[-1] / min(total) - 1) < 0.02
    report = api.diagnose(path, settings=Settings())
    assert report.signals["monitor"] == "val_map"
    assert report.signals["val_loss_part"] == "val/box_loss"
    assert report.signals["val_loss_part_worsening_rel"] == pytest.approx(0.13, abs=0.01)
    assert report.verdict == "overfitting" and "OF008" in {f.rule_id for f in report.fired()}


@pytest.mark.parametrize("run, part, fires", [
    ("yolo/dental_tooth_yolov8/results.csv", "val/cls_loss", True),  # cls +29% while every training loss falls
    ("yolo/ppe_detection/results.csv", "val/box_loss", False),  # box +2%: a noisy plateau
    ("tensorboard/bone_cancer_yolo11_seg", "val/box_loss", False),  # the parts read from TensorBoard
])
def test_real_yolo_runs(run, part, fires):
    report = api.diagnose(REAL_LOGS / run, settings=Settings())
    assert report.signals["monitor"] == "val_map" and report.signals["val_loss_part"] == part
    assert ("OF008" in {f.rule_id for f in report.fired()}) is fires
