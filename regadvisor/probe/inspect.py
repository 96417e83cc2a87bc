"""Static facts about the user's model, data and optimizer, for ``Run.facts``.

Every key below is plain JSON data (numbers, strings, booleans, lists, dicts, ``None`` when not
known). Keys written by :func:`model_facts`:

``architecture``
    ``"transformer"`` (any attention module), else ``"rnn"`` (RNN/LSTM/GRU), else ``"cnn"``
    (any convolution), else ``"mlp"`` (Linear layers), else ``"other"``.
``num_parameters`` / ``num_trainable_parameters``
    element counts.
``depth``
    number of weight layers: modules directly owning a ≥ 2-D parameter, embeddings excluded,
    an RNN counting ``num_layers``, a MultiheadAttention counting its input projection (its
    ``out_proj`` Linear counts separately).
``has_residual`` / ``residual_evidence``
    whether identity skip connections exist, and how that was decided. Heuristic, in order:
    (1) ``torch.fx.symbolic_trace`` the model and look for an ``add`` whose two operands are a
    tensor ``a`` and a tensor computed *from* ``a`` through at least one module or weight op
    (``x + f(x)``; ``tok_emb + pos_emb`` does not count); (2) if tracing fails (data-dependent
    control flow) or finds none, look for modules known to contain residuals
    (``nn.TransformerEncoderLayer``/``DecoderLayer``) or whose class name says so (``Residual``,
    ``ResBlock``, ``BasicBlock``, ``Bottleneck``, ``Skip``).
``normalization_layers``
    sorted list of kinds present (``batchnorm``, ``layernorm``, ``rmsnorm``, ``groupnorm``,
    ``instancenorm``); ``normalization_counts`` kind → count; ``has_normalization`` bool.
``batchnorm_replacement``
    the batch-independent norm to use instead of the model's BatchNorm layers (``None`` without
    them): ``groupnorm`` when any normalizes feature maps (``BatchNorm2d``/``3d``, the setting of
    Wu & He 2018), else ``layernorm``, the per-example norm of MLPs. Wu & He's 32 groups on plain
    ``(N, C)`` features leave 2 numbers per statistic at C = 64 and break an MLP outright
    (measured in :data:`regadvisor.reference.norms.FEATURE_GROUP_SIZE`).
``transformer_norm_first``
    for ``nn.Transformer*Layer``: ``True`` if all are pre-norm, ``False`` if any is post-norm,
    ``None`` when there are none.
``dropout_layers``
    list of ``{name, kind, p}`` for dropout modules (``nn.Dropout*``, ``nn.AlphaDropout``);
    ``max_dropout`` the largest ``p`` (0.0 when none); ``attention_dropout`` the largest
    ``MultiheadAttention.dropout``.

The runner adds the knob names as facts so recommendations can show the current setting:
``dropout`` (= ``max_dropout``), ``normalization`` (the one kind present, ``"none"`` or
``"mixed"``), ``grad_clip_norm`` (the knob, ``None`` when the probe did not clip),
``early_stopping_patience`` (the knob, ``None`` when the probe did not stop early) and
``label_smoothing`` (with the default loss; ``None`` with the script's own ``loss_fn``).

Keys written by :func:`forward_order_facts` from the module call order of one training forward:
``dropout_before_batchnorm`` (a dropout with p > 0 runs before some BatchNorm in the same
forward: the variance shift of Li et al. 2019, "Understanding the disharmony between dropout
and batch normalization by variance shift", CVPR) and ``dropout_batchnorm_pairs`` (list of
``{dropout, batchnorm, modules_between}``, each dropout paired with the next BatchNorm).

Keys written by :func:`optimizer_facts`: ``optimizer`` (class name, lower case),
``optimizer_class``, ``learning_rate`` (first group), ``weight_decay`` (largest over groups),
``param_groups`` (list of ``{lr, weight_decay, tensors, elements}`` plus ``momentum``/``betas``
where present), ``decay_on_bias`` / ``decay_on_norm`` / ``decay_on_bias_or_norm`` (a group
with weight decay > 0 contains a bias or a normalization parameter; decaying them is usually
harmful, e.g. Goyal et al. 2017 and the common "no_decay" groups of BERT/GPT training scripts),
``adam_coupled_weight_decay`` (``Adam``/``Adamax``/``NAdam``/``RAdam`` with weight_decay > 0
and no ``decoupled_weight_decay``: torch adds ``wd * w`` to the gradient, an L2 penalty that
Adam's per-coordinate scaling weakens for large-gradient weights; Loshchilov & Hutter 2019
recommend AdamW).

Keys written by :func:`data_facts`: ``batch_size`` (first training batch), ``task``
(``classification`` when targets are integer class labels and the output has a class
dimension, else ``regression``/``unknown``), ``num_classes``, ``num_train_examples``
(counted over the first full epoch, else ``len(dataset)`` of a DataLoader, else
``len(batches) * batch_size``; ``None`` when unknown), ``params_per_example``, and
``batchnorm_batch_size`` (the batch size BatchNorm layers see, ``None`` without BatchNorm).
"""

