"""The pair record the generator writes, and the kinds of change it is labelled with."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "LABEL0_KINDS", "LABEL1_KINDS", "SyntheticPair"]

LABEL0_KINDS: tuple[str, ...] = (
    "negation",
    "numbers",
    "number_order",
    "dates_versions",
    "entities",
    "swapped_roles",
    "opposite_actions",
    "units",
    "output_format",
    "language",
    "audience",
    "tone",
    "constraints",
    "scope",
    "qualifiers",
    "snippet",
    "task",
)
"""Kinds of near-miss: the two prompts need different answers (label 0)."""

LABEL1_KINDS: tuple[str, ...] = (
    "synonyms",
    "reordering",
    "abbreviation",
    "typos",
    "casual",
    "instruction_vs_question",
    "politeness",
    "padding",
    "spelling_variant",
    "punctuation_case",
    "contraction",
    "notation",
    "paraphrase",
)
"""Kinds of rewording: the answer to one prompt is a right answer to the other (label 1)."""

KINDS: dict[str, int] = {**dict.fromkeys(LABEL0_KINDS, 0), **dict.fromkeys(LABEL1_KINDS, 1)}
"""Every kind with its label."""


@dataclass(frozen=True)
class SyntheticPair:
    """One training pair: is the answer cached for ``a`` a right answer to ``b``?

    ``label`` is 1 when it is, 0 when it is not; ``kind`` names the change (see :data:`KINDS`);
    ``source`` is ``"template"`` or ``"perturb"``.

    >>> SyntheticPair("Enable it", "Disable it", 0, "opposite_actions", "perturb").label
    0
    """

    a: str
    b: str
    label: int
    kind: str
    source: str

    def to_json(self) -> dict[str, object]:
        """The JSONL record: keys a, b, label, kind, source.

        >>> SyntheticPair("a?", "b?", 1, "typos", "perturb").to_json()["kind"]
        'typos'
        """
        return {
            "a": self.a,
            "b": self.b,
            "label": self.label,
            "kind": self.kind,
            "source": self.source,
        }
