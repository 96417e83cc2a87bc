"""Hugging Face ``Trainer`` state: ``trainer_state.json`` (saved in every checkpoint folder).

``log_history`` is a list of dicts, one per ``Trainer.log`` call: training entries (``loss``,
``grad_norm``, ``learning_rate``), evaluation entries (``eval_loss``, ``eval_<metric>``, or
``eval_<set>_loss`` for several evaluation sets) and, last, a training summary (``train_loss``
is the mean over the whole run, ``train_runtime``, ...) that is not a point of any curve.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LogReadError
from ..model import Run
from ._io import head_text, json_number, load_json
from .facts import add_facts
from .registry import LogFormat, ReadOptions, RunBuilder, register

SUMMARY_MARKERS = ("train_runtime", "total_flos")
"""Keys of the end-of-training summary entry (its ``train_loss`` is the mean over the whole run)."""
_SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}
# Throughput and bookkeeping logged beside the metrics: not evidence about learning.
SKIP_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second", "total_flos", "num_input_tokens_seen")
_BOOKKEEPING = {"log_history", "stateful_callbacks", "is_local_process_zero", "is_world_process_zero",
                "is_hyper_param_search", "trial_name", "trial_params"}
_MODEL_CONFIG_KEYS = ("hidden_dropout_prob", "dropout", "attention_dropout", "attention_probs_dropout_prob",
                      "num_labels", "label_smoothing_factor")


def read_trainer_state(path: Path, options: ReadOptions) -> Run:
    """Read ``log_history`` into curves and the Trainer's top-level settings into facts."""
    state = load_json(path)
    if not isinstance(state, dict) or not isinstance(state.get("log_history"), list):
        raise LogReadError("has no 'log_history' list, so it is not a Trainer state file", source=path,
                           hint="pass the trainer_state.json that Trainer saves in each checkpoint folder")
    builder = RunBuilder(path, "hf", options)
    history = state["log_history"]
    if not history:
        raise LogReadError("has an empty log_history: the Trainer logged nothing", source=path,
                           hint="pass the state of a run that has trained for at least logging_steps steps")
    for entry in history:
        if not isinstance(entry, dict):
            raise LogReadError("log_history holds something other than objects", source=path,
                               hint="pass the trainer_state.json that Trainer saved, unedited")
        if any(marker in entry for marker in SUMMARY_MARKERS):
            summary = {k: v for k, v in entry.items() if k in _SUMMARY_KEYS and json_number(v) is not None}
            if summary:
                builder.facts["train_summary"] = summary
            continue
        step, epoch = json_number(entry.get("step")), json_number(entry.get("epoch"))
        for key, value in entry.items():
            number = json_number(value)
            if number is None or key in ("step", "epoch") or key.endswith(SKIP_SUFFIXES):
                continue
            builder.add(key, number, step, epoch)
    add_facts(builder.facts, {k: v for k, v in state.items() if k not in _BOOKKEEPING})
    _model_config_facts(builder, path.parent / "config.json")
    return builder.build()


def _model_config_facts(builder: RunBuilder, config: Path) -> None:
    """The model's dropout and label count from the ``config.json`` saved beside the state."""
    if not config.is_file():
        return
    try:
        data = load_json(config)
    except LogReadError as exc:
        builder.warn(f"{config.name} beside the state ignored: {exc.detail}")
        return
    if isinstance(data, dict):
        add_facts(builder.facts, {k: data[k] for k in _MODEL_CONFIG_KEYS if k in data}, keep_raw=False)
        labels = _label_count(data)
        if labels is not None:
            builder.facts.setdefault("num_classes", labels)


def _label_count(config: dict) -> int | None:
    """How many classes a transformers ``config.json`` names in ``id2label``.

    ``num_labels`` is a property there, not saved; ``id2label`` is, but every config carries the
    default two ``LABEL_0``/``LABEL_1`` entries whatever the head (a language model too), so two
    default labels count only when the architecture is a classifier
    (``...ForSequenceClassification``, ``...ForImageClassification``, ...).
    """
    id2label = config.get("id2label")
    if not isinstance(id2label, dict) or len(id2label) < 2:
        return None
    default = sorted(map(str, id2label.values())) == ["LABEL_0", "LABEL_1"]
    architectures = config.get("architectures")
    classifier = isinstance(architectures, list) and any(
        isinstance(a, str) and a.endswith("Classification") for a in architectures)
    return len(id2label) if classifier or not default else None


def _sniff(path: Path, head: bytes) -> float:
    if path.name == "trainer_state.json":
        return 0.95
    text = head_text(head)
    if text is None or not text.lstrip().startswith("{"):
        return 0.0
    return 0.9 if '"log_history"' in text else 0.0


register(LogFormat("hf", "Hugging Face Trainer trainer_state.json", _sniff, read_trainer_state))
