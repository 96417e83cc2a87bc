"""The entry points wrapped in the process of a script run as a program (see :mod:`.capture`).

Each wrapper only reports to the :class:`~.capture.Capture`, which decides what to do:
``nn.Module`` construction (candidates for the model), ``torch.optim.Optimizer`` construction
(every subclass's ``__init__``, also of classes defined later), ``Tensor.backward`` and
``GradScaler.scale``, ``DataLoader`` construction (its own shuffling generator) and iteration
(epochs), ``argparse`` (the script's length),
``clip_grad_norm_`` (the norm before the script's clipping), the seeding functions (shifted by the
probe's seed), an audit hook on ``open`` (the files the script writes) and the frameworks'
``Trainer`` (:mod:`.frameworks`). They stay for the life of the process, which is the script's.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .runner import _pin_shuffle

if TYPE_CHECKING:
    from .capture import Capture

MAX_WRITTEN = 256
"""Files opened for writing that are remembered as possible logs (checkpoints and caches beyond it are not)."""


def install(capture: Capture) -> None:
    """Seed, then wrap the entry points (see the module docstring). Called once, in a fresh process."""
    from . import frameworks

    np = _numpy()
    random.seed(capture.seed)
    torch.manual_seed(capture.seed)
    if np is not None:
        np.random.seed(capture.seed % 2**32)
    if capture.seed:
        random.seed = _seeded(random.seed, capture.seed)
        torch.manual_seed = torch.random.manual_seed = _seeded(torch.manual_seed, capture.seed)
        if np is not None:
            np.random.seed = _seeded(np.random.seed, capture.seed)
    _wrap_modules(capture)
    _wrap_optimizers(capture)
    _wrap_backward(capture)
    _wrap_data_loader(capture)
    _wrap_argparse(capture)
    _wrap_clipping(capture)
    frameworks.install(capture)
    sys.addaudithook(functools.partial(_audit, capture))


def _audit(capture: Capture, event: str, args: tuple[Any, ...]) -> None:
    """Files the script opens for writing: where its own logs may be (an audit hook must never raise)."""
    if event != "open" or len(capture.written) >= MAX_WRITTEN:
        return
    try:
        path, mode, flags = args
        writing = any(c in mode for c in "wax+") if isinstance(mode, str) else \
            isinstance(flags, int) and bool(flags & (os.O_WRONLY | os.O_RDWR))
        if writing and isinstance(path, (str, bytes, os.PathLike)) and capture._mine():
            capture.written.setdefault(os.path.abspath(os.fsdecode(path)), None)
    except Exception:  # noqa: BLE001, S110 - an audit hook that raised would fail the script's own open()
        pass


def _wrap_modules(capture: Capture) -> None:
    """Every module the script constructs, for finding the model without a walk over all objects
    (that walk took 0.43 s of pytorch/examples' MNIST run, 5% of it). Weak references by id:
    a module class may define ``__eq__`` and so not be hashable."""
    init = nn.Module.__init__

    @functools.wraps(init)
    def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        capture.modules[id(self)] = self

    nn.Module.__init__ = __init__  # type: ignore[method-assign]


def _wrap_optimizers(capture: Capture) -> None:

    def wrap(cls: type) -> None:
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_regadvisor", False):
            return

        @functools.wraps(init)
        def __init__(self: torch.optim.Optimizer, *args: Any, **kwargs: Any) -> None:
            outer = id(self) not in capture.constructing
            capture.constructing.add(id(self))
            try:
                init(self, *args, **kwargs)
            finally:
                if outer:
                    capture.constructing.discard(id(self))
            if outer:
                capture.constructed(self)

        __init__._regadvisor = True  # type: ignore[attr-defined]
        cls.__init__ = __init__  # type: ignore[misc]

    def walk(cls: type[Any]) -> None:
        wrap(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(torch.optim.Optimizer)
    previous = torch.optim.Optimizer.__dict__.get("__init_subclass__")

    def init_subclass(cls: type, **kwargs: Any) -> None:
        if previous is not None:
            previous.__func__(cls, **kwargs)
        wrap(cls)

    torch.optim.Optimizer.__init_subclass__ = classmethod(init_subclass)  # type: ignore[assignment]


def _wrap_backward(capture: Capture) -> None:
    original = torch.Tensor.backward

    @functools.wraps(original)
    def backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if capture.inst is not None and self.dim() == 0 and self.is_floating_point() and capture._mine():
            capture.loss_seen(self)
        return original(self, *args, **kwargs)

    torch.Tensor.backward = backward  # type: ignore[method-assign]
    scale = torch.amp.GradScaler.scale

    @functools.wraps(scale)
    def scaled(self: Any, outputs: Any) -> Any:
        out = scale(self, outputs)
        factor = getattr(self, "_scale", None)
        if isinstance(out, torch.Tensor) and out.dim() == 0 and factor is not None and out is not outputs:
            capture.scaled[id(out)] = factor
        return out

    torch.amp.GradScaler.scale = scaled  # type: ignore[method-assign]


def _wrap_data_loader(capture: Capture) -> None:
    from torch.utils.data import DataLoader

    init, iterate = DataLoader.__init__, DataLoader.__iter__

    @functools.wraps(init)
    def __init__(self: DataLoader, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        capture.loaders_made += 1
        _pin_shuffle(self, torch.initial_seed() + capture.loaders_made)

    @functools.wraps(iterate)
    def __iter__(self: DataLoader) -> Any:
        if capture._mine():
            capture.loader_pass(self)
        return iterate(self)

    DataLoader.__init__ = __init__  # type: ignore[method-assign]
    DataLoader.__iter__ = __iter__  # type: ignore[method-assign]


def _wrap_argparse(capture: Capture) -> None:
    original = argparse.ArgumentParser.parse_known_args

    @functools.wraps(original)
    def parse_known_args(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        parsed = original(self, *args, **kwargs)
        capture.arguments_parsed(parsed[0])
        return parsed

    argparse.ArgumentParser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _wrap_clipping(capture: Capture) -> None:
    from torch.nn.utils import clip_grad

    original = clip_grad.clip_grad_norm_

    @functools.wraps(original)
    def clip_grad_norm_(parameters: Any, max_norm: float, *args: Any, **kwargs: Any) -> torch.Tensor:
        total = original(parameters, max_norm, *args, **kwargs)
        if capture._mine():
            capture.clip_norm = total.detach()
            capture.script_clip = float(max_norm)
        return total

    clip_grad.clip_grad_norm_ = clip_grad_norm_
    torch.nn.utils.clip_grad_norm_ = clip_grad_norm_


def _seeded(original: Callable[..., Any], offset: int) -> Callable[..., Any]:
    @functools.wraps(original)
    def seed(value: Any = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value + offset) % 2**32
        return original(value, *args, **kwargs)

    return seed


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy
