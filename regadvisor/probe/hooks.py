"""Training instruments: gradient, activation, update and weight quantities, cheaply.

Each quantity is one class, as in cockpit (Schneider, Dangel & Hennig 2021): it gathers raw
device tensors on the steps it is given and writes plain host data once. The instruments emit
raw quantities only (one value per layer or tensor per sampled step); what is derived from
them — medians over steps, the first/last layer ratio, update over weight — is computed by the
signals (:mod:`regadvisor.signals.probe_signals`), and judged by the rules.

What is measured, and why:

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
* **Update norms** ‖Δw‖ per parameter tensor across one optimizer step and **weight norms** ‖w‖
  before it, whose ratio is SageMaker's ``WeightUpdateRatio`` quantity (Karpathy's ~1e-3 rule
  of thumb).

Cost tiers. ``depth="default"`` computes the global gradient norm every step (one fused
``_foreach_norm`` over the gradients) and everything else only on *sampled* steps: the first
step and every ``sample_every``-th step (default 50). Forward hooks exist only during a sampled
step's forward pass; weights are copied only around a sampled step's optimizer update.
``depth="full"`` samples every step. All reductions stay on the device as 0-d/1-d tensors
appended to lists; :meth:`Instruments.summary` moves each quantity to the host in one
``tolist()``, so there is no per-step host synchronisation on CUDA.

Every hook handle is removed in ``finally`` blocks (:meth:`Instruments.close`, and after each
sampled step), so the user's model keeps exactly the hooks it had.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from ..numbers import finite_or_none

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
ACTIVATION_FIELDS = ("mean", "std", "nonpositive_fraction", "dead_fraction", "saturated_fraction")


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


def _nan(device: torch.device) -> torch.Tensor:
    return torch.full((), float("nan"), device=device)


class _PerSample:
    """A quantity measured on each sampled step as one value per item (weight layer or tensor)."""

    def __init__(self) -> None:
        self._rows: list[torch.Tensor] = []

    def columns(self, n_items: int) -> list[list[float | None]]:
        """Per item, its values over the sampled steps: one host transfer, non-finite as None."""
        rows = torch.stack(self._rows).tolist() if self._rows else []
        return [[finite_or_none(row[i]) for row in rows] for i in range(n_items)]


class GlobalGradNorm:
    """‖g‖ over every parameter, each step: the quantity ``clip_grad_norm_`` reports."""

    def __init__(self) -> None:
        self._norms: list[torch.Tensor] = []

    def record(self, param_norms: torch.Tensor) -> torch.Tensor:
        total = torch.linalg.vector_norm(param_norms.float())
        self._norms.append(total)
        return total

    def values(self) -> list[float]:
        return torch.stack(self._norms).tolist() if self._norms else []


class LayerGradNorm(_PerSample):
    """Per weight layer, the L2 norm of its parameters' gradients (AutoTrainer's per-layer norm)."""

    def record(self, param_norms: torch.Tensor, layer_params: list[list[int]]) -> None:
        dev = param_norms.device
        self._rows.append(torch.stack([torch.linalg.vector_norm(param_norms[idx].float()) if idx else _nan(dev)
                                       for idx in layer_params]))


class GradMeanAbs(_PerSample):
    """Per weight layer, the mean |g| over its parameter entries (SageMaker's VanishingGradient quantity)."""

    def record(self, layer_grads: list[list[torch.Tensor]], layer_numel: list[int], dev: torch.device) -> None:
        self._rows.append(torch.stack([
            torch.stack([g.abs().sum().float().to(dev) for g in gs]).sum() / numel if gs and numel else _nan(dev)
            for gs, numel in zip(layer_grads, layer_numel)]))


class GradZeroFraction(_PerSample):
    """Per weight layer, the fraction of exactly-zero gradient entries (AutoTrainer's dying-ReLU symptom)."""

    def record(self, layer_grads: list[list[torch.Tensor]], layer_numel: list[int], dev: torch.device) -> None:
        self._rows.append(torch.stack([
            torch.stack([(g == 0).sum().float().to(dev) for g in gs]).sum() / numel if gs and numel else _nan(dev)
            for gs, numel in zip(layer_grads, layer_numel)]))


def _norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    norms = torch._foreach_norm(list(tensors))
    dev = norms[0].device
    return torch.stack([n.to(dev) for n in norms])


class WeightNorm(_PerSample):
    """Per parameter tensor, ‖w‖ before a sampled step's optimizer update."""

    def record(self, params: Sequence[torch.Tensor]) -> None:
        self._rows.append(_norms([p.detach() for p in params]))


class UpdateNorm(_PerSample):
    """Per parameter tensor, ‖Δw‖ across a sampled step's optimizer update."""

    def __init__(self) -> None:
        super().__init__()
        self._before: list[torch.Tensor] | None = None

    def before(self, params: Sequence[torch.Tensor]) -> None:
        self._before = [p.detach().clone() for p in params]

    def after(self, params: Sequence[torch.Tensor]) -> None:
        if self._before is None:
            return
        self._rows.append(_norms(torch._foreach_sub([p.detach() for p in params], self._before)))
        self._before = None

    def discard(self) -> None:
        self._before = None


class Activations:
    """Per call of a hooked module on sampled steps: [mean, std, nonpositive, dead, saturated]
    (``ACTIVATION_FIELDS``) of its output, as described in the module docstring."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, str, torch.Tensor]] = []

    def record(self, name: str, kind: str, inp: torch.Tensor | None, out: torch.Tensor) -> None:
        self._calls.append((name, kind, _activation_stats(kind, inp, out)))

    def facts(self, order: list[str]) -> list[dict[str, Any]]:
        """One entry per module (forward order first), each field a list over its calls."""
        rows = torch.stack([t for _, _, t in self._calls]).tolist() if self._calls else []
        by_name: dict[str, dict[str, Any]] = {}
        for (name, kind, _), row in zip(self._calls, rows):
            entry = by_name.setdefault(name, {"name": name, "kind": kind, **{f: [] for f in ACTIVATION_FIELDS}})
            for fld, value in zip(ACTIVATION_FIELDS, row):
                entry[fld].append(finite_or_none(value))
        names = [n for n in order if n in by_name] + [n for n in by_name if n not in order]
        return [by_name[n] for n in names]


class Instruments:
    """Collects the quantities described in the module docstring around a training loop.

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
        self._order: list[str] = []
        self._steps: list[int] = []
        self._zero: dict[torch.device, torch.Tensor] = {}
        self.grad_norm = GlobalGradNorm()
        self.layer_grad_norm = LayerGradNorm()
        self.grad_mean_abs = GradMeanAbs()
        self.grad_zero_fraction = GradZeroFraction()
        self.weight_norm = WeightNorm()
        self.update_norm = UpdateNorm()
        self.activations = Activations()

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
        activations = self.activations
        order = self._order

        def hook(mod: nn.Module, inputs: Any, output: Any) -> None:
            out = _first_tensor(output)
            if out is None or not out.is_floating_point() or not mod.training:
                return  # an evaluation between training steps (a script run as a program) is not training
            if record_order and name not in order:
                order.append(name)
            with torch.no_grad():
                activations.record(name, kind, _first_tensor(inputs), out)

        return hook

    def _detach(self) -> None:
        while self._handles:
            self._handles.pop().remove()

    def _grads(self) -> list[torch.Tensor]:
        """Every parameter's gradient, a shared zero where it has none (an unused parameter)."""
        grads = []
        for p in self.params:
            g = p.grad
            if g is None:
                g = self._zero.get(p.device)
                if g is None:
                    g = self._zero[p.device] = torch.zeros((), device=p.device)
            grads.append(g.detach())
        return grads

    def after_backward(self) -> torch.Tensor:
        """Global gradient norm of this step (0-d tensor); per-layer quantities on sampled steps."""
        self._detach()
        grads = self._grads()
        if not grads:
            return torch.zeros(())
        norms = _norms(grads)
        total = self.grad_norm.record(norms)
        if self._sampled:
            self._steps.append(self._step)
        if self._sampled and self.layers:
            with torch.no_grad():
                layer_grads = [[grads[i] for i in idx if self.params[i].grad is not None]
                               for idx in self.layer_param_idx]
                self.layer_grad_norm.record(norms, self.layer_param_idx)
                self.grad_mean_abs.record(layer_grads, self.layer_numel, norms.device)
                self.grad_zero_fraction.record(layer_grads, self.layer_numel, norms.device)
        return total

    def before_update(self) -> None:
        """Weight norms and a snapshot of the weights before a sampled step's optimizer update."""
        if self._sampled and self.params:
            with torch.no_grad():
                self.weight_norm.record(self.params)
                self.update_norm.before(self.params)

    def after_update(self) -> None:
        """The update norms of a sampled step, once the optimizer has stepped."""
        with torch.no_grad():
            self.update_norm.after(self.params)

    def close(self) -> None:
        """Remove every hook this object attached (safe to call more than once)."""
        self._detach()
        self.update_norm.discard()

    # -- results -----------------------------------------------------------------------------
    def global_norms(self) -> list[float]:
        """All per-step global gradient norms so far (one host sync)."""
        return self.grad_norm.values()

    def summary(self) -> dict[str, Any]:
        """The raw quantities, as plain Python data for ``Run.facts``; each list runs over the
        sampled steps (``instrumented_steps``), non-finite values as None.

        Keys: ``probe_depth``, ``sample_every``, ``instrumented_steps``, ``layer_order`` (weight
        layers in forward order, then any never called as a module), ``layer_stats`` (that order:
        {name, kind, params, called, grad_norm, grad_mean_abs, grad_zero_fraction}),
        ``activation_stats`` (forward order: {name, kind, and per call each of
        ``ACTIVATION_FIELDS``}) and ``tensor_stats`` (every trainable parameter: {name, dims,
        weight_norm, update_norm}).
        """
        names = [n for n, _ in self.layers]
        order = [n for n in self._order if n in self.layer_kinds] + [n for n in names if n not in self._order]
        index = {n: i for i, n in enumerate(names)}
        grad_norm = self.layer_grad_norm.columns(len(names))
        mean_abs = self.grad_mean_abs.columns(len(names))
        zeros = self.grad_zero_fraction.columns(len(names))
        weight_norm = self.weight_norm.columns(len(self.params))
        update_norm = self.update_norm.columns(len(self.params))
        return {
            "probe_depth": self.depth,
            "instrumented_steps": list(self._steps),
            "sample_every": self.sample_every,
            "layer_order": order,
            "layer_stats": [{"name": n, "kind": self.layer_kinds[n], "params": self.layer_numel[index[n]],
                             "called": n in self._order, "grad_norm": grad_norm[index[n]],
                             "grad_mean_abs": mean_abs[index[n]], "grad_zero_fraction": zeros[index[n]]}
                            for n in order],
            "activation_stats": self.activations.facts(self._order),
            "tensor_stats": [{"name": pname, "dims": param.dim(), "weight_norm": weight_norm[i],
                              "update_norm": update_norm[i]} for i, (pname, param) in enumerate(self.named_params)],
        }
