"""Every public name is exported through `__all__`, in every module and package, and every
exported name exists (as httpx's export test holds its package to)."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
from types import ModuleType
from typing import TypeVar

import pytest

import semcached


def _modules() -> list[str]:
    names = ["semcached"]
    for info in pkgutil.walk_packages(semcached.__path__, "semcached."):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


def _is_package(module: ModuleType) -> bool:
    return hasattr(module, "__path__")


@pytest.mark.parametrize("name", _modules())
def test_all_is_complete_and_exact(name: str) -> None:
    """A module's ``__all__`` holds every public name it defines; a package's ``__all__`` is
    exactly its public names (what it re-exports); every exported name exists."""
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    exported = set(module.__all__)
    for symbol in exported:
        assert hasattr(module, symbol), f"{name}.__all__ names missing {symbol}"
    if _is_package(module):
        public = {
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
        }
        assert public == exported - {"__version__"}, (
            f"{name}: public names {sorted(public - exported)} are not in __all__, "
            f"and {sorted(exported - public)} are exported but not defined"
        )
        return
    missing = _defined(module) - exported
    assert not missing, f"{name} defines public names not in __all__: {sorted(missing)}"


def _defined(module: ModuleType) -> set[str]:
    """The public names a module's own top level assigns, defines or declares (not imports,
    not type variables)."""
    tree = ast.parse(inspect.getsource(module))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {
        n
        for n in names
        if not n.startswith("_")
        and not isinstance(getattr(module, n, None), TypeVar | logging.Logger)
    }


def test_errors_derive_from_one_base() -> None:
    from semcached import errors

    for symbol in errors.__all__:
        assert issubclass(getattr(errors, symbol), errors.SemcachedError)
