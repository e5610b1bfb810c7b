"""Settings as an operator gets them wrong: unknown keys refused with a suggestion, and a bad
value reported in one line naming the variable, instead of a silent default or a traceback.

``SEMCACHED_TRESHOLD=0.9`` is a typo pydantic-settings ignores (the threshold stays at its
default, silently); :func:`load_settings` refuses it with ``did you mean
SEMCACHED_THRESHOLD?``. The same holds for the keys of the JSON config file.

Example::

    settings = load_settings()        # ConfigurationError with one line per problem
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from semcached.errors import ConfigurationError
from semcached.settings import Settings, config_file_path

__all__ = ["NOT_SETTINGS", "load_settings", "unknown_settings"]

# SEMCACHED_* variables read by other parts than Settings (tools, caches, tests).
NOT_SETTINGS = frozenset(
    {
        "SEMCACHED_CONFIG_FILE", "SEMCACHED_ONNX_CACHE", "SEMCACHED_TEST_REDIS_URL",
        "SEMCACHED_NOTEBOOK_PAIRS", "SEMCACHED_NOTEBOOK_LIMIT", "SEMCACHED_NOTEBOOK_EMBEDDINGS",
        "SEMCACHED_NOTEBOOK_STREAM", "SEMCACHED_NOTEBOOK_BOUND", "SEMCACHED_SERVE_ECHO",
        "SEMCACHED_SERVE_LOG",
    }
)  # fmt: skip
_PREFIX = "SEMCACHED_"


def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every settable key path: a nested model's fields, and the model itself (whole JSON)."""
    out: set[tuple[str, ...]] = set()
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        out.add(path)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= _paths(annotation, path)
    return out


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_settings(
    environ: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> list[str]:
    """One line per ``SEMCACHED_*`` variable or config-file key that sets nothing."""
    environ = os.environ if environ is None else environ
    paths = _paths(Settings)
    names = {_PREFIX + "__".join(p).upper() for p in paths}
    problems: list[str] = []
    for var in sorted(environ):
        if not var.startswith(_PREFIX) or var in NOT_SETTINGS:
            continue
        if var.upper() not in names:
            problems.append(f"{var} is not a semcached setting{_suggest(var.upper(), names)}")
    if config is not None:
        problems += _unknown_keys(config, paths, ())
    return problems


def _unknown_keys(
    config: Mapping[str, Any], paths: set[tuple[str, ...]], prefix: tuple[str, ...]
) -> list[str]:
    problems: list[str] = []
    nested = {p[: len(prefix) + 1] for p in paths if len(p) > len(prefix) + 1}
    for key, value in config.items():
        path = (*prefix, key)
        if path not in paths:
            siblings = [p[-1] for p in paths if p[:-1] == prefix]
            where = ".".join(path)
            problems.append(
                f"config key {where!r} is not a semcached setting{_suggest(key, siblings)}"
            )
        elif isinstance(value, dict) and path in nested:
            problems += _unknown_keys(value, paths, path)
    return problems


def _read_config() -> dict[str, Any] | None:
    path = config_file_path()
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigurationError(f"config file {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"config file {path}: expected a JSON object")
    return data


def _describe(error: Mapping[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    var = _PREFIX + "__".join(location).upper() if location else "settings"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{var}: {error.get('msg', 'invalid')}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the config file, refusing unknown keys and naming
    every bad value in one line each (:class:`ConfigurationError`)."""
    problems = unknown_settings(config=_read_config())
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems += [_describe(e) for e in exc.errors()]
        settings = None
    if problems:
        raise ConfigurationError("; ".join(problems))
    assert settings is not None
    return settings
