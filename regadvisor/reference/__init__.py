"""Small, readable, tested implementations of what regadvisor recommends.

Each technique is written to be read next to its paper and is checked against its ``torch.nn``
/ ``torch.optim`` / ``torch.nn.functional`` counterpart in ``tests/reference`` (forward and
backward, training and evaluation mode). Use them to learn what a recommendation does, or in
place of torch's versions; :func:`make_norm` and :func:`swap_norms` are also what the probe uses
to try a different ``normalization`` setting.

* :mod:`.dropout` — inverted dropout and channel dropout (Srivastava et al. 2014)
* :mod:`.weight_decay` — L2 penalty, decoupled decay, no-decay parameter groups, Adam vs AdamW
  (Loshchilov & Hutter 2019)
* :mod:`.norms` — BatchNorm, LayerNorm, RMSNorm, GroupNorm, ``make_norm``, ``swap_norms``
* :mod:`.early_stopping` — patience, ``min_delta``, best-weights restore
* :mod:`.label_smoothing` — label-smoothed cross entropy (Szegedy et al. 2016)
* :mod:`.mixup` — mixup (Zhang et al. 2018)
* :mod:`.clipping` — gradient clipping by global norm (Pascanu et al. 2013)

Importing this package imports torch; the rest of regadvisor does not need it.
"""

from .clipping import clip_grad_norm
from .dropout import ChannelDropout, Dropout, channel_dropout, dropout
from .early_stopping import EarlyStopping
from .label_smoothing import LabelSmoothingCrossEntropy, label_smoothed_cross_entropy, smooth_targets
from .mixup import MixedBatch, mixup, mixup_cross_entropy, mixup_loss, sample_lambda
from .norms import (
    NORM_KINDS,
    BatchNorm,
    ChannelsFirst,
    ChannelsLast,
    GroupNorm,
    LayerNorm,
    NoNorm,
    RMSNorm,
    Swap,
    default_num_groups,
    make_norm,
    swap_norms,
)
from .weight_decay import (
    DecaySplit,
    ReferenceAdamW,
    compare_l2_and_decoupled,
    decoupled_weight_decay_,
    is_embedding_module,
    is_norm_module,
    l2_penalty,
    param_groups,
    split_decay,
)

__all__ = [
    "clip_grad_norm",
    "NORM_KINDS",
    "BatchNorm",
    "ChannelDropout",
    "ChannelsFirst",
    "ChannelsLast",
    "DecaySplit",
    "Dropout",
    "EarlyStopping",
    "GroupNorm",
    "LabelSmoothingCrossEntropy",
    "LayerNorm",
    "MixedBatch",
    "NoNorm",
    "RMSNorm",
    "ReferenceAdamW",
    "Swap",
    "channel_dropout",
    "compare_l2_and_decoupled",
    "decoupled_weight_decay_",
    "default_num_groups",
    "dropout",
    "is_embedding_module",
    "is_norm_module",
    "l2_penalty",
    "label_smoothed_cross_entropy",
    "make_norm",
    "mixup",
    "mixup_cross_entropy",
    "mixup_loss",
    "param_groups",
    "sample_lambda",
    "smooth_targets",
    "split_decay",
    "swap_norms",
]
