"""The template engine: parse a phrasing, instantiate a template, render a prompt.

A phrasing is text with three kinds of holes:

``{type}`` / ``{type2}``
    a slot filled from :data:`~semcached.quality.synthetic.slots.SLOTS` (two keys of one type
    get two values);
``[a|b|c]``
    interchangeable wordings (a rewording picks another: kind ``synonyms``);
``<key:a|b|c>``
    a contrast: each option needs a different answer; the key's prefix names the kind
    (:data:`CON_KINDS`); ``<key>`` reuses the options given earlier in the same template.
    Options may hold slots (``{city} to {city2}``).

Every phrasing of a template has the same slots and contrasts, with options in one order, so
any two phrasings with the same choices ask the same thing (kind ``paraphrase``).

>>> [type(p).__name__ for p in parse_phrasing("How do I <act:enable|disable> {toggle}?")]
['str', 'Con', 'str', 'SlotRef', 'str']
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from semcached.quality.synthetic.slots import SLOTS, slot_type
from semcached.quality.synthetic.text import cap, fix_article, tidy

__all__ = [
    "CON_KINDS",
    "Alt",
    "Check",
    "Con",
    "Inst",
    "Part",
    "SlotRef",
    "Template",
    "check_key",
    "contrasts",
    "fill_slot",
    "full_text",
    "instantiate",
    "parse_phrasing",
    "render",
    "render_instruction",
    "slot_keys",
    "slot_leaves",
    "validate",
]


@dataclass(frozen=True)
class SlotRef:
    """A ``{key}`` hole."""

    key: str


@dataclass(frozen=True)
class Alt:
    """``[a|b|c]``: interchangeable wordings."""

    options: tuple[tuple[str | SlotRef, ...], ...]


@dataclass(frozen=True)
class Con:
    """``<key:a|b|c>``: a contrast (``options`` None for ``<key>``, the options given first)."""

    key: str
    options: tuple[tuple[str | SlotRef, ...], ...] | None


Part = str | SlotRef | Alt | Con
"""A piece of a parsed phrasing."""
Check = Callable[[Mapping[str, str]], object]
"""An answer check (see :mod:`semcached.quality.synthetic.checks`)."""

CON_KINDS = {
    "neg": "negation",
    "act": "opposite_actions",
    "qual": "qualifiers",
    "scope": "scope",
    "roles": "swapped_roles",
    "con": "constraints",
    "fmt": "output_format",
    "tone": "tone",
    "aud": "audience",
    "unit": "units",
    "date": "dates_versions",
    "ent": "entities",
    "lang": "language",
    "num": "numbers",
    "order": "number_order",
}
"""The kind of near-miss each contrast key prefix makes."""


@dataclass(frozen=True)
class Template:
    """One template: its phrasings (of one request), the snippets pasted with it, the snippet
    slots its answer reads (``None``: all), its answer check, and its extraction block."""

    domain: str
    phrasings: tuple[str, ...]
    payloads: tuple[str, ...] = ()
    depends: tuple[str, ...] | None = None
    check: Check | None = None
    group: int = -1


_HOLE = re.compile(r"\{(\w+)\}|\[([^\[\]]*)\]|<(\w+)(?::([^<>]*))?>")
_SLOT_HOLE = re.compile(r"\{(\w+)\}")


@functools.cache
def slot_leaves(text: str) -> tuple[str | SlotRef, ...]:
    """``text`` split into literal text and ``{slot}`` holes."""
    out: list[str | SlotRef] = []
    pos = 0
    for m in _SLOT_HOLE.finditer(text):
        if slot_type(m.group(1)) not in SLOTS:
            continue
        if m.start() > pos:
            out.append(text[pos : m.start()])
        out.append(SlotRef(m.group(1)))
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return tuple(out)


@functools.cache
def parse_phrasing(phrasing: str) -> tuple[Part, ...]:
    """``phrasing`` split into literal text, slots, wordings and contrasts."""
    out: list[Part] = []
    pos = 0
    for m in _HOLE.finditer(phrasing):
        if m.group(1) is not None and slot_type(m.group(1)) not in SLOTS:
            raise ValueError(f"unknown slot {m.group(1)!r} in {phrasing!r}")
        if m.start() > pos:
            out.append(phrasing[pos : m.start()])
        if m.group(1) is not None:
            out.append(SlotRef(m.group(1)))
        elif m.group(2) is not None:
            out.append(Alt(tuple(slot_leaves(o) for o in m.group(2).split("|"))))
        else:
            opts = m.group(4)
            out.append(
                Con(
                    m.group(3),
                    tuple(slot_leaves(o) for o in opts.split("|")) if opts is not None else None,
                )
            )
        pos = m.end()
    if pos < len(phrasing):
        out.append(phrasing[pos:])
    return tuple(out)


def slot_keys(parts: Iterable[Part | str | SlotRef]) -> set[str]:
    """Every slot key in ``parts``, including those inside options."""
    keys: set[str] = set()
    for p in parts:
        if isinstance(p, SlotRef):
            keys.add(p.key)
        elif isinstance(p, Alt | Con) and p.options:
            for opt in p.options:
                keys |= slot_keys(opt)
    return keys


@functools.cache
def contrasts(t: Template) -> dict[str, tuple[tuple[str | SlotRef, ...], ...]]:
    """Every contrast key of ``t`` with its default options (the first given)."""
    out: dict[str, tuple[tuple[str | SlotRef, ...], ...]] = {}
    for ph in t.phrasings:
        for p in parse_phrasing(ph):
            if isinstance(p, Con) and p.options and p.key not in out:
                out[p.key] = p.options
    return out


def validate(t: Template) -> None:
    """Raise ValueError unless every phrasing of ``t`` has the same slots and contrasts and
    every slot and contrast kind exists."""
    cons = contrasts(t)
    base: tuple[set[str], dict[str, int]] | None = None
    for ph in t.phrasings:
        parts = parse_phrasing(ph)
        arity: dict[str, int] = {}
        for p in parts:
            if isinstance(p, Con):
                if p.key.rstrip("0123456789") not in CON_KINDS:
                    raise ValueError(f"unknown contrast kind {p.key!r} in {ph!r}")
                if p.key not in cons:
                    raise ValueError(f"contrast {p.key!r} has no options in {ph!r}")
                arity[p.key] = len(p.options or cons[p.key])
        keys = slot_keys(parts)
        for p in parts:
            if isinstance(p, Con) and p.options is None:
                for opt in cons[p.key]:
                    keys |= slot_keys(opt)
        sig = (keys, arity)
        if base is None:
            base = sig
        elif sig != base:
            raise ValueError(f"phrasings of one template differ in slots or contrasts: {ph!r}")
    for payload in t.payloads:
        for m in _SLOT_HOLE.finditer(payload):
            if (
                slot_type(m.group(1)) not in SLOTS
                and m.group(1).isidentifier()
                and (m.group(1).islower() and len(m.group(1)) > 2)
            ):
                raise ValueError(f"unknown slot {m.group(1)!r} in payload {payload!r}")


@dataclass
class Inst:
    """A template instance: a phrasing, slot values, contrast options, wording choices, a
    snippet and a layout (snippet after, on its own line, or before)."""

    t: Template
    phrasing: int
    slots: dict[str, str]
    cons: dict[str, int]
    alts: list[int]
    payload: int
    layout: int

    def copy(self) -> Inst:
        return Inst(
            self.t,
            self.phrasing,
            dict(self.slots),
            dict(self.cons),
            list(self.alts),
            self.payload,
            self.layout,
        )


class _Renderer:
    def __init__(self, inst: Inst) -> None:
        self.inst = inst
        self.cons = contrasts(inst.t)
        self.alt_i = 0

    def leaves(self, out: str, leaves: Sequence[str | SlotRef]) -> str:
        for leaf in leaves:
            text = leaf if isinstance(leaf, str) else self.inst.slots[leaf.key]
            out = fix_article(out, text) + text
        return out

    def parts(self, parts: Sequence[Part]) -> str:
        out = ""
        for p in parts:
            if isinstance(p, str | SlotRef):
                out = self.leaves(out, (p,))
            elif isinstance(p, Alt):
                choice = self.inst.alts[self.alt_i % len(self.inst.alts)] % len(p.options)
                self.alt_i += 1
                out = self.leaves(out, p.options[choice])
            else:
                options = p.options or self.cons[p.key]
                out = self.leaves(out, options[self.inst.cons[p.key]])
        return out


def render_instruction(inst: Inst) -> str:
    """The instance's instruction (without the snippet)."""
    text = _Renderer(inst).parts(parse_phrasing(inst.t.phrasings[inst.phrasing]))
    return cap(tidy(text))


