"""Slot types of the templates (``data/slots.json``): the values a ``{slot}`` hole takes.

>>> slot_type("city2"), SLOTS["city"].kind, SLOTS["n"].values[:3]
('city', 'entities', ('2', '3', '4'))
"""

from __future__ import annotations

from dataclasses import dataclass

from semcached.quality.synthetic import datafiles

__all__ = ["SLOTS", "SlotType", "slot_type"]


@dataclass(frozen=True)
class SlotType:
    """The values of one slot type, and the kind of near-miss that changing the value makes
    (``""`` for none)."""

    kind: str
    values: tuple[str, ...]


def slot_type(key: str) -> str:
    """The type of a slot key: ``city2`` (a second city) is a ``city``."""
    return key.rstrip("0123456789")


def _load() -> dict[str, SlotType]:
    out: dict[str, SlotType] = {}
    for key, spec in datafiles.load("slots")["slots"].items():
        kind = spec["kind"]
        if not isinstance(kind, str):
            raise TypeError(f"slots.json: {key}: kind is not a string")
        out[key] = SlotType(kind, datafiles.strings_of(spec["values"], f"slots.json: {key}"))
    return out


SLOTS: dict[str, SlotType] = _load()
"""Every slot type, by name."""
