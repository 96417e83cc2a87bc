"""Signals from the facts that ``regadvisor probe`` measured (instruments and static inspection).

Pure functions of the Run: they read ``run.facts`` (plain numbers, strings and lists written by
:mod:`regadvisor.probe`) and never import torch. The instruments record raw quantities per
sampled step (:meth:`regadvisor.probe.hooks.Instruments.summary`); the medians over steps, the
first/last layer ratio and update over weight are derived here. A signal is ``None`` when the
run does not carry the fact (a log read by ``diagnose``, or a probe that could not measure it),
so rules that need it are reported as skipped.

Where the threshold ideas come from (the thresholds themselves live in the rule tables under ``rules/``):

* SageMaker Debugger built-in rules (AWS docs, "List of Debugger built-in rules"):
  ``VanishingGradient`` (mean |g| below 1e-7), ``DeadRelu`` (more than 50% of a layer's ReLU
  outputs dead), ``WeightUpdateRatio`` (‖Δw‖/‖w‖ outside [1e-8, 10]).
* AutoTrainer (Zhang et al., ICSE 2021): first/last layer gradient-norm ratio below 1e-3 is
  vanishing, above 70 exploding; ≥ 70% zero gradients in a layer is a dying ReLU.
* DeepDiagnosis (Wardat et al., ICSE 2022): ≥ 70% of a layer's activations ≤ 0 is dead,
  > 50% of pre-activations beyond ±5 is saturated.
* Wu & He (2018), "Group Normalization", ECCV: BatchNorm degrades below ~32 examples a batch.
* Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", ICLR: AdamW.
* Li et al. (2019), "Understanding the disharmony between dropout and batch normalization by
  variance shift", CVPR.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from ..numbers import finite_or_none, finite_values
from .registry import SignalContext, provides

SIGNAL_VALUES: dict[str, tuple[str, ...]] = {"batchnorm_replacement": ("groupnorm", "layernorm")}
"""The values a categorical signal can take, for signals that rules use as a recommendation's value
(``regadvisor explain groupnorm`` lists the rules whose value may come out as ``groupnorm``)."""

_WEIGHT_KINDS = {"linear", "conv", "embedding", "rnn", "attention"}
_COUPLED = {"adam", "adamax", "nadam", "radam"}


def _median(values: Any) -> float | None:
    """Median of the finite numbers in a raw per-step list (None when there are none)."""
    finite = finite_values(values) if isinstance(values, list) else []
    return statistics.median(finite) if finite else None


def _entries(facts: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The dict entries of a list-valued fact (``layer_stats``, ``activation_stats``, ...)."""
    value = facts.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


@provides({
    "probe_run": "True when the run comes from `regadvisor probe` (instrument facts exist), False for logs. "
                 "Rules on probe-only signals use it in `applies_if`.",
    "architecture": "Model family from its module types: transformer (attention), rnn, cnn, mlp or other.",
    "depth": "Number of weight layers (Linear/Conv/RNN layers/attention projections; embeddings excluded). "
             "Plain (non-residual, unnormalized) stacks beyond ~10-20 layers are hard to train "
             "(He et al. 2016, Deep Residual Learning, CVPR: the degradation problem).",
    "has_residual": "Whether identity skip connections (x + f(x)) were found (torch.fx trace, else module names).",
    "has_normalization": "Whether any BatchNorm/LayerNorm/RMSNorm/GroupNorm/InstanceNorm layer exists.",
    "max_dropout": "Largest p over the model's nn.Dropout modules (0.0 without any).",
    "params_per_example": "Trainable parameters per training example; large values mean capacity to memorize "
                          "(Zhang et al. 2017, Understanding deep learning requires rethinking generalization, "
                          "ICLR: networks with more parameters than examples fit random labels).",
    "transformer_post_norm": "True when nn.Transformer*Layer modules use post-norm (norm_first=False); pre-norm "
                             "trains more stably without warm-up (Xiong et al. 2020, On Layer Normalization in the "
                             "Transformer Architecture, ICML).",
})
def structure(ctx: SignalContext) -> dict[str, Any]:
    f = ctx.run.facts
    is_probe = ctx.run.format == "probe"
    tnf = f.get("transformer_norm_first")
    arch = f.get("architecture")
    return {
        "probe_run": is_probe,
        "architecture": arch if isinstance(arch, str) else None,
        "depth": int(f["depth"]) if finite_or_none(f.get("depth")) is not None else None,
        "has_residual": _bool(f.get("has_residual")),
        "has_normalization": _bool(f.get("has_normalization")),
        "max_dropout": finite_or_none(f.get("max_dropout")),
        "params_per_example": finite_or_none(f.get("params_per_example")),
        "transformer_post_norm": (not tnf) if isinstance(tnf, bool) else None,
    }