def _render_payload(inst: Inst) -> str:
    if not inst.t.payloads:
        return ""
    return _Renderer(inst).leaves("", slot_leaves(inst.t.payloads[inst.payload]))


def _assemble(instruction: str, payload: str, layout: int) -> tuple[str, str, str]:
    """(before, instruction, after) of the full prompt."""
    if not payload:
        return "", instruction, ""
    if layout == 2 and instruction.endswith(("?", ".")):
        return payload + "\n\n", instruction, ""
    if layout == 1 or "\n" in payload:
        return "", instruction, "\n" + payload
    return "", instruction, " " + payload


def render(inst: Inst) -> tuple[str, str, str]:
    """(before, instruction, after) of the instance's full prompt."""
    return _assemble(render_instruction(inst), _render_payload(inst), inst.layout)


def full_text(parts: tuple[str, str, str]) -> str:
    """The full prompt of :func:`render`'s parts."""
    return parts[0] + parts[1] + parts[2]


@functools.cache
def _all_slot_keys(t: Template) -> tuple[str, ...]:
    keys = set[str]()
    for ph in t.phrasings:
        keys |= slot_keys(parse_phrasing(ph))
    for options in contrasts(t).values():
        for opt in options:
            keys |= slot_keys(opt)
    for payload in t.payloads:
        keys |= {r.key for r in slot_leaves(payload) if isinstance(r, SlotRef)}
    return tuple(sorted(keys))


