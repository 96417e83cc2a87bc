"""Rule values in the units of the run's optimizer.

The rules write weight decay in decoupled (AdamW) units: torch's AdamW default is 0.01, and 0.05
(Touvron et al. 2021, DeiT; Liu et al. 2022, ConvNeXt) to 0.1 (Brown et al. 2020, GPT-3) are
used against heavy overfitting. Plain SGD has no decoupled decay: its ``weight_decay`` adds
``λ·w`` to the gradient (L2), which momentum then amplifies, and Loshchilov & Hutter (2019, ICLR)
show the two agree only after rescaling by the learning rate. The customary SGD values, with
momentum 0.9, are 1e-4 (He et al. 2016, ResNet on ImageNet) to 5e-4 (Simonyan & Zisserman 2015,
VGG; Zagoruyko & Komodakis 2016, wide ResNets): about a hundredth of the AdamW ones. An AdamW
value set as SGD's coefficient is that much too strong (a 1-D CNN trained with SGD at lr 0.03
falls to chance accuracy at 0.05).

So for a run whose optimizer is SGD, a rule's weight decay and its range are given in SGD's
units (a hundredth), with the unit, note and snippet saying so. Adam with L2 is not converted:
the rules tell it to switch to AdamW (OPT001), whose units the values are in. The two kinds of
decay, and the typical values of each, are written out in :mod:`regadvisor.reference.weight_decay`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..numbers import is_number, round_sig

SGD_PER_DECOUPLED = 0.01
"""SGD's L2 coefficient per unit of decoupled (AdamW) weight decay: 1e-4–5e-4 against 0.01–0.05."""


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


SGD_WEIGHT_DECAY = OptimizerUnits(
    scale=SGD_PER_DECOUPLED,
    unit="SGD's L2 coefficient",
    note=("In SGD's units: its weight_decay is L2 added to the gradient, so it takes about a hundredth "
          "of an AdamW value (1e-4 to 5e-4 are usual with momentum 0.9); leave biases and norm "
          "parameters undecayed."),
    snippet="torch.optim.SGD(regadvisor.reference.param_groups(model, weight_decay={value}), lr=lr, momentum=0.9)",
)


def optimizer_units(knob: str, facts: Mapping[str, Any]) -> OptimizerUnits | None:
    """The conversion of ``knob``'s rule values for the run's optimizer (``facts["optimizer"]``,
    a family name such as ``sgd``); ``None`` where they apply as the rules write them."""
    optimizer = facts.get("optimizer")
    if knob == "weight_decay" and isinstance(optimizer, str) and optimizer.strip().lower() == "sgd":
        return SGD_WEIGHT_DECAY
    return None
