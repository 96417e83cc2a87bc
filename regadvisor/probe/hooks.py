"""Training instruments: gradient, activation, update and weight statistics, cheaply.

What is measured, and why (thresholds live in the rules, not here):

* **Global gradient norm**, every step: the L2 norm over all parameter gradients, the same
  quantity ``clip_grad_norm_`` reports, so a probe's ``grad_norm`` curve reads like a log's.
* **Per-layer gradients** (norm, mean |g|, fraction of exactly-zero entries) for every *weight
  layer* (a module that directly owns a parameter of two or more dimensions: Linear, Conv,
  Embedding, RNN, MultiheadAttention). The first/last layer norm ratio is AutoTrainer's
  vanishing/exploding test (Zhang et al., ICSE 2021); mean |g| is SageMaker Debugger's
  ``VanishingGradient`` quantity; the zero fraction is AutoTrainer's dying-ReLU symptom.
* **Activations** of every weight layer and every activation module (ReLU, Sigmoid, Tanh, GELU,
  ...): mean and std of the output; for ReLU/ReLU6 the fraction of outputs ≤ 0 and the fraction
  of *dead units* (a unit is dead when its output is ≤ 0 for every example of the batch;
  DeepDiagnosis, Wardat et al., ICSE 2022; SageMaker's ``DeadRelu``); for Sigmoid/Tanh the
  fraction of *inputs* beyond ±5, where the derivative is below 0.007 (sigmoid) / 2e-4 (tanh)
  (DeepDiagnosis's saturation test). Units: for 2-D outputs the features; for 4-D+ (conv)
  outputs the channels (over batch and positions); for 3-D outputs the last dimension (tokens
  of a sequence count as examples). Activations computed with functional calls
  (``F.relu`` inside ``forward``) have no module and are seen only through the weight layer
  that produced their input.
* **Update-to-weight ratio** ‖Δw‖/‖w‖ per parameter tensor across one optimizer step
  (SageMaker's ``WeightUpdateRatio``; Karpathy's ~1e-3 rule of thumb) and **weight norms**.

Cost tiers. ``depth="default"`` computes the global gradient norm every step (one fused
``_foreach_norm`` over the gradients) and everything else only on *sampled* steps: the first
step and every ``sample_every``-th step (default 50). Forward hooks exist only during a sampled
step's forward pass; weights are copied only around a sampled step's optimizer update.
``depth="full"`` samples every step. All reductions stay on the device as 0-d/1-d tensors
appended to lists; :meth:`Instruments.summary` moves them to the host in one ``tolist()`` each,
so there is no per-step host synchronisation on CUDA.

Every hook handle is removed in ``finally`` blocks (:meth:`Instruments.close`, and after each
sampled step), so the user's model keeps exactly the hooks it had.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

Depth = Literal["default", "full"]
DEPTHS = ("default", "full")
DEFAULT_SAMPLE_EVERY = 50
SATURATION_INPUT = 5.0
"""|pre-activation| beyond which sigmoid/tanh count as saturated (DeepDiagnosis uses ±5)."""

_RELU = (nn.ReLU, nn.ReLU6)
_SATURATING = (nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.Hardtanh, nn.Softsign)
_ACTIVATIONS = _RELU + _SATURATING + (
    nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Softplus,
    nn.Hardswish, nn.RReLU,
)
_STAT_FIELDS = ("mean", "std", "nonpositive_fraction", "dead_fraction", "saturated_fraction")


def layer_kind(module: nn.Module) -> str:
    """A short lower-case kind for a module (``linear``, ``conv``, ``relu``, ``batchnorm``, ...)."""
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                           nn.ConvTranspose3d)):
        return "conv"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    if isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        return "rnn"
    if isinstance(module, nn.MultiheadAttention):
        return "attention"
    return type(module).__name__.lower()


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Modules that directly own a parameter with ≥ 2 dimensions, in registration order."""
    out = []
    for name, mod in model.named_modules():
        if any(p.dim() >= 2 for p in mod.parameters(recurse=False)):
            out.append((name or "(root)", mod))
    return out