def fill_slot(
    key: str, taken: Mapping[str, str], rng: random.Random, avoid: str | None = None
) -> str:
    """A value for slot ``key`` that no other key of its type in ``taken`` has (nor ``avoid``)."""
    kind = slot_type(key)
    used = {v for k, v in taken.items() if slot_type(k) == kind and k != key}
    if avoid is not None:
        used.add(avoid)
    values = SLOTS[kind].values
    if not used:
        return rng.choice(values)
    return rng.choice([v for v in values if v not in used])


def check_key(inst: Inst) -> object:
    """The instance's answer key by its template's check (None without a check)."""
    if inst.t.check is None:
        return None
    values = dict(inst.slots)
    values.update({f"<{k}>": str(v) for k, v in inst.cons.items()})
    return inst.t.check(values)


def instantiate(t: Template, rng: random.Random) -> Inst | None:
    """A random instance of ``t`` (one whose check gives an answer), or None."""
    for _ in range(20):
        slots: dict[str, str] = {}
        for key in _all_slot_keys(t):
            slots[key] = fill_slot(key, slots, rng)
        cons = {k: rng.randrange(len(v)) for k, v in contrasts(t).items()}
        layout = rng.choices((0, 1, 2), weights=(6, 1, 2))[0]
        inst = Inst(
            t,
            rng.randrange(len(t.phrasings)),
            slots,
            cons,
            [rng.randrange(1 << 20) for _ in range(6)],
            rng.randrange(len(t.payloads)) if t.payloads else 0,
            layout,
        )
        if t.check is None or check_key(inst) is not None:
            return inst
    return None
