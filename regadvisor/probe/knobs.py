"""Applying knobs to a probe script's model and optimizer by standard means.

When ``build_model``/``build_optimizer`` do not accept a knob (the probe script contract in
docs/ARCHITECTURE.md), or the script is run as a program (:mod:`.capture`), the probe applies it
itself and records how in ``facts["knobs_applied"]`` (or why not in ``knobs_not_applied``): ``p``
is set on existing dropout modules, norm layers are swapped with
:func:`regadvisor.reference.swap_norms`, the optimizer is rebuilt with the same groups under
another class, and weight decay rebuilds the decayed groups (every group when none had decay)
into weights with the knob's decay and biases/norm parameters with none
(:func:`regadvisor.reference.split_decay`'s rule).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..errors import ScriptError
from .discover import ProbeScript, accepted_kwargs, format_call

MODEL_KNOBS = ("dropout", "normalization", "residual")
OPTIMIZER_KNOBS = ("weight_decay", "optimizer", "learning_rate")
NORM_KINDS = ("batchnorm", "layernorm", "rmsnorm", "groupnorm", "none")
OPTIMIZERS: dict[str, str] = {
    "adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "nadam": "NAdam",
    "radam": "RAdam", "adagrad": "Adagrad", "adamax": "Adamax", "adadelta": "Adadelta",
}
_COUPLED = ("Adam", "Adamax", "NAdam", "RAdam")


def _no_decay_split(params: list[nn.Parameter], model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(decay, no_decay) among ``params`` by :func:`regadvisor.reference.split_decay`'s rule: biases,
    normalization parameters and embeddings are not decayed (Loshchilov & Hutter 2019 decay weights)."""
    from ..reference.weight_decay import split_decay

    undecayed = {id(p) for p in split_decay(model, include_frozen=True).no_decay}
    return [p for p in params if id(p) not in undecayed], [p for p in params if id(p) in undecayed]


def _groups(pairs: list[tuple[list[nn.Parameter], float]], **extra: Any) -> list[dict[str, Any]]:
    return [{"params": ps, "weight_decay": wd, **extra} for ps, wd in pairs if ps]


def _make_optimizer(name: str, groups: list[dict[str, Any]], lr: float) -> torch.optim.Optimizer:
    cls = getattr(torch.optim, OPTIMIZERS[name])
    kwargs: dict[str, Any] = {"lr": lr}
    if name == "sgd":
        kwargs["momentum"] = 0.9
    return cls(groups, **kwargs)


def _rebuild(opt: torch.optim.Optimizer, name: str) -> torch.optim.Optimizer:
    """The same parameter groups (params, lr, weight_decay; betas/eps where both accept them)
    under another optimizer class."""
    cls = getattr(torch.optim, OPTIMIZERS[name])
    shared = set(cls([torch.zeros(1, requires_grad=True)]).defaults)
    groups = []
    for g in opt.param_groups:
        ng = {"params": g["params"], "lr": g["lr"], "weight_decay": g.get("weight_decay", 0.0)}
        for k in ("betas", "eps"):
            if k in g and k in shared:
                ng[k] = g[k]
        groups.append(ng)
    return _make_optimizer(name, groups, float(opt.param_groups[0]["lr"]))


def _set_weight_decay(opt: torch.optim.Optimizer, model: nn.Module, wd: float,
                      decouple: bool) -> tuple[torch.optim.Optimizer, str]:
    """``opt`` with decay ``wd`` on its weights, and how: coupled Adam-family optimizers become AdamW
    when ``decouple`` (the knob means decoupled decay); the groups that had decay (all of them
    when none had) are split into decayed weights and undecayed biases/norm parameters, and a
    group the script keeps undecayed stays so."""
    how = ""
    if type(opt).__name__ in _COUPLED and not any(g.get("decoupled_weight_decay") for g in opt.param_groups) \
            and decouple and wd > 0:
        old = type(opt).__name__
        opt = _rebuild(opt, "adamw")
        how = f"rebuilt {old} as AdamW (the knob is decoupled decay); "
    decayed = {id(g) for g in opt.param_groups if float(g.get("weight_decay", 0.0) or 0.0) > 0}
    groups = []
    for g in opt.param_groups:
        extra = {k: v for k, v in g.items() if k not in ("params", "weight_decay")}
        if decayed and id(g) not in decayed:  # a group the script keeps undecayed stays so
            groups.append({"params": list(g["params"]), "weight_decay": g.get("weight_decay", 0.0), **extra})
            continue
        d, nd = _no_decay_split(list(g["params"]), model)
        groups += _groups([(d, wd), (nd, 0.0)], **extra)
    rebuild: Callable[..., torch.optim.Optimizer] = type(opt)  # a subclass: its own defaults, not Optimizer's
    opt = rebuild(groups, lr=float(opt.param_groups[0]["lr"]))
    which = f"the {len(decayed)} parameter group(s) that had decay" if decayed else "parameter groups"
    return opt, how + f"rebuilt {which}: weight_decay={wd!r} on weights, 0 on biases/norms"


