"""JSON in and out, once: the one encoder and decoder for everything the cache stores.

A cached response is serialised exactly once (:func:`encode`), and those bytes go to both
layers; reads decode with orjson. :func:`encode` refuses what could not be read back the same:
values that are not JSON (sets, objects), non-finite numbers, lone surrogates (not UTF-8) and
nesting deeper than :data:`MAX_DEPTH`.

Example::

    raw = encode({"choices": [{"message": {"content": "Paris"}}]}, field="response")
    assert decode(raw)["choices"][0]["message"]["content"] == "Paris"
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from semcached.errors import InvalidRequestError

__all__ = ["MAX_DEPTH", "decode", "encode", "encode_text"]

# Provider responses are a few levels deep: a deeper value is a bug or an attack, and some JSON
# readers (the stdlib's, recursive) fail on what others wrote.
MAX_DEPTH = 64


def encode(value: Any, *, field: str = "response") -> bytes:
    """``value`` as compact UTF-8 JSON; :class:`InvalidRequestError` naming ``field`` if it is
    not JSON that reads back unchanged."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidRequestError(
            f"`{field}` must be JSON (objects, arrays, strings, finite numbers, booleans, null) to "
            f"be cached: {exc}. Fix: return a dict, e.g. `completion.model_dump()` for the "
            "openai SDK",
            field=field,
        ) from exc
    except RecursionError as exc:
        raise _too_deep(field) from exc
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"`{field}` holds a lone surrogate ({text[exc.start : exc.end]!r}), which is not "
            "UTF-8. Fix: send valid Unicode text",
            field=field,
        ) from exc
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(text, MAX_DEPTH):
        raise _too_deep(field)
    return raw


def encode_text(value: Any, *, field: str = "response") -> str:
    """Like :func:`encode`, as a ``str`` (ChromaDB metadata holds strings)."""
    return encode(value, field=field).decode("utf-8")


def _too_deep(field: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"`{field}` is nested too deeply; at most {MAX_DEPTH} levels of arrays and objects can "
        "be cached. Fix: flatten the value",
        field=field,
    )


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_INNERMOST = re.compile(r"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")


def _deeper_than(text: str, limit: int) -> bool:
    """Whether JSON text nests arrays and objects more than ``limit`` deep: strings are blanked,
    then innermost brackets removed level by level (each level one C-speed regex pass)."""
    rest = _STRING.sub('""', text)
    for _ in range(limit):
        rest, removed = _INNERMOST.subn("0", rest)
        if not removed:
            return False
    return bool(_INNERMOST.search(rest))


def decode(raw: bytes | str) -> Any:
    """Parse JSON written by :func:`encode` (raises ``ValueError`` on anything else)."""
    return orjson.loads(raw)