from __future__ import annotations

import operator
import re
import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..reference.dropout import ChannelDropout as _RefChannelDropout
from ..reference.dropout import Dropout as _RefDropout
from .hooks import layer_kind, weight_layers

_NORM_PATTERNS = (
    ("batchnorm", re.compile(r"batch_?norm", re.IGNORECASE)),
    ("layernorm", re.compile(r"layer_?norm", re.IGNORECASE)),
    ("rmsnorm", re.compile(r"rms_?norm", re.IGNORECASE)),
    ("groupnorm", re.compile(r"group_?norm", re.IGNORECASE)),
    ("instancenorm", re.compile(r"instance_?norm", re.IGNORECASE)),
)
_RESIDUAL_NAMES = re.compile(r"resid|resblock|resnetblock|basicblock|bottleneck|skip", re.IGNORECASE)
_DROPOUT = (nn.modules.dropout._DropoutNd, _RefDropout, _RefChannelDropout)
_COUPLED = ("Adam", "Adamax", "NAdam", "RAdam")


def norm_kind(module: nn.Module) -> str | None:
    """The normalization kind of ``module`` (``batchnorm``, ``layernorm``, ...) or ``None``."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return "batchnorm"
    if isinstance(module, nn.LayerNorm):
        return "layernorm"
    if isinstance(module, nn.GroupNorm):
        return _group_norm_kind(module)
    if isinstance(module, nn.modules.instancenorm._InstanceNorm):
        return "instancenorm"
    if hasattr(nn, "RMSNorm") and isinstance(module, nn.RMSNorm):
        return "rmsnorm"
    name = type(module).__name__
    for kind, pat in _NORM_PATTERNS:
        if pat.search(name):
            return _group_norm_kind(module) if kind == "groupnorm" else kind
    return None


def _group_norm_kind(module: nn.Module) -> str:
    """``layernorm`` for a GroupNorm with one group (LayerNorm over ``(C, *spatial)``, Wu & He 2018,
    Figure 2; what ``swap_norms(model, "layernorm")`` puts in a BatchNorm's place), else ``groupnorm``."""
    return "layernorm" if getattr(module, "num_groups", None) == 1 else "groupnorm"


def architecture(model: nn.Module) -> str:
    """``transformer`` > ``rnn`` > ``cnn`` > ``mlp`` > ``other``, from the module types present."""
    kinds = set()
    for m in model.modules():
        name = type(m).__name__
        if isinstance(m, (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)) \
                or "attention" in name.lower():
            kinds.add("transformer")
        elif isinstance(m, (nn.RNNBase, nn.RNNCellBase)):
            kinds.add("rnn")
        elif isinstance(m, nn.modules.conv._ConvNd):
            kinds.add("cnn")
        elif isinstance(m, nn.Linear):
            kinds.add("mlp")
    for k in ("transformer", "rnn", "cnn", "mlp"):
        if k in kinds:
            return k
    return "other"


def depth(model: nn.Module) -> int:
    """Number of weight layers (see the module docstring for what counts)."""
    n = 0
    for _, m in weight_layers(model):
        kind = layer_kind(m)
        if kind == "embedding":
            continue
        n += int(getattr(m, "num_layers", 1)) if kind == "rnn" else 1
    return n


def _fx_residual(model: nn.Module) -> tuple[bool | None, str]:
    try:
        from torch import fx

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "unknown"
        return None, f"torch.fx could not trace the model ({type(exc).__name__})"
    weight_fns = {torch.nn.functional.linear, torch.matmul, torch.nn.functional.conv1d,
                  torch.nn.functional.conv2d, torch.nn.functional.conv3d, operator.matmul, torch.bmm}
    ancestors: dict[Any, set[Any]] = {}
    for node in gm.graph.nodes:
        acc: set[Any] = set()
        for inp in node.all_input_nodes:
            acc.add(inp)
            acc |= ancestors[inp]
        ancestors[node] = acc
    is_add = {operator.add, operator.iadd, torch.add}
    for node in gm.graph.nodes:
        add = (node.op == "call_function" and node.target in is_add) or (
            node.op == "call_method" and node.target in ("add", "add_"))
        if not add:
            continue
        ins = [a for a in node.args[:2] if hasattr(a, "all_input_nodes")]
        if len(ins) != 2:
            continue
        for a, b in ((ins[0], ins[1]), (ins[1], ins[0])):
            if a in ancestors[b]:
                between = [n for n in ancestors[b] | {b} if a in ancestors[n]]
                if any(n.op == "call_module" or (n.op == "call_function" and n.target in weight_fns)
                       for n in between):
                    return True, f"torch.fx: '{node.name}' adds a tensor to a function of itself (x + f(x))"
    return False, "torch.fx traced the model and found no x + f(x) addition"


def residual(model: nn.Module) -> tuple[bool, str]:
    """``(has_residual, evidence)`` by the heuristic in the module docstring."""
    found, how = _fx_residual(model)
    if found:
        return True, how
    for name, m in model.named_modules():
        if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
            return True, f"module {name or '(root)'} ({type(m).__name__}) has built-in residual connections"
        if _RESIDUAL_NAMES.search(type(m).__name__):
            return True, f"module class {type(m).__name__} is named as a residual block"
        if _hf_block(m):
            return True, f"module {name} ({type(m).__name__}) is a transformers block, which adds its input back"
    return False, how + "; no residual-named modules"


def _hf_block(module: nn.Module) -> bool:
    """A transformer block of the ``transformers`` library (``BertLayer``, ``GPT2Block``,
    ``LlamaDecoderLayer``, ``T5Block``, ``ViTLayer``: a ``*Layer``/``*Block`` class of
    ``transformers.models`` holding an attention module). Every such block adds its input back
    around attention and the feed-forward part (pre- or post-norm); torch.fx cannot trace these
    models (data-dependent control flow), so their residuals are known by their classes."""
    cls = type(module)
    return cls.__module__.startswith("transformers.models.") and cls.__name__.endswith(("Layer", "Block")) \
        and any("attention" in type(c).__name__.lower() for c in module.children())


def model_facts(model: nn.Module) -> dict[str, Any]:
    """Architecture, size, depth, residuals, normalization and dropout facts of ``model``."""
    counts: dict[str, int] = {}
    for m in model.modules():
        k = norm_kind(m)
        if k is not None and not any(norm_kind(c) for c in m.children()):
            counts[k] = counts.get(k, 0) + 1
    drop = [
        {"name": n, "kind": type(m).__name__, "p": float(m.p)}
        for n, m in model.named_modules() if isinstance(m, _DROPOUT)
    ]
    attn_drop = [float(m.dropout) for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    tl = [m for m in model.modules() if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer))]
    batchnorms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    has_res, res_how = residual(model)
    params = list(model.parameters())
    return {
        "architecture": architecture(model),
        "num_parameters": int(sum(p.numel() for p in params)),
        "num_trainable_parameters": int(sum(p.numel() for p in params if p.requires_grad)),
        "depth": depth(model),
        "has_residual": has_res,
        "residual_evidence": res_how,
        "normalization_layers": sorted(counts),
        "normalization_counts": dict(sorted(counts.items())),
        "has_normalization": bool(counts),
        "batchnorm_replacement": (
            None if not batchnorms
            else "groupnorm" if any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)) for m in batchnorms)
            else "layernorm"
        ),
        "transformer_norm_first": (all(bool(getattr(m, "norm_first", False)) for m in tl) if tl else None),
        "dropout_layers": drop,
        "max_dropout": max([d["p"] for d in drop], default=0.0),
        "attention_dropout": max(attn_drop) if attn_drop else None,
    }