def activation_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Activation-function modules (ReLU, Sigmoid, Tanh, GELU, ...), in registration order."""
    return [(n or "(root)", m) for n, m in model.named_modules() if isinstance(m, _ACTIVATIONS)]


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for item in obj:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _units(x: torch.Tensor) -> torch.Tensor:
    """View ``x`` as (examples, units): see the module docstring for what a unit is."""
    if x.dim() <= 1:
        return x.reshape(1, -1)
    if x.dim() == 2:
        return x
    if x.dim() == 3:
        return x.reshape(-1, x.shape[-1])
    return x.transpose(0, 1).reshape(x.shape[1], -1).transpose(0, 1)


def _activation_stats(kind: str, inp: torch.Tensor | None, out: torch.Tensor) -> torch.Tensor:
    """[mean, std, nonpositive, dead, saturated] of one module call, as one device tensor."""
    x = out.detach().float()
    nan = torch.full((), float("nan"), device=x.device)
    mean = x.mean()
    std = x.std() if x.numel() > 1 else nan
    nonpos = dead = sat = nan
    if kind in ("relu", "relu6"):
        le = x <= 0
        nonpos = le.float().mean()
        dead = _units(le).all(dim=0).float().mean()
    elif kind in ("sigmoid", "tanh", "hardsigmoid", "hardtanh", "softsign") and inp is not None:
        sat = (inp.detach().float().abs() > SATURATION_INPUT).float().mean()
    return torch.stack([mean, std, nonpos, dead, sat])


def _median(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(statistics.median(vals)) if vals else None


def _clean(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


@dataclass
class _Pending:
    """Device tensors collected on sampled steps, synchronised once in summary()."""

    steps: list[int] = field(default_factory=list)
    param_norms: list[torch.Tensor] = field(default_factory=list)      # per sample: (P,)
    layer_grads: list[torch.Tensor] = field(default_factory=list)      # per sample: (L, 2) mean|g|, zero
    updates: list[torch.Tensor] = field(default_factory=list)          # per sample: (2, P) ‖Δw‖, ‖w‖
    activations: list[tuple[str, str, torch.Tensor]] = field(default_factory=list)
    global_norms: list[torch.Tensor] = field(default_factory=list)


class Instruments:
    """Collects the statistics described in the module docstring around a training loop.

    Use in this order each step (``step`` counts from 1)::

        inst.start_step(step)        # attaches forward hooks on sampled steps
        loss = loss_fn(model(x), y); loss.backward()
        g = inst.after_backward()    # 0-d tensor: global grad norm (no host sync)
        inst.before_update(); optimizer.step(); inst.after_update()

    and call :meth:`close` in a ``finally`` block. :meth:`summary` returns plain Python data.
    """

    def __init__(self, model: nn.Module, depth: Depth = "default", sample_every: int | None = None):
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {DEPTHS}, not {depth!r}")
        self.model = model
        self.depth = depth
        self.sample_every = 1 if depth == "full" else max(1, sample_every or DEFAULT_SAMPLE_EVERY)
        self.named_params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in self.named_params]
        index = {id(p): i for i, p in enumerate(self.params)}
        self.layers = weight_layers(model)
        self.layer_kinds = {n: layer_kind(m) for n, m in self.layers}
        self.layer_param_idx = [
            [index[id(p)] for p in m.parameters(recurse=False) if id(p) in index] for _, m in self.layers
        ]
        self.layer_numel = [sum(self.params[i].numel() for i in idx) for idx in self.layer_param_idx]
        self.activation_mods = activation_modules(model)
        self._handles: list[Any] = []
        self._sampled = False
        self._step = 0
        self._old: list[torch.Tensor] | None = None
        self._order: list[str] = []
        self._pending = _Pending()
        self._zero: dict[torch.device, torch.Tensor] = {}

    # -- per-step protocol -------------------------------------------------------------------
    def is_sampled(self, step: int) -> bool:
        """Whether ``step`` (1-based) gets the expensive statistics."""
        return step == 1 or (step - 1) % self.sample_every == 0

    def start_step(self, step: int) -> None:
        self._step = step
        self._sampled = self.is_sampled(step)
        if self._sampled:
            self._attach()

    def _attach(self) -> None:
        seen_order = not self._order
        hooked: dict[int, tuple[str, str, nn.Module]] = {}
        for name, mod in self.layers:
            hooked[id(mod)] = (name, self.layer_kinds[name], mod)
        for name, mod in self.activation_mods:
            hooked.setdefault(id(mod), (name, layer_kind(mod), mod))
        try:
            for name, kind, mod in hooked.values():
                self._handles.append(mod.register_forward_hook(self._make_hook(name, kind, seen_order)))
        except BaseException:
            self._detach()
            raise

    def _make_hook(self, name: str, kind: str, record_order: bool):
        pending = self._pending
        order = self._order

        def hook(_mod: nn.Module, inputs: Any, output: Any) -> None:
            out = _first_tensor(output)
            if out is None or not out.is_floating_point():
                return
            if record_order and name not in order:
                order.append(name)
            inp = _first_tensor(inputs)
            with torch.no_grad():
                pending.activations.append((name, kind, _activation_stats(kind, inp, out)))

        return hook

    def _detach(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def after_backward(self) -> torch.Tensor:
        """Global gradient norm of this step (0-d tensor); per-layer stats on sampled steps."""
        self._detach()
        grads = []
        for p in self.params:
            g = p.grad
            if g is None:
                g = self._zero.get(p.device)
                if g is None:
                    g = self._zero[p.device] = torch.zeros((), device=p.device)
            grads.append(g.detach())
        if not grads:
            return torch.zeros(())
        norms = torch._foreach_norm(grads)
        devices = {n.device for n in norms}
        dev = next(iter(devices))
        stacked = torch.stack([n.to(dev) for n in norms]) if len(devices) > 1 else torch.stack(norms)
        total = torch.linalg.vector_norm(stacked.float())
        self._pending.global_norms.append(total)
        if self._sampled:
            self._pending.steps.append(self._step)
            self._pending.param_norms.append(stacked)
            rows = []
            with torch.no_grad():
                for idx, numel in zip(self.layer_param_idx, self.layer_numel):
                    gs = [grads[i] for i in idx if self.params[i].grad is not None]
                    if not gs or numel == 0:
                        rows.append(torch.full((2,), float("nan"), device=dev))
                        continue
                    abs_sum = torch.stack([g.abs().sum().float().to(dev) for g in gs]).sum()
                    zeros = torch.stack([(g == 0).sum().float().to(dev) for g in gs]).sum()
                    rows.append(torch.stack([abs_sum / numel, zeros / numel]))
            if rows:
                self._pending.layer_grads.append(torch.stack(rows))
        return total

    def before_update(self) -> None:
        """Snapshot the weights before a sampled step's optimizer update."""
        if self._sampled and self.params:
            self._old = [p.detach().clone() for p in self.params]

    def after_update(self) -> None:
        """Record ‖Δw‖ and ‖w‖ per parameter tensor after a sampled step's update."""
        if self._old is None:
            return
        with torch.no_grad():
            new = [p.detach() for p in self.params]
            diff = torch._foreach_sub(new, self._old)
            dn = torch._foreach_norm(diff)
            wn = torch._foreach_norm(self._old)
            dev = dn[0].device
            self._pending.updates.append(
                torch.stack([torch.stack([d.to(dev) for d in dn]), torch.stack([w.to(dev) for w in wn])])
            )
        self._old = None

    def close(self) -> None:
        """Remove every hook this object attached (safe to call more than once)."""
        self._detach()
        self._old = None

    # -- results -----------------------------------------------------------------------------
    def global_norms(self) -> list[float]:
        """All per-step global gradient norms so far (one host sync)."""
        g = self._pending.global_norms
        return torch.stack(g).tolist() if g else []

    def summary(self) -> dict[str, Any]:
        """Plain-Python summaries (medians over sampled steps) for ``Run.facts``.

        Keys: ``probe_depth``, ``instrumented_steps``, ``layer_order`` (weight layers in forward
        order), ``layer_stats`` (list of {name, kind, params, grad_norm, grad_mean_abs,
        grad_zero_fraction, weight_norm}), ``grad_norm_first_last_ratio`` with
        ``grad_ratio_layers`` (the two layers compared), ``activation_stats`` (list, forward
        order, of {name, kind, mean, std, nonpositive_fraction, dead_fraction,
        saturated_fraction}), ``update_weight_ratio`` (weight tensors of ≥ 2 dimensions only: biases
        start near zero, so their ratio says little) and ``weight_norm`` (every parameter).
        """
        pend = self._pending
        names = [n for n, _ in self.layers]
        order = [n for n in self._order if n in self.layer_kinds] + [n for n in names if n not in self._order]
        param_norms = torch.stack(pend.param_norms).tolist() if pend.param_norms else []
        layer_grads = torch.stack(pend.layer_grads).tolist() if pend.layer_grads else []
        updates = torch.stack(pend.updates).tolist() if pend.updates else []
        # per-layer gradient norm per sample: sqrt(sum of its parameters' squared norms)
        per_layer_norm: dict[str, list[float]] = {n: [] for n in names}
        for row in param_norms:
            for n, idx in zip(names, self.layer_param_idx):
                per_layer_norm[n].append(math.sqrt(sum(row[i] ** 2 for i in idx)) if idx else float("nan"))
        last_weights = updates[-1][1] if updates else None
        layer_stats = []
        by_name = dict(zip(names, range(len(names))))
        for n in order:
            li = by_name[n]
            idx = self.layer_param_idx[li]
            layer_stats.append({
                "name": n,
                "kind": self.layer_kinds[n],
                "params": self.layer_numel[li],
                "grad_norm": _median(per_layer_norm[n]),
                "grad_mean_abs": _median([s[li][0] for s in layer_grads]),
                "grad_zero_fraction": _median([s[li][1] for s in layer_grads]),
                "weight_norm": _clean(math.sqrt(sum(last_weights[i] ** 2 for i in idx))) if last_weights and idx else None,
            })
        # first/last ratio: embeddings excluded (their gradient touches only the rows used)
        # and layers never called as modules (MultiheadAttention's out_proj is used functionally)
        called = [n for n in self._order if n in self.layer_kinds] or order
        ratio_layers = [n for n in called if self.layer_kinds[n] != "embedding"]
        ratio = None
        pair = None
        if len(ratio_layers) >= 2:
            first, last = ratio_layers[0], ratio_layers[-1]
            pair = [first, last]
            ratios = [
                a / b for a, b in zip(per_layer_norm[first], per_layer_norm[last])
                if math.isfinite(a) and math.isfinite(b) and b > 0
            ]
            ratio = _median(ratios)
        acts: dict[str, dict[str, Any]] = {}
        act_rows = torch.stack([t for _, _, t in pend.activations]).tolist() if pend.activations else []
        collected: dict[str, list[list[float]]] = {}
        kinds: dict[str, str] = {}
        for (name, kind, _), row in zip(pend.activations, act_rows):
            collected.setdefault(name, []).append(row)
            kinds[name] = kind
        for name, rows in collected.items():
            entry: dict[str, Any] = {"name": name, "kind": kinds[name]}
            for j, fld in enumerate(_STAT_FIELDS):
                entry[fld] = _median([r[j] for r in rows])
            acts[name] = entry
        act_order = [n for n in self._order if n in acts] + [n for n in acts if n not in self._order]
        uw: dict[str, float | None] = {}
        wn: dict[str, float | None] = {}
        for i, (pname, param) in enumerate(self.named_params):
            if param.dim() >= 2:
                uw[pname] = _median([u[0][i] / u[1][i] for u in updates if u[1][i] > 0])
            wn[pname] = _clean(updates[-1][1][i]) if updates else None
        return {
            "probe_depth": self.depth,
            "instrumented_steps": list(pend.steps),
            "sample_every": self.sample_every,
            "layer_order": order,
            "layer_stats": layer_stats,
            "grad_norm_first_last_ratio": ratio,
            "grad_ratio_layers": pair,
            "activation_stats": [acts[n] for n in act_order],
            "update_weight_ratio": uw,
            "weight_norm": wn,
        }
