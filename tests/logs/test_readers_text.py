"""The plain-text reader: real modded-nanogpt logs, and one line of each common stdout style."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from regadvisor.errors import LogReadError
from regadvisor.logs.read import read_log
from regadvisor.logs.registry import ReadOptions
from regadvisor.logs.text import parse_line

REAL = Path(__file__).resolve().parent.parent / "fixtures" / "real-logs"


def test_llm_c_style_log():
    run = read_log(REAL / "text" / "modded_nanogpt_adamw.log")
    assert run.format == "text"
    assert len(run.series["train_loss"]) == 9536 and len(run.series["val_loss"]) == 76
    assert run.series["val_loss"].values[0] == pytest.approx(10.968871)
    assert run.series["val_loss"].values[-1] == pytest.approx(3.275959)
    assert run.series["val_loss"].steps[-1] == 9536
    assert set(run.series) == {"train_loss", "val_loss"}


def test_log_that_starts_with_its_own_python_source():
    run = read_log(REAL / "text" / "modded_nanogpt_muon.txt")
    # The script's `val_loss = 0.0`, `learning_rate : float = 0.0036` and f-strings must not count.
    assert set(run.series) == {"train_loss", "val_loss"}
    assert len(run.series["train_loss"]) == 6200 and len(run.series["val_loss"]) == 51
    assert run.series["val_loss"].values[0] == pytest.approx(10.9264)
    assert run.series["val_loss"].values[-1] == pytest.approx(3.2785)
    assert list(run.series["val_loss"].steps)[:2] == [0, 125]
    assert run.warnings == []


@pytest.mark.parametrize("line, step, epoch, metrics", [
    ("step 100: train loss 4.2, val loss 4.3", 100, None, [("train loss", 4.2), ("val loss", 4.3)]),
    ("s:12 trl:3.5", 12, None, [("trl", 3.5)]),
    ("step:125/6200 val_loss:4.2 train_time:285ms step_avg:nanms", 125, None, [("val_loss", 4.2)]),
    ("epoch=3 train_loss=0.5 val_loss=0.61", None, 3, [("train_loss", 0.5), ("val_loss", 0.61)]),
    ("Epoch 2 | loss: 0.41 | val acc 93.2%", None, 2, [("loss", 0.41), ("val acc", 0.932)]),
    ("\x1b[32mval_loss: 0.25\x1b[0m \x1b[1mval_acc: 0.9\x1b[0m", None, None, [("val_loss", 0.25), ("val_acc", 0.9)]),
    ("iter 0: loss 10.98, time 28876.19ms, mfu -100.00%", 0, None, [("loss", 10.98), ("mfu", -1.0)]),
    ("{'loss': 0.5, 'grad_norm': 1.2, 'learning_rate': 5e-05, 'epoch': 0.1}", None, 0.1,
     [("loss", 0.5), ("grad_norm", 1.2), ("learning_rate", 5e-05)]),
    ("1875/1875 [==============================] - 3s 1ms/step - loss: 0.2 - val_loss: 0.1", None, None,
     [("loss", 0.2), ("val_loss", 0.1)]),
    ("Train Epoch: 1 [0/60000 (0%)]\tLoss: 2.302", None, 1, [("Loss", 2.302)]),
    ("Test set: Average loss: 0.0331, Accuracy: 9890/10000 (99%)", None, None,
     [("test loss", 0.0331), ("test Accuracy", 0.989)]),
    ("[val] loss=0.52 acc=0.81 lr=0.01", None, None, [("val loss", 0.52), ("val acc", 0.81), ("lr", 0.01)]),
    ("Epoch 0: 100%|##| 1875/1875 [00:10<00:00, 180.00it/s, v_num=0, train_loss=0.123, val_loss=0.1]", None, 0,
     [("train_loss", 0.123), ("val_loss", 0.1)]),
    # transformers 5 prints every value quoted, runtimes beside the metrics
    ("{'eval_loss': '0.6943', 'eval_accuracy': '0.5', 'eval_runtime': '1.23', 'eval_samples_per_second': '100.2', "
     "'epoch': '1'}", None, 1, [("eval_loss", 0.6943), ("eval_accuracy", 0.5)]),
    (" 5%|#4  | 15/300 [01:39<30:06,  6.34s/it]{'loss': '0.6891', 'grad_norm': '7.696', 'epoch': '0.5'}", None, 0.5,
     [("loss", 0.6891), ("grad_norm", 7.696)]),
    # build-nanogpt's log.txt: step, split, loss
    ("250 val 3.5512", 250, None, [("val loss", 3.5512)]),
    ("19072 train 3.071291", 19072, None, [("train loss", 3.071291)]),
    ("Epoch 3, 训练损失: 0.5, 准确率：0.9", None, 3, [("训练损失", 0.5), ("准确率", 0.9)]),
    # rasbt/deeplearning-models: one line per split, its bare Loss the split's; Cost is the loss
    ("***Epoch: 001/040 | Valid. Acc.: 33.340% | Loss: 1.714", None, 1, [("Valid. Acc.", 0.3334), ("valid Loss", 1.714)]),
    ("Epoch: 001/020 | Batch 150/461 | Cost: 0.8999", 150, 1, [("Cost", 0.8999)]),
])
def test_metric_lines(line, step, epoch, metrics):
    options = ReadOptions(metric_map={"train_loss": "训练损失"})
    got_step, got_epoch, got = parse_line(line, options)
    assert (got_step, got_epoch) == (step, epoch)
    assert [k for k, _ in got] == [k for k, _ in metrics] and [v for _, v in got] == pytest.approx([v for _, v in metrics])


def test_pytorch_log_with_a_line_per_split():
    run = read_log(REAL / "text" / "dlm_alexnet_cifar10.txt")
    assert run.series["val_loss"].original_name == "valid Loss" and len(run.series["val_loss"]) == 40
    assert run.series["val_loss"].values[0] == pytest.approx(1.670)
    assert len(run.series["train_loss"]) == 160 and run.series["train_loss"].steps[1] == 50  # the batch lines


def test_transformers_training_summary_is_not_a_point(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("{'loss': '1.317', 'epoch': '0.5'}\n{'loss': '0.9', 'epoch': '1'}\n"
                    "{'train_runtime': '926.6', 'train_samples_per_second': '8.634', 'train_loss': '1.1', 'epoch': '1'}\n")
    assert list(read_log(path).series["train_loss"].values) == [1.317, 0.9]


def test_build_nanogpt_log(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("0 val 10.9492\n0 hella 0.2495\n0 train 10.955\n1 train 10.4\n250 val 6.5\n250 train 6.4\n")
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [10.9492, 6.5] and list(run.series["val_loss"].steps) == [0, 250]
    assert list(run.series["train_loss"].steps) == [0, 1, 250]
    assert set(run.series) == {"train_loss", "val_loss"}  # HellaSwag accuracy is not a known metric


def test_nan_loss_is_a_value_not_noise(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("step 1 loss 2.0\nstep 2 loss nan\nstep 3 loss inf\n")
    run = read_log(path)
    values = list(run.series["train_loss"].values)
    assert values[0] == 2.0 and math.isnan(values[1]) and math.isinf(values[2])
    assert any("NaN/inf" in w for w in run.warnings)


@pytest.mark.parametrize("line", [
    "    val_loss = 0.0",
    "    learning_rate : float = 0.0036 # comment",
    "        val_loss += loss",
    "print(f'step:{step} val_loss:{val_loss:.4f}')",
    "lr: 0.001",  # a printed config, not a curve point
    "using device: cuda:0",
    "| N/A   33C    P0             111W / 700W |   5789MiB / 81559MiB |",
    "==========================================",
])
def test_lines_that_are_not_metric_lines(line):
    assert parse_line(line, ReadOptions()) is None


def test_epoch_header_line_sets_the_epoch(tmp_path):
    path = tmp_path / "keras_stdout.txt"
    path.write_text("Epoch 1/2\n32/32 - 1s - loss: 0.9 - val_loss: 1.0\nEpoch 2/2\n32/32 - 1s - loss: 0.7 - val_loss: 0.9\n")
    run = read_log(path)
    assert list(run.series["val_loss"].epochs) == [1, 2]


def test_carriage_return_progress_updates_are_separate_lines(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(b"step 1 loss 2.0\rstep 2 loss 1.9\rstep 3 loss 1.8\n")
    assert list(read_log(path).series["train_loss"].steps) == [1, 2, 3]


def test_user_metric_name_in_text(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text("step 1 objective 2.0\nstep 2 objective 1.5\n")
    run = read_log(path, fmt="text", options=ReadOptions(metric_map={"train_loss": "objective"}))
    assert list(run.series["train_loss"].values) == [2.0, 1.5]


def test_names_that_are_not_english_are_listed_with_how_to_map_them(tmp_path):
    path = tmp_path / "train.log"
    path.write_text("".join(f"轮次 {e}, 损失: {1 / e:.3f}, 验证准确率: {0.5 + e / 100:.2f}\n" for e in range(1, 6)))
    with pytest.raises(LogReadError) as err:
        read_log(path)
    assert "names seen with numbers: '轮次' (5 lines), '损失' (5 lines), '验证准确率' (5 lines)" in str(err.value)
    assert "--metric val_loss=NAME" in str(err.value)
    run = read_log(path, options=ReadOptions(metric_map={"train_loss": "损失", "val_acc": "验证准确率"}))
    assert list(run.series["val_acc"].values) == [0.51, 0.52, 0.53, 0.54, 0.55]


def test_a_log_that_counts_but_names_nothing_known_is_read_as_it_is(tmp_path):
    path = tmp_path / "rl.log"
    path.write_text("".join(f"Episode {e} | reward: {10 * e} | length: {200 - e}\n" for e in range(1, 6)))
    run = read_log(path)
    assert list(run.series["reward"].values) == [10, 20, 30, 40, 50]
    assert list(run.series["reward"].steps) == [1, 2, 3, 4, 5]
    assert any("no loss or accuracy metric regadvisor knows" in w and "'reward'" in w for w in run.warnings)
    path.write_text("Episode 1 | reward: 10\nEpisode 2 | reward: 20\n")  # two lines may be prose
    with pytest.raises(LogReadError, match="no metric lines"):
        read_log(path)


def test_text_without_metric_lines_is_an_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\nthis run crashed before logging\n")
    with pytest.raises(LogReadError, match="no metric lines") as err:
        read_log(path)
    assert str(path) in str(err.value) and "--metric" in str(err.value)


def test_keras_stdout_matches_its_csvlogger():
    gen = Path(__file__).resolve().parent.parent / "fixtures" / "logs" / "keras"
    text, csv_run = read_log(gen / "stdout.txt"), read_log(gen / "training.log")
    assert text.format == "text"
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert list(text.series[name].values) == pytest.approx(list(csv_run.series[name].values), abs=5e-5)
    # The printed epochs count from 1 ("Epoch 1/12"); CSVLogger's from 0.
    assert list(text.series["val_loss"].epochs) == [e + 1 for e in csv_run.series["val_loss"].epochs]


def test_progress_bar_reprints_count_once(tmp_path):
    path = tmp_path / "lightning_stdout.txt"
    bar = "Epoch {e}: {p}%|####| {i}/4 [00:01<00:00, 9.0it/s, v_num=0, train_loss={t}{v}]"
    updates = [bar.format(e=0, p=25 * i, i=i, t=1.0 - 0.1 * i, v="") for i in range(1, 5)]
    updates += [bar.format(e=1, p=25 * i, i=i, t=0.6 - 0.1 * i, v=", val_loss=0.9") for i in range(1, 5)]
    path.write_text("\r".join(updates) + "\n")
    run = read_log(path)
    assert list(run.series["val_loss"].values) == [0.9] and list(run.series["val_loss"].epochs) == [1]
    assert len(run.series["train_loss"]) == 8