@provides({
    "grad_norm_first_last_ratio": "Median over instrumented steps of the gradient norm of the first weight layer "
                                  "divided by the last's (layers called as modules, in forward order; embeddings "
                                  "excluded: their gradient touches only the rows used; so are attention query/key "
                                  "projections, a side branch). AutoTrainer (Zhang, Zhai, "
                                  "Ma & Shen, ICSE 2021): below 1e-3 is vanishing, above 70 exploding.",
    "grad_ratio_layers": "The two layers that ratio compares, 'first → last'.",
    "min_layer_grad_mean_abs": "Smallest per-layer mean |gradient| (median over instrumented steps). SageMaker "
                               "Debugger's VanishingGradient rule fires below 1e-7.",
    "max_layer_zero_grad_fraction": "Largest fraction (median over instrumented steps) of exactly-zero gradient "
                                    "entries in one weight layer after the first. AutoTrainer (Zhang, Zhai, Ma & "
                                    "Shen, ICSE 2021) flags a dying ReLU at >= 70%. The first layer is left out: its "
                                    "zero gradients come from zero inputs (sparse features, padding), not from dead "
                                    "units upstream.",
})
def gradients(ctx: SignalContext) -> dict[str, Any]:
    layers = _entries(ctx.run.facts, "layer_stats")
    mean_abs = finite_values(_median(ly.get("grad_mean_abs")) for ly in layers)
    zeros = finite_values(_median(ly.get("grad_zero_fraction")) for ly in layers[1:])
    ratio, pair = _first_last_ratio(layers)
    return {
        "grad_norm_first_last_ratio": ratio,
        "grad_ratio_layers": pair,
        "min_layer_grad_mean_abs": min(mean_abs) if mean_abs else None,
        "max_layer_zero_grad_fraction": max(zeros) if zeros else None,
    }


ATTENTION_SCORE_LAYERS = re.compile(r"(?:^|\.)(?:query|key|q_proj|k_proj|q_lin|k_lin|wq|wk)$")
"""Separate query/key projections (the ``transformers`` library's BERT, GPT-NeoX, Llama and
DistilBERT names): they only shape the attention weights, a side branch, not the activations the
input flows through, and near initialization (attention close to uniform) their gradient is
orders of magnitude below the value projection's in the same block (a tiny BERT: 5e-5 against
1.7e-3), which would read as vanishing gradients in a model that learns. The ratio follows the
main path, so it leaves them out."""


