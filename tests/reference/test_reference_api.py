"""The public surface of regadvisor.reference: every exported name exists and is documented."""

import importlib
import inspect

import regadvisor.reference as reference


SUBMODULES = ["dropout", "weight_decay", "norms", "early_stopping", "label_smoothing", "mixup"]


def submodule(name):
    # Not getattr(reference, name): the package exports functions named dropout and mixup.
    return importlib.import_module(f"regadvisor.reference.{name}")


def test_every_exported_name_resolves_and_has_a_docstring():
    assert len(reference.__all__) == len(set(reference.__all__))
    for name in reference.__all__:
        obj = getattr(reference, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_every_public_definition_is_exported():
    for module in map(submodule, SUBMODULES):
        for name in module.__all__:
            assert name in reference.__all__, f"{module.__name__}.{name} is not exported"


def test_docstrings_cite_their_sources():
    cited = {
        "dropout": "Srivastava",
        "weight_decay": "Loshchilov",
        "norms": "Wu & He",
        "label_smoothing": "Szegedy",
        "mixup": "Zhang",
    }
    for module_name, author in cited.items():
        assert author in submodule(module_name).__doc__
    for cls, author in [(reference.BatchNorm, "Ioffe"), (reference.LayerNorm, "Ba"),
                        (reference.RMSNorm, "Sennrich"), (reference.GroupNorm, "Wu")]:
        assert author in cls.__doc__
