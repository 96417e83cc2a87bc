"""Rule values in the units of the run's optimizer.

The rules write weight decay in decoupled (AdamW) units: torch's AdamW default is 0.01, and 0.05
(Touvron et al. 2021, DeiT; Liu et al. 2022, ConvNeXt) to 0.1 (Brown et al. 2020, GPT-3) are
used against heavy overfitting. Plain SGD has no decoupled decay: its ``weight_decay`` adds
``λ·w`` to the gradient (L2), which momentum then amplifies, and Loshchilov & Hutter (2019, ICLR)
show the two agree only after rescaling by the learning rate. The customary SGD values, with
momentum 0.9, are 1e-4 (He et al. 2016, ResNet on ImageNet) to 5e-4 (Simonyan & Zisserman 2015,
VGG; Zagoruyko & Komodakis 2016, wide ResNets): about a hundredth of the AdamW ones. An AdamW
value set as SGD's coefficient is that much too strong: ``examples/models/conv1d_signals.py``
(SGD, lr 0.03, momentum 0.9) falls to chance accuracy at 0.05.

So for a run whose optimizer is SGD, a rule's weight decay and its range are given in SGD's
units, with the unit, note and snippet saying so: a hundredth with momentum 0.9, the setting of
those customs. Momentum β applies the L2 gradient again and again, to ``1/(1-β)`` times its
size (ten times at 0.9), so without momentum the coefficient is ten times larger for the same
pull: a tenth of the AdamW value. Adam with L2 is not converted: the rules tell it to switch to
AdamW (OPT001), whose units the values are in. The two kinds of decay, and the typical values of
each, are written out in :mod:`regadvisor.reference.weight_decay`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..numbers import is_number, round_sig

SGD_PER_DECOUPLED = 0.01
"""SGD's L2 coefficient per unit of decoupled (AdamW) weight decay at momentum 0.9: 1e-4–5e-4
against 0.01–0.05."""
CUSTOMARY_MOMENTUM = 0.9
"""The momentum of those customs, and the one assumed where a run does not say."""


@dataclass(frozen=True)
class OptimizerUnits:
    """How a knob's rule values are rewritten for the run's optimizer."""

    scale: float
    unit: str
    note: str
    snippet: str

    def convert(self, value: Any) -> Any:
        """A rule's number in the optimizer's units (anything else as it is)."""
        return round_sig(value * self.scale) if is_number(value) else value


def _momentum(facts: Mapping[str, Any]) -> float:
    """The run's SGD momentum (the first parameter group's, or a log's ``momentum``), else 0.9."""
    groups = facts.get("param_groups")
    first = groups[0] if isinstance(groups, list) and groups and isinstance(groups[0], Mapping) else {}
    for value in (first.get("momentum"), facts.get("momentum")):
        if is_number(value) and 0 <= value < 1:
            return float(value)
    return CUSTOMARY_MOMENTUM


def sgd_weight_decay(momentum: float) -> OptimizerUnits:
    """AdamW-unit weight decay as SGD's L2 coefficient at ``momentum`` (module docstring)."""
    scale = round_sig(SGD_PER_DECOUPLED * (1 - momentum) / (1 - CUSTOMARY_MOMENTUM))
    applied = (f"which momentum {momentum:g} applies about {1 / (1 - momentum):.3g} times over" if momentum > 0 else
               "applied once without momentum (momentum 0.9 would apply it about 10 times over)")
    return OptimizerUnits(
        scale=scale,
        unit="SGD's L2 coefficient",
        note=(f"In SGD's units, {scale:g}× an AdamW value: SGD's weight_decay is L2 added to the gradient, "
              f"{applied}; 1e-4 to 5e-4 are usual at momentum 0.9. Leave biases and norm parameters undecayed."),
        snippet=("torch.optim.SGD(regadvisor.reference.param_groups(model, weight_decay={value}), lr=lr, "
                 f"momentum={momentum:g})"),
    )


def optimizer_units(knob: str, facts: Mapping[str, Any]) -> OptimizerUnits | None:
    """The conversion of ``knob``'s rule values for the run's optimizer (``facts["optimizer"]``,
    a family name such as ``sgd``); ``None`` where they apply as the rules write them."""
    if knob == "weight_decay" and facts.get("optimizer") == "sgd":  # family names are lower case (logs.facts)
        return sgd_weight_decay(_momentum(facts))
    return None
