"""Weight decay: the L2 penalty, decoupled decay, no-decay parameter groups, Adam vs AdamW.

Two things are called "weight decay" and they are only the same thing for plain SGD.

* **L2 regularization** adds ``(lambda / 2) * ||w||^2`` to the loss, so the gradient gains
  ``lambda * w``. This is what the ``weight_decay`` argument of ``torch.optim.SGD`` and
  ``torch.optim.Adam`` does (it is added to the gradient before the update rule sees it).
* **Decoupled weight decay** shrinks the weights directly, ``w <- w - lr * lambda * w``,
  outside the gradient-based update. This is ``torch.optim.AdamW``.

For SGD without momentum the two give the same step, ``w <- w - lr * (g + lambda * w)``.
For adaptive methods they differ: Adam divides the whole gradient, L2 term included, by
``sqrt(v_hat)``, so weights with large historical gradients are decayed *less* than weights
with small ones and the effective regularization is entangled with the gradient scale.
Loshchilov & Hutter ("Decoupled Weight Decay Regularization", ICLR 2019) showed that
decoupling restores the intended, uniform shrinkage and improves generalization; that is why
regadvisor's ``weight_decay`` knob always means decoupled decay and why it recommends
``adamw`` over ``adam`` with ``weight_decay > 0``.

Typical values: ``1e-4`` (up to ``5e-4``) for SGD-trained CNNs such as ResNets (He et al.
2016), ``0.01`` for AdamW (the ``torch.optim.AdamW`` default; BERT fine-tuning), ``0.1`` for
LLM pre-training with AdamW (GPT-3, Brown et al. 2020; LLaMA, Touvron et al. 2023).

Biases and normalization gains/shifts are conventionally left undecayed: they are few, they do
not contribute to overfitting through large weight norms, and pulling a normalization gain to
zero fights the normalization itself. Embedding tables are often excluded too, because rows of
rare tokens receive gradient rarely and would otherwise decay towards zero between visits.
:func:`param_groups` builds optimizer groups following that convention.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

__all__ = [
    "l2_penalty",
    "decoupled_weight_decay_",
    "DecaySplit",
    "split_decay",
    "param_groups",
    "is_norm_module",
    "is_embedding_module",
    "ReferenceAdamW",
    "compare_l2_and_decoupled",
]

NoDecayRule = Callable[[str, nn.Parameter, nn.Module], bool]


def l2_penalty(params: Iterable[Tensor], weight_decay: float) -> Tensor:
    """The L2 loss term ``(weight_decay / 2) * sum ||w||^2``.

    The factor one half makes its gradient exactly ``weight_decay * w``, the same term that
    ``torch.optim.SGD(..., weight_decay=weight_decay)`` adds to the gradient. Adding this
    penalty to the loss and training with plain SGD is therefore identical to SGD's built-in
    ``weight_decay``; under Adam it is *not* the same as AdamW (see the module docstring).
    Typical value for SGD CNNs: ``1e-4``.
    """
    params = list(params)
    if not params:
        return torch.zeros(())
    total = sum((p.pow(2).sum() for p in params), start=torch.zeros((), dtype=params[0].dtype, device=params[0].device))
    return 0.5 * weight_decay * total


@torch.no_grad()
def decoupled_weight_decay_(params: Iterable[Tensor], lr: float, weight_decay: float) -> None:
    """Shrink every parameter in place: ``w <- (1 - lr * weight_decay) * w``.

    This is the decoupled decay step of AdamW (Loshchilov & Hutter 2019, Algorithm 2, line 12,
    with the schedule multiplier folded into ``lr`` as torch does). It touches the weights
    only, never the gradients or optimizer state, so it composes with any optimizer: call it
    just before ``optimizer.step()`` with the same ``lr``. Typical ``weight_decay``: 0.01 for
    AdamW, 0.1 for LLM pre-training.
    """
    factor = 1.0 - lr * weight_decay
    for p in params:
        p.mul_(factor)


# ---------------------------------------------------------------------------------------------
# Parameter groups
# ---------------------------------------------------------------------------------------------

def is_norm_module(module: nn.Module) -> bool:
    """Whether ``module`` is a normalization layer whose parameters should not be decayed.

    Recognizes torch's BatchNorm/InstanceNorm (``_NormBase``), LayerNorm, GroupNorm, RMSNorm
    and LocalResponseNorm, this package's reference norms, and — because many code bases write
    their own (``LlamaRMSNorm``, ``T5LayerNorm``) — any class whose name ends in ``Norm`` or
    ``NormNd``.
    """
    known: tuple[type, ...] = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
    rms = getattr(nn, "RMSNorm", None)
    if rms is not None:
        known = known + (rms,)
    if isinstance(module, known):
        return True
    name = type(module).__name__
    return name.endswith("Norm") or (name[:-2].endswith("Norm") and name[-2:] in ("1d", "2d", "3d"))


def is_embedding_module(module: nn.Module) -> bool:
    """Whether ``module`` is an embedding table (``nn.Embedding`` or ``nn.EmbeddingBag``)."""
    return isinstance(module, (nn.Embedding, nn.EmbeddingBag))


@dataclass
class DecaySplit:
    """Which parameters are decayed: qualified names and the parameters themselves.

    ``decay_names[i]`` names ``decay[i]``; a parameter shared by several modules (tied
    weights) appears once, under the first name ``model.named_parameters()`` gives it.
    """

    decay: list[nn.Parameter] = field(default_factory=list)
    no_decay: list[nn.Parameter] = field(default_factory=list)
    decay_names: list[str] = field(default_factory=list)
    no_decay_names: list[str] = field(default_factory=list)


def _as_rule(no_decay: NoDecayRule | Iterable[str] | None) -> NoDecayRule | None:
    if no_decay is None or callable(no_decay):
        return no_decay
    if isinstance(no_decay, str):
        patterns = [no_decay]
    else:
        patterns = list(no_decay)

    def matches(name: str, param: nn.Parameter, module: nn.Module) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)

    return matches


def split_decay(
    model: nn.Module,
    *,
    no_decay: NoDecayRule | Iterable[str] | None = None,
    decay_bias: bool = False,
    decay_norm: bool = False,
    decay_embedding: bool = False,
    include_frozen: bool = False,
) -> DecaySplit:
    """Sort a model's parameters into "decay" and "no decay".

    A parameter is left undecayed when any module that owns it says so: it is named ``bias``
    (unless ``decay_bias``), it belongs to a normalization layer (unless ``decay_norm``; see
    :func:`is_norm_module`), it belongs to an embedding (unless ``decay_embedding``), or the
    ``no_decay`` rule matches it. ``no_decay`` is either a predicate
    ``(qualified_name, parameter, owning_module) -> bool`` or glob patterns matched against the
    qualified name (``["*.pos_embed", "cls_token"]``). The rule "decay only matrices", used by
    nanoGPT, is ``no_decay=lambda name, p, m: p.ndim < 2``.

    Parameters with ``requires_grad=False`` are skipped unless ``include_frozen``.
    """
    rule = _as_rule(no_decay)
    owners: dict[int, list[tuple[str, str, nn.Module]]] = {}
    order: list[nn.Parameter] = []
    for module_name, module in model.named_modules(remove_duplicate=False):
        for local_name, param in module.named_parameters(recurse=False, remove_duplicate=False):
            if param is None:
                continue
            if id(param) not in owners:
                owners[id(param)] = []
                order.append(param)
            qualified = f"{module_name}.{local_name}" if module_name else local_name
            owners[id(param)].append((qualified, local_name, module))

    split = DecaySplit()
    for param in order:
        if not param.requires_grad and not include_frozen:
            continue
        undecayed = False
        for qualified, local_name, module in owners[id(param)]:
            if (local_name == "bias" and not decay_bias) \
                    or (is_norm_module(module) and not decay_norm) \
                    or (is_embedding_module(module) and not decay_embedding) \
                    or (rule is not None and rule(qualified, param, module)):
                undecayed = True
                break
        name = owners[id(param)][0][0]
        if undecayed:
            split.no_decay.append(param)
            split.no_decay_names.append(name)
        else:
            split.decay.append(param)
            split.decay_names.append(name)
    return split


def param_groups(
    model: nn.Module,
    weight_decay: float,
    *,
    no_decay: NoDecayRule | Iterable[str] | None = None,
    decay_bias: bool = False,
    decay_norm: bool = False,
    decay_embedding: bool = False,
    include_frozen: bool = False,
) -> list[dict]:
    """Optimizer parameter groups: ``weight_decay`` for weights, ``0.0`` for the rest.

    Pass the result straight to an optimizer:
    ``torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3)``. By default biases,
    normalization parameters and embeddings are not decayed (see :func:`split_decay` for the
    flags and the ``no_decay`` predicate or glob patterns). Every trainable parameter appears
    in exactly one group, tied parameters once. Empty groups are left out, because a group
    without parameters is useless to an optimizer; the decayed group, when present, comes first.

    Typical ``weight_decay``: 1e-4 for SGD CNNs, 0.01 for AdamW, 0.1 for LLM pre-training
    (Loshchilov & Hutter 2019).
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    split = split_decay(
        model,
        no_decay=no_decay,
        decay_bias=decay_bias,
        decay_norm=decay_norm,
        decay_embedding=decay_embedding,
        include_frozen=include_frozen,
    )
    groups = []
    if split.decay:
        groups.append({"params": split.decay, "weight_decay": float(weight_decay)})
    if split.no_decay:
        groups.append({"params": split.no_decay, "weight_decay": 0.0})
    return groups


