"""The generator's data: the JSON files under ``data/`` (templates, slot values, swap groups,
word lists, typo data...), each read once and checked for the shape its reader expects.

>>> "can" in word_set("verbs"), word_list("number_words")[0]
(False, 'two')
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = [
    "load",
    "row_map",
    "rows",
    "string_map",
    "strings",
    "strings_of",
    "word_list",
    "word_set",
]

_PACKAGE = "semcached.quality.synthetic"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The object in ``data/<name>.json``, read once (shared: never modify it)."""
    path = resources.files(_PACKAGE).joinpath("data").joinpath(f"{name}.json")
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise TypeError(f"data/{name}.json does not hold an object")
    return value


def strings_of(value: object, where: str) -> tuple[str, ...]:
    """``value`` as a tuple of strings; ``where`` names it in the error if it is not one."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{where} is not a list of strings")
    return tuple(value)


def strings(name: str, key: str) -> tuple[str, ...]:
    """The list of strings under ``key`` in ``data/<name>.json``, in order."""
    return strings_of(load(name)[key], f"data/{name}.json: {key}")


def rows(name: str, key: str) -> tuple[tuple[str, ...], ...]:
    """The list of string lists under ``key`` (rules, pairs...), each row a tuple."""
    value = load(name)[key]
    where = f"data/{name}.json: {key}"
    if not isinstance(value, list):
        raise TypeError(f"{where} is not a list")
    return tuple(strings_of(row, where) for row in value)


def string_map(name: str, key: str) -> dict[str, str]:
    """The object of strings under ``key``, in order (a fresh dict)."""
    value = load(name)[key]
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError(f"data/{name}.json: {key} is not an object of strings")
    return dict(value)


def row_map(name: str, key: str) -> dict[str, tuple[str, ...]]:
    """The object of string lists under ``key``, in order, each list a tuple."""
    value = load(name)[key]
    where = f"data/{name}.json: {key}"
    if not isinstance(value, dict):
        raise TypeError(f"{where} is not an object")
    return {k: strings_of(v, where) for k, v in value.items()}


def word_list(key: str) -> tuple[str, ...]:
    """An ordered word list of ``data/words.json``."""
    return strings("words", key)


def word_set(key: str) -> frozenset[str]:
    """A word list of ``data/words.json`` as a set."""
    return frozenset(strings("words", key))
