"""Every public name is exported through `__all__`, and every exported name exists."""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = [
    "semcached",
    "semcached.embeddings",
    "semcached.index",
    "semcached.errors",
    "semcached.request",
    "semcached.policy.decision",
    "semcached.settings",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_complete_and_exact(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(v)
        and getattr(v, "__module__", name) == name
    }
    missing = public - exported - {"annotations"}
    assert not missing, f"{name} defines public names not in __all__: {sorted(missing)}"


def test_errors_derive_from_one_base() -> None:
    from semcached import errors

    for symbol in errors.__all__:
        assert issubclass(getattr(errors, symbol), errors.SemcachedError)
