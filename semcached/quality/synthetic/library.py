"""The template library: every template of ``data/templates_*.json``, checked once.

>>> sum(t.group < 0 for t in TEMPLATES), len(GROUPS)
(408, 24)
"""

from __future__ import annotations

from collections.abc import Mapping

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.checks import CHECKS
from semcached.quality.synthetic.templates import Check, Template, validate

__all__ = ["GROUPS", "TEMPLATES"]

_DOMAINS = ("support", "policy", "advice", "coding", "facts", "math", "writing")
"""The files of single templates, in library order; the extraction blocks come last."""


def _check(spec: Mapping[str, object]) -> Check | None:
    name = spec.get("check")
    if name is None:
        return None
    if not isinstance(name, str) or name not in CHECKS:
        raise ValueError(f"unknown check {name!r}")
    return CHECKS[name]


def _depends(spec: Mapping[str, object], where: str) -> tuple[str, ...] | None:
    return datafiles.strings_of(spec["depends"], where) if "depends" in spec else None


def _domain(data: Mapping[str, object], where: str) -> str:
    domain = data["domain"]
    if not isinstance(domain, str):
        raise TypeError(f"{where}: domain is not a string")
    return domain


def _templates(name: str) -> list[Template]:
    data = datafiles.load(f"templates_{name}")
    where = f"templates_{name}.json"
    domain = _domain(data, where)
    sets = {k: datafiles.strings_of(v, where) for k, v in data.get("payload_sets", {}).items()}
    out: list[Template] = []
    for spec in data["templates"]:
        payloads = spec.get("payloads", [])
        out.append(
            Template(
                domain,
                datafiles.strings_of(spec["phrasings"], where),
                sets[payloads]
                if isinstance(payloads, str)
                else datafiles.strings_of(payloads, where),
                _depends(spec, where),
                _check(spec),
            )
        )
    return out


def _build() -> tuple[tuple[Template, ...], dict[int, tuple[int, ...]]]:
    out = [t for name in _DOMAINS for t in _templates(name)]
    data = datafiles.load("templates_extraction")
    where = "templates_extraction.json"
    domain = _domain(data, where)
    groups: dict[int, tuple[int, ...]] = {}
    for gid, block in enumerate(data["blocks"]):
        payloads = datafiles.strings_of(block["payloads"], where)
        tasks = block["tasks"]
        groups[gid] = tuple(range(len(out), len(out) + len(tasks)))
        out.extend(
            Template(
                domain,
                datafiles.strings_of(task["phrasings"], where),
                payloads,
                _depends(task, where),
                _check(task),
                gid,
            )
            for task in tasks
        )
    for t in out:
        validate(t)
    return tuple(out), groups


TEMPLATES, GROUPS = _build()
"""Every template, and each extraction block's templates by block id (their ``group``)."""