# ---------------------------------------------------------------------------------------------
# Adam with L2 vs AdamW
# ---------------------------------------------------------------------------------------------

class ReferenceAdamW(torch.optim.Optimizer):
    """Adam with either decoupled weight decay (AdamW) or coupled L2, written out step by step.

    With ``decoupled=True`` (the default) one step is, for every parameter ``w`` with
    gradient ``g`` at step ``t``::

        w <- w * (1 - lr * weight_decay)          # decoupled decay, independent of g
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g**2
        w <- w - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)

    which matches ``torch.optim.AdamW``. With ``decoupled=False`` the decay becomes an L2 term
    folded into the gradient, ``g <- g + weight_decay * w``, before the moments are updated —
    ``torch.optim.Adam(weight_decay=...)``. The only difference is where ``weight_decay * w``
    enters, yet in the coupled form it is divided by ``sqrt(v_hat)`` like the gradient, so its
    strength varies per weight (Loshchilov & Hutter 2019, ICLR). Defaults follow torch:
    ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, decoupled: bool = True):
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError("lr, eps and weight_decay must be >= 0")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
            wd, decoupled = group["weight_decay"], group["decoupled"]
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                state = self.state[w]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(w)
                    state["exp_avg_sq"] = torch.zeros_like(w)
                state["step"] += 1
                t = state["step"]
                if decoupled:
                    w.mul_(1.0 - lr * wd)
                elif wd != 0:
                    g = g + wd * w
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(beta1).add_(g, alpha=1.0 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                m_hat = m / (1.0 - beta1 ** t)
                v_hat = v / (1.0 - beta2 ** t)
                w.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        return loss


def compare_l2_and_decoupled(
    grad_scales: Iterable[float] = (1e-3, 1.0, 1e3),
    *,
    weight: float = 1.0,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    steps: int = 100,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Show, with numbers, that Adam + L2 decays weights unevenly and AdamW does not.

    For each gradient scale ``s`` a single weight starting at ``weight`` receives the same
    ``steps`` zero-mean noise gradients, multiplied by ``s``. Three runs share that sequence:
    Adam without decay (the baseline), ``torch.optim.Adam(weight_decay=...)`` (coupled L2) and
    ``torch.optim.AdamW(weight_decay=...)`` (decoupled). Each row holds ``grad_scale``,
    the three final weights ``no_decay``, ``adam_l2``, ``adamw``, and the *decay effects*
    ``adam_l2_effect = adam_l2 - no_decay`` and ``adamw_effect = adamw - no_decay``.

    Adam's update is invariant to the scale of the gradient, so the AdamW rows are the same
    for every ``s``: the decay removes about ``lr * weight_decay * steps * weight`` (0.01 with
    the defaults) whatever the gradient size. Under Adam + L2 the decay term
    ``weight_decay * w`` is normalized together with the gradient by ``sqrt(v_hat)``: with
    large gradients it is drowned out and the weight is hardly decayed; with tiny gradients it
    dominates and the weight moves by about ``lr`` per step, ten times the intended pull here.
    That is the coupling Loshchilov & Hutter (2019, ICLR, Section 2) removed.
    """
    rows = []
    for scale in grad_scales:
        gen = torch.Generator().manual_seed(seed)
        noise = torch.randn(steps, generator=gen, dtype=torch.float64) * scale
        finals = {}
        runs = (
            ("no_decay", torch.optim.Adam, 0.0),
            ("adam_l2", torch.optim.Adam, weight_decay),
            ("adamw", torch.optim.AdamW, weight_decay),
        )
        for label, cls, wd in runs:
            w = nn.Parameter(torch.tensor([weight], dtype=torch.float64))
            opt = cls([w], lr=lr, weight_decay=wd)
            for t in range(steps):
                w.grad = noise[t : t + 1].clone()
                opt.step()
            finals[label] = float(w.item())
        rows.append({
            "grad_scale": float(scale),
            **finals,
            "adam_l2_effect": finals["adam_l2"] - finals["no_decay"],
            "adamw_effect": finals["adamw"] - finals["no_decay"],
        })
    return rows