def _first_last_ratio(layers: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    """Median over steps of the first compared layer's gradient norm over the last's, and their names.

    Layers never called as modules are left out when any was (MultiheadAttention's out_proj is
    used functionally), and so are embeddings and attention query/key projections
    (:data:`ATTENTION_SCORE_LAYERS`)."""
    called = [ly for ly in layers if ly.get("called")] or layers
    compared = [ly for ly in called if ly.get("kind") != "embedding"
                and not ATTENTION_SCORE_LAYERS.search(str(ly.get("name", "")))]
    if len(compared) < 2:
        return None, None
    first, last = compared[0], compared[-1]
    pairs = zip(first.get("grad_norm") or [], last.get("grad_norm") or [])
    ratios = [a / b for a, b in pairs if finite_or_none(a) is not None and finite_or_none(b) is not None and b > 0]
    return _median(ratios), f"{first.get('name')} → {last.get('name')}"


@provides({
    "max_dead_unit_fraction": "Largest fraction of dead units in one ReLU layer (a unit is dead when its output "
                              "is <= 0 for every example of the batch). SageMaker Debugger's DeadRelu rule fires "
                              "above 50% of a layer.",
    "max_nonpositive_activation_fraction": "Largest fraction of ReLU outputs <= 0 in one layer. DeepDiagnosis "
                                           "(Wardat et al., ICSE 2022) calls a layer dead at >= 70%.",
    "max_saturated_fraction": "Largest fraction of sigmoid/tanh pre-activations beyond +-5 in one layer. "
                              "DeepDiagnosis (Wardat et al., ICSE 2022) calls > 50% saturated.",
    "activation_std_drift": "Std of the last activation layer's output divided by the first's (activation "
                            "modules when there are two or more, else weight-layer outputs). Far below 1 means "
                            "signals shrink with depth, far above 1 that they blow up (Glorot & Bengio 2010, "
                            "Understanding the difficulty of training deep feedforward neural networks, AISTATS).",
})
def activations(ctx: SignalContext) -> dict[str, Any]:
    acts = _entries(ctx.run.facts, "activation_stats")
    if not acts:
        return {}
    dead = finite_values(_median(a.get("dead_fraction")) for a in acts)
    nonpos = finite_values(_median(a.get("nonpositive_fraction")) for a in acts)
    sat = finite_values(_median(a.get("saturated_fraction")) for a in acts)
    fn = [a for a in acts if a.get("kind") not in _WEIGHT_KINDS]
    seq = fn if len(fn) >= 2 else acts
    stds = finite_values(_median(a.get("std")) for a in seq)
    drift = None
    if len(stds) >= 2 and stds[0] > 0:
        drift = stds[-1] / stds[0]
    return {
        "max_dead_unit_fraction": max(dead) if dead else None,
        "max_nonpositive_activation_fraction": max(nonpos) if nonpos else None,
        "max_saturated_fraction": max(sat) if sat else None,
        "activation_std_drift": drift,
    }


@provides({
    "update_weight_ratio_median": "Median over weight tensors (two or more dimensions: biases start near zero, so "
                                  "their ratio says little) of each tensor's median ||dw||/||w|| per instrumented "
                                  "optimizer step. Around 1e-3 is "
                                  "the usual rule of thumb (Karpathy, CS231n notes); SageMaker Debugger's "
                                  "WeightUpdateRatio flags values outside [1e-8, 10].",
    "update_weight_ratio_min": "Smallest per-tensor ||dw||/||w|| (SageMaker Debugger WeightUpdateRatio: < 1e-8 "
                               "means the tensor is not learning).",
    "update_weight_ratio_max": "Largest per-tensor ||dw||/||w|| (SageMaker Debugger WeightUpdateRatio: > 10 "
                               "means updates swamp the weights).",
})
def updates(ctx: SignalContext) -> dict[str, Any]:
    tensors = [e for e in _entries(ctx.run.facts, "tensor_stats") if finite_or_none(e.get("dims")) and e["dims"] >= 2]
    vals = finite_values(_median([u / w for u, w in zip(e.get("update_norm") or [], e.get("weight_norm") or [])
                                  if finite_or_none(u) is not None and finite_or_none(w) and w > 0])
                         for e in tensors)
    if not vals:
        return {}
    return {
        "update_weight_ratio_median": statistics.median(vals),
        "update_weight_ratio_min": min(vals),
        "update_weight_ratio_max": max(vals),
    }


@provides({
    "batchnorm_min_batch_size": "Batch size seen by the model's BatchNorm layers (None without BatchNorm). Wu & He "
                                "(2018, Group Normalization, ECCV) show BatchNorm's error rising below ~32 a batch.",
    "batchnorm_replacement": "The batch-independent norm to use instead of BatchNorm: groupnorm for feature maps "
                             "(BatchNorm2d/3d, Wu & He 2018), layernorm for plain features (BatchNorm1d in "
                             "MLPs). None without BatchNorm.",
    "adam_coupled_weight_decay": "True when Adam/Adamax/NAdam/RAdam runs with weight_decay > 0 (torch adds it to "
                                 "the gradient: coupled L2). Loshchilov & Hutter (2019, ICLR) recommend AdamW's "
                                 "decoupled decay. Read from a log's optimizer/weight_decay facts too.",
    "decay_on_bias_or_norm": "True when a parameter group with weight decay > 0 contains biases or normalization "
                             "parameters (usually excluded: the no_decay groups of BERT/GPT training code).",
    "dropout_before_batchnorm": "True when a dropout with p > 0 runs before a BatchNorm in the forward pass: "
                                "the train/test variance shift of Li et al. (2019, CVPR).",
    "weight_decay": "The largest weight decay the optimizer applies (the probe's facts, or a log's "
                    "hyperparameters); None when unknown.",
})
def settings(ctx: SignalContext) -> dict[str, Any]:
    f = ctx.run.facts
    coupled = _bool(f.get("adam_coupled_weight_decay"))
    if coupled is None and isinstance(f.get("optimizer"), str):
        wd = finite_or_none(f.get("weight_decay"))
        if wd is not None:
            coupled = f["optimizer"].strip().lower() in _COUPLED and wd > 0
    bn = finite_or_none(f.get("batchnorm_batch_size"))
    return {
        "batchnorm_min_batch_size": int(bn) if bn is not None else None,
        "batchnorm_replacement": f.get("batchnorm_replacement"),
        "adam_coupled_weight_decay": coupled,
        "decay_on_bias_or_norm": _bool(f.get("decay_on_bias_or_norm")),
        "dropout_before_batchnorm": _bool(f.get("dropout_before_batchnorm")),
        "weight_decay": finite_or_none(f.get("weight_decay")),
    }


@provides({
    "best_weights_restored": "True when the run ended by loading its best evaluation's weights back (the "
                             "probe's early_stopping_patience knob): its final model is the best point, "
                             "whatever the curve did after it. None when unknown (logs).",
})
def stopper(ctx: SignalContext) -> dict[str, Any]:
    state = ctx.run.facts.get("early_stopping")
    return {"best_weights_restored": _bool(state.get("restored")) if isinstance(state, dict) else None}
