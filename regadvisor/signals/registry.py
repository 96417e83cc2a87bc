"""Signals: named measurements, each a pure function of a Run.

A *provider* computes a group of related signals in one pass (the gap at the best epoch and at
the end come from the same alignment of curves). Providers declare the signals they produce,
with a docstring per signal that says what it measures and where the idea comes from. The
engine asks a :class:`SignalContext` for the signals its selected rules require; only the
providers of those signals run, once each. A signal that cannot be measured from this run is
``None``; rules that need it are reported as skipped, naming it.
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


_PROVIDERS: dict[str, ProviderFn] = {}
_SPECS: dict[str, SignalSpec] = {}


def provides(signals: dict[str, str]) -> Callable[[ProviderFn], ProviderFn]:
    """Register the decorated function as the provider of ``signals`` (name → doc)."""

    def wrap(fn: ProviderFn) -> ProviderFn:
        key = f"{fn.__module__}.{fn.__name__}"
        _PROVIDERS[key] = fn
        for name, doc in signals.items():
            if name in _SPECS and _SPECS[name].provider != key:
                raise RuntimeError(f"signal {name!r} provided twice: {_SPECS[name].provider} and {key}")
            _SPECS[name] = SignalSpec(name, doc, key)
        return fn

    return wrap


def specs() -> dict[str, SignalSpec]:
    """Every known signal, importing the built-in providers on first use."""
    from . import _builtin  # noqa: F401

    return dict(_SPECS)


class SignalContext:
    """Lazily computed signals of one run; providers may ask it for other signals."""

    def __init__(self, run: Run, overrides: dict[str, Any] | None = None):
        self.run = run
        self._values: dict[str, Any] = dict(overrides or {})
        self._running: set[str] = set()
        self._memo: dict[str, Any] = {}
        specs()

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Share an intermediate result (an aligned curve, say) between providers."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

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