class CallOrder:
    """Records the order in which leaf modules run during one forward pass.

    Use as a context manager around a forward call; hooks are removed on exit, even on error.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.calls: list[tuple[str, nn.Module]] = []
        self._handles: list[Any] = []

    def __enter__(self) -> CallOrder:  # noqa: PYI034 - typing.Self needs Python 3.11
        try:
            for name, m in self.model.named_modules():
                if next(m.children(), None) is None:
                    self._handles.append(m.register_forward_pre_hook(self._hook(name or "(root)", m)))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _hook(self, name: str, mod: nn.Module):
        calls = self.calls

        def hook(_m: nn.Module, _inputs: Any) -> None:
            calls.append((name, mod))

        return hook

    def __exit__(self, *exc: object) -> None:
        while self._handles:
            self._handles.pop().remove()


def forward_order_facts(calls: list[tuple[str, nn.Module]]) -> dict[str, Any]:
    """``dropout_before_batchnorm`` and ``dropout_batchnorm_pairs`` from a leaf call order."""
    pairs = []
    for i, (name, m) in enumerate(calls):
        if isinstance(m, _DROPOUT) and m.p > 0:
            for j in range(i + 1, len(calls)):
                if norm_kind(calls[j][1]) == "batchnorm":
                    pairs.append({"dropout": name, "batchnorm": calls[j][0], "modules_between": j - i - 1})
                    break
    return {"dropout_before_batchnorm": bool(pairs), "dropout_batchnorm_pairs": pairs}


def optimizer_facts(optimizer: torch.optim.Optimizer, model: nn.Module) -> dict[str, Any]:
    """Optimizer class, parameter groups and where weight decay lands (module docstring)."""
    norm_params: set[int] = set()
    for m in model.modules():
        if norm_kind(m) is not None:
            norm_params.update(id(p) for p in m.parameters(recurse=False))
    names = {id(p): n for n, p in model.named_parameters()}
    groups = []
    on_bias = on_norm = False
    coupled = False
    cls = type(optimizer).__name__
    for g in optimizer.param_groups:
        wd = float(g.get("weight_decay", 0.0) or 0.0)
        entry: dict[str, Any] = {
            "lr": float(g["lr"]) if not isinstance(g.get("lr"), torch.Tensor) else float(g["lr"].item()),
            "weight_decay": wd,
            "tensors": len(g["params"]),
            "elements": int(sum(p.numel() for p in g["params"])),
        }
        if "momentum" in g:
            entry["momentum"] = float(g["momentum"])
        if "betas" in g:
            entry["betas"] = [float(b) for b in g["betas"]]
        groups.append(entry)
        if wd > 0:
            for p in g["params"]:
                name = names.get(id(p), "")
                if id(p) in norm_params:
                    on_norm = True
                elif name.endswith("bias") or p.dim() == 1:
                    on_bias = True
            if cls in _COUPLED and not g.get("decoupled_weight_decay", False):
                coupled = True
    return {
        "optimizer": cls.lower(),
        "optimizer_class": cls,
        "learning_rate": groups[0]["lr"] if groups else None,
        "weight_decay": max((g["weight_decay"] for g in groups), default=0.0),
        "param_groups": groups,
        "decay_on_bias": on_bias,
        "decay_on_norm": on_norm,
        "decay_on_bias_or_norm": on_bias or on_norm,
        "adam_coupled_weight_decay": coupled,
    }


def batch_size_of(inputs: Any) -> int | None:
    """The leading dimension of the first tensor in ``inputs`` (tensor, tuple, list or dict)."""
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0]) if inputs.dim() else None
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if isinstance(inputs, (list, tuple)):
        for item in inputs:
            b = batch_size_of(item)
            if b is not None:
                return b
    return None


def classification_info(outputs: Any, targets: Any) -> tuple[str, int | None]:
    """``(task, num_classes)``: classification when targets are integer labels (B,) or (B, T)
    and outputs carry a class dimension (last dim) of matching leading shape."""
    out = outputs if isinstance(outputs, torch.Tensor) else None
    if out is None or not isinstance(targets, torch.Tensor):
        return "unknown", None
    if targets.dtype in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8) and out.dim() >= 2 \
            and out.dim() == targets.dim() + 1 and tuple(out.shape[:-1]) == tuple(targets.shape):
        return "classification", int(out.shape[-1])
    if targets.is_floating_point():
        return "regression", None
    return "unknown", None


def dataset_size(train: Iterable[Any], batch_size: int | None) -> int | None:
    """Best static guess of the training-set size before an epoch has been counted."""
    ds = getattr(train, "dataset", None)
    if ds is not None:
        try:
            return len(ds)
        except TypeError:
            pass
    try:
        n = len(train)  # type: ignore[arg-type]
    except TypeError:
        return None
    return int(n) * batch_size if batch_size else None