def build_optimizer(script: ProbeScript, model: nn.Module, knobs: dict[str, Any],
                    applied: dict[str, str], not_applied: dict[str, str]) -> tuple[torch.optim.Optimizer, str]:
    """The script's optimizer (or the default AdamW) with the optimizer knobs applied; and its source."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ScriptError("the model has no trainable parameters", source=script.path)
    wanted = {k: knobs[k] for k in OPTIMIZER_KNOBS if k in knobs}
    if script.build_optimizer is not None:
        yes, _ = accepted_kwargs(script.build_optimizer, wanted)
        opt = script.call(script.build_optimizer, params, **yes, what="build_optimizer")
        if not isinstance(opt, torch.optim.Optimizer):
            raise ScriptError(f"build_optimizer returned {type(opt).__name__}, not a torch.optim.Optimizer",
                              source=script.path)
        for k, v in yes.items():
            applied[k] = format_call("build_optimizer", {k: v}, first="params")
        source = "build_optimizer"
    else:
        lr = knobs.get("learning_rate", 1e-3)
        wd = knobs.get("weight_decay", 0.01)
        name = knobs.get("optimizer", "adamw")
        decay, no_decay = _no_decay_split(params, model)
        opt = _make_optimizer(name, _groups([(decay, wd), (no_decay, 0.0)]), lr)
        for k in wanted:
            applied[k] = (f"default optimizer {OPTIMIZERS[name]}(lr={lr!r}, weight_decay={wd!r} on weights, "
                          "0 on biases/norms)")
        source = "default"
        yes = wanted
    rest = {k: v for k, v in wanted.items() if k not in yes}
    return apply_optimizer_knobs(opt, model, rest, applied), source


def apply_optimizer_knobs(opt: torch.optim.Optimizer, model: nn.Module, rest: dict[str, Any],
                          applied: dict[str, str]) -> torch.optim.Optimizer:
    """``opt`` with the optimizer knobs in ``rest`` applied by standard means (see the module
    docstring): the same object where only settings change, a new one built from its parameter
    groups where the class or the groups change."""
    cls = type(opt).__name__
    if "optimizer" in rest and OPTIMIZERS[rest["optimizer"]] != cls:
        opt = _rebuild(opt, rest["optimizer"])
        applied["optimizer"] = f"rebuilt {cls} as {type(opt).__name__} with the same parameter groups"
    elif "optimizer" in rest:
        applied["optimizer"] = f"already {cls}"
    if "weight_decay" in rest:
        opt, applied["weight_decay"] = _set_weight_decay(opt, model, rest["weight_decay"],
                                                         decouple="optimizer" not in rest)
    if "learning_rate" in rest:
        for g in opt.param_groups:
            if isinstance(g["lr"], torch.Tensor):
                g["lr"].fill_(rest["learning_rate"])
            else:
                g["lr"] = rest["learning_rate"]
        applied["learning_rate"] = f"set lr={rest['learning_rate']!r} on all {len(opt.param_groups)} parameter group(s)"
    return opt


def apply_model_knobs(model: nn.Module, rest: dict[str, Any], applied: dict[str, str],
                      not_applied: dict[str, str]) -> None:
    """Apply the model knobs ``build_model`` did not accept (``rest``) to the built model."""
    if "dropout" in rest:
        p = rest["dropout"]
        from ..reference.dropout import ChannelDropout, Dropout

        kinds = (nn.modules.dropout._DropoutNd, Dropout, ChannelDropout)
        mods = [m for m in model.modules() if isinstance(m, kinds)]
        if mods:
            for m in mods:
                m.p = p
            applied["dropout"] = f"set p={p!r} on {len(mods)} existing dropout module(s)"
        else:
            not_applied["dropout"] = "build_model does not accept dropout and the model has no nn.Dropout modules"
    if "normalization" in rest:
        from ..reference.norms import swap_norms

        swaps = swap_norms(model, rest["normalization"])
        done = [s for s in swaps if s.new is not None]
        if done:
            applied["normalization"] = (
                f"swapped {len(done)} normalization layer(s) to {rest['normalization']} "
                f"(regadvisor.reference.swap_norms)"
            )
        else:
            not_applied["normalization"] = (
                "build_model does not accept normalization and the model has no normalization layers to swap"
            )
    if "residual" in rest:
        not_applied["residual"] = "build_model does not accept residual; adding skip connections needs a code change"
