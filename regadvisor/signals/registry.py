"""Signals: named measurements, each a pure function of a Run.

A *provider* computes a group of related signals in one pass (the gap at the best epoch and at
the end come from the same alignment of curves). Providers declare the signals they produce,
with a docstring per signal that says what it measures and where the idea comes from. The
engine asks a :class:`SignalContext` for the signals its selected rules require; only the
providers of those signals run, once each. A signal that cannot be measured from this run is
``None``; rules that need it are reported as skipped, naming it.

Where a signal cannot be defined without a choice — when a loss point is a spike, how much
margin a suggested patience gets, how many evaluations a confident verdict needs — the choice
is a :class:`SignalParam`: declared with its default, its doc and its source (a bibliography
key), and overridable like a rule's parameter (``--param signals.spike_ratio=4``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..model import Run

ProviderFn = Callable[["SignalContext"], dict[str, Any]]


@dataclass(frozen=True)
class SignalSpec:
    """One signal's name, its documentation and the provider that computes it."""

    name: str
    doc: str
    provider: str


@dataclass(frozen=True)
class SignalParam:
    """A choice a signal's definition makes, tunable like a rule parameter.

    ``evidence`` is a key of the rules' bibliography (``rules/bibliography.yaml``): the source
    of the value, or the ``heuristic`` entry that says why it was chosen."""

    name: str
    default: int | float
    doc: str
    evidence: str


_PROVIDERS: dict[str, ProviderFn] = {}
_SPECS: dict[str, SignalSpec] = {}
_PARAMS: dict[str, SignalParam] = {}


def provides(signals: dict[str, str], params: tuple[SignalParam, ...] = ()) -> Callable[[ProviderFn], ProviderFn]:
    """Register the decorated function as the provider of ``signals`` (name → doc), reading ``params``."""

    def wrap(fn: ProviderFn) -> ProviderFn:
        key = f"{fn.__module__}.{fn.__name__}"
        _PROVIDERS[key] = fn
        for name, doc in signals.items():
            if name in _SPECS and _SPECS[name].provider != key:
                raise RuntimeError(f"signal {name!r} provided twice: {_SPECS[name].provider} and {key}")
            _SPECS[name] = SignalSpec(name, doc, key)
        for param in params:
            if _PARAMS.get(param.name, param) != param:
                raise RuntimeError(f"signal parameter {param.name!r} declared twice, differently")
            _PARAMS[param.name] = param
        return fn

    return wrap


def specs() -> dict[str, SignalSpec]:
    """Every known signal, importing the built-in providers on first use."""
    from . import _builtin  # noqa: F401

    return dict(_SPECS)


def signal_params() -> dict[str, SignalParam]:
    """Every signal parameter, by name."""
    specs()
    return dict(sorted(_PARAMS.items()))


def param_defaults() -> dict[str, Any]:
    """Every signal parameter's default value, by name."""
    return {name: param.default for name, param in signal_params().items()}


class SignalContext:
    """Lazily computed signals of one run; providers may ask it for other signals.

    ``params`` overrides signal parameters by name (the rest keep their defaults)."""

    def __init__(self, run: Run, params: dict[str, Any] | None = None):
        self.run = run
        self._values: dict[str, Any] = {}
        self._running: set[str] = set()
        defaults = param_defaults()
        unknown = sorted(set(params or {}) - set(defaults))
        if unknown:
            raise KeyError(f"unknown signal parameter(s) {', '.join(unknown)}")
        self._params = {**defaults, **(params or {})}

    def param(self, name: str) -> Any:
        """The value of signal parameter ``name`` for this analysis."""
        return self._params[name]

    def get(self, name: str) -> Any:
        """The value of signal ``name`` (``None`` when this run cannot show it)."""
        if name in self._values:
            return self._values[name]
        spec = _SPECS.get(name)
        if spec is None:
            raise KeyError(f"unknown signal {name!r}")
        if spec.provider in self._running:
            raise RuntimeError(f"signal provider {spec.provider} depends on itself via {name!r}")
        self._running.add(spec.provider)
        try:
            produced = _PROVIDERS[spec.provider](self)
        finally:
            self._running.discard(spec.provider)
        for key in (s.name for s in _SPECS.values() if s.provider == spec.provider):
            self._values.setdefault(key, produced.get(key))
        return self._values[name]

    def computed(self) -> dict[str, Any]:
        """All signals computed so far, sorted by name."""
        return {k: self._values[k] for k in sorted(self._values)}
