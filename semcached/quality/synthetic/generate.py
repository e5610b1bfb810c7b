"""Template pairs: :func:`generate` makes near-misses and rewordings from the template
library, every kind in equal shares.

A near-miss changes exactly one thing the answer depends on: a contrast declared in the
template, a slot value, a value in the snippet, or the task asked of the snippet (checked,
where the template can compute its answer, to change the answer). A rewording switches to
another phrasing of the same template, or applies one of the generic rewordings.
"""

from __future__ import annotations

import functools
import random

from semcached.quality.synthetic.library import GROUPS, TEMPLATES
from semcached.quality.synthetic.near_misses import NEAR_MISS_OPS
from semcached.quality.synthetic.pair import LABEL0_KINDS, LABEL1_KINDS, SyntheticPair
from semcached.quality.synthetic.perturb import valid_pair
from semcached.quality.synthetic.rewordings import REWORDING_OPS, Rewording
from semcached.quality.synthetic.slots import SLOTS, slot_type
from semcached.quality.synthetic.templates import (
    CON_KINDS,
    Alt,
    Inst,
    SlotRef,
    Template,
    check_key,
    contrasts,
    fill_slot,
    full_text,
    instantiate,
    parse_phrasing,
    render,
    render_instruction,
    slot_keys,
    slot_leaves,
)
from semcached.quality.synthetic.text import Op

__all__ = ["generate"]


def _payload_keys(t: Template) -> set[str]:
    keys = set[str]()
    for payload in t.payloads:
        keys |= {r.key for r in slot_leaves(payload) if isinstance(r, SlotRef)}
    return keys


def _mechanisms(t: Template) -> dict[str, list[tuple[str, str]]]:
    """The near-miss kinds ``t`` can make, each with how: ("con", key), ("slot", key),
    ("task", "")."""
    out: dict[str, list[tuple[str, str]]] = {}
    for key, options in contrasts(t).items():
        if len(options) > 1:
            out.setdefault(CON_KINDS[key.rstrip("0123456789")], []).append(("con", key))
    payload_keys = _payload_keys(t)
    instruction_keys = set[str]()
    for ph in t.phrasings:
        instruction_keys |= slot_keys(parse_phrasing(ph))
    for options in contrasts(t).values():
        for opt in options:
            instruction_keys |= slot_keys(opt)
    for key in sorted(instruction_keys | payload_keys):
        slot = SLOTS[slot_type(key)]
        if len(slot.values) < 2:
            continue
        if key in payload_keys and key not in instruction_keys:
            if t.depends is None or key in t.depends:
                out.setdefault("snippet", []).append(("slot", key))
        elif slot.kind:
            out.setdefault(slot.kind, []).append(("slot", key))
    if t.group >= 0 and len(GROUPS.get(t.group, ())) > 1:
        out.setdefault("task", []).append(("task", ""))
    return out


def _pair(a: str, b: str, label: int, kind: str, rng: random.Random) -> SyntheticPair | None:
    a, b = a.strip(), b.strip()
    if not valid_pair(a, b):
        return None
    if rng.random() < 0.5:
        a, b = b, a
    return SyntheticPair(a, b, label, kind, "template")


@functools.cache
def _near_miss_index() -> dict[str, tuple[tuple[int, str, str], ...]]:
    index: dict[str, list[tuple[int, str, str]]] = {k: [] for k in LABEL0_KINDS}
    for i, t in enumerate(TEMPLATES):
        for kind, mechanisms in _mechanisms(t).items():
            index[kind].extend((i, how, key) for how, key in mechanisms)
    return {k: tuple(v) for k, v in index.items()}


def _bind(op: Rewording, at_end: bool) -> Op:
    def bound(text: str, rng: random.Random) -> str | None:
        return op(text, rng, at_end)

    return bound


@functools.cache
def _probe() -> dict[str, tuple[tuple[int, int], ...]]:
    """For each generic operation, the (template, phrasing) pairs it applied to once."""
    found: dict[str, list[tuple[int, int]]] = {k: [] for k in (*NEAR_MISS_OPS, *REWORDING_OPS)}
    rng = random.Random(12345)
    for i, t in enumerate(TEMPLATES):
        inst = instantiate(t, rng)
        if inst is None:
            continue
        # A generic near-miss is only trusted where the template itself cannot tell: not on
        # a snippet (the task decides what matters) nor on a template that checks answers.
        ops: dict[str, Op] = {
            **(NEAR_MISS_OPS if not t.payloads and t.check is None else {}),
            **{k: _bind(op, not t.payloads) for k, op in REWORDING_OPS.items()},
        }
        for p in range(len(t.phrasings)):
            inst.phrasing = p
            instruction = render_instruction(inst)
            for kind, op in ops.items():
                if op(instruction, rng) is not None:
                    found[kind].append((i, p))
    return {k: tuple(v) for k, v in found.items()}


def _with_op(kind: str, label: int, rng: random.Random) -> SyntheticPair | None:
    sites = _probe()[kind]
    if not sites:
        return None
    i, p = rng.choice(sites)
    inst = instantiate(TEMPLATES[i], rng)
    if inst is None:
        return None
    inst.phrasing = p
    before, instruction, after = render(inst)
    new = (
        NEAR_MISS_OPS[kind](instruction, rng)
        if label == 0
        else REWORDING_OPS[kind](instruction, rng, not after.strip())
    )
    if new is None:
        return None
    return _pair(before + instruction + after, before + new + after, label, kind, rng)


def _changed(inst: Inst, how: str, key: str, rng: random.Random) -> Inst | None:
    t = inst.t
    b = inst.copy()
    if how == "con":
        n = len(contrasts(t)[key])
        b.cons[key] = rng.choice([c for c in range(n) if c != inst.cons[key]])
    elif how == "slot":
        b.slots[key] = fill_slot(key, inst.slots, rng, avoid=inst.slots[key])
    else:
        others = [j for j in GROUPS[t.group] if TEMPLATES[j] is not t]
        other = TEMPLATES[rng.choice(others)]
        fresh = instantiate(other, rng)
        if fresh is None:
            return None
        fresh.slots.update({k: v for k, v in inst.slots.items() if k in fresh.slots})
        fresh.payload, fresh.layout = inst.payload, inst.layout
        return fresh
    if t.check is not None:
        ka, kb = check_key(inst), check_key(b)
        if ka is None or kb is None or ka == kb:
            return None
    return b


def _template_near_miss(kind: str, rng: random.Random) -> SyntheticPair | None:
    entries = _near_miss_index()[kind]
    if not entries or (kind in NEAR_MISS_OPS and rng.random() < 0.15):
        return _with_op(kind, 0, rng) if kind in NEAR_MISS_OPS else None
    i, how, key = rng.choice(entries)
    inst = instantiate(TEMPLATES[i], rng)
    if inst is None:
        return None
    b = _changed(inst, how, key, rng)
    if b is None:
        return None
    a_text, b_text = full_text(render(inst)), full_text(render(b))
    if a_text == b_text:
        return None  # the changed slot or option is not in this phrasing
    if how != "task" and len(b.t.phrasings) > 1 and rng.random() < 0.25:
        b.phrasing = rng.choice([p for p in range(len(b.t.phrasings)) if p != b.phrasing])
        b.alts = [rng.randrange(1 << 20) for _ in b.alts]
        b_text = full_text(render(b))
    return _pair(a_text, b_text, 0, kind, rng)


@functools.cache
def _multi_phrasing() -> tuple[Template, ...]:
    return tuple(t for t in TEMPLATES if len(t.phrasings) > 1)


@functools.cache
def _with_alternations() -> tuple[Template, ...]:
    return tuple(
        t
        for t in TEMPLATES
        if any(isinstance(p, Alt) for ph in t.phrasings for p in parse_phrasing(ph))
    )


def _template_rewording(kind: str, rng: random.Random) -> SyntheticPair | None:
    if kind in {"paraphrase", "synonyms"} and rng.random() < 0.7:
        t = rng.choice(_multi_phrasing() if kind == "paraphrase" else _with_alternations())
        inst = instantiate(t, rng)
        if inst is None:
            return None
        b = inst.copy()
        if kind == "paraphrase":
            b.phrasing = rng.choice([p for p in range(len(t.phrasings)) if p != inst.phrasing])
        b.alts = [rng.randrange(1 << 20) for _ in b.alts]
        return _pair(full_text(render(inst)), full_text(render(b)), 1, kind, rng)
    return _with_op(kind, 1, rng)


def generate(n: int, *, seed: int = 0) -> list[SyntheticPair]:
    """``n`` template pairs, half near-misses and half rewordings, kinds in equal shares.

    The same ``n`` and ``seed`` always give the same pairs, in the same order. Which prompt
    is ``a`` and which is ``b`` is random, so the changed one is not always second.

    >>> pairs = generate(60, seed=1)
    >>> len(pairs), sum(p.label for p in pairs)
    (60, 30)
    >>> pairs == generate(60, seed=1)
    True
    """
    if n <= 0:
        return []
    rng = random.Random(seed)
    out: list[SyntheticPair] = []
    seen: set[tuple[str, str]] = set()
    kinds = {0: list(LABEL0_KINDS), 1: list(LABEL1_KINDS)}
    for ks in kinds.values():
        rng.shuffle(ks)
    made = {0: 0, 1: 0}
    skips = 0
    while len(out) < n:
        label = len(out) % 2
        ks = kinds[label]
        kind = ks[(made[label] + skips) % len(ks)]
        pair = None
        for _ in range(40):
            pair = _template_near_miss(kind, rng) if label == 0 else _template_rewording(kind, rng)
            if pair is not None and (pair.a, pair.b) not in seen and (pair.b, pair.a) not in seen:
                break
            pair = None
        if pair is None:
            skips += 1  # this kind is exhausted or unlucky: let the next one take the turn
            if skips > 100 * (len(LABEL0_KINDS) + len(LABEL1_KINDS)) + n:
                break
            continue
        seen.add((pair.a, pair.b))
        out.append(pair)
        made[label] += 1
    rng.shuffle(out)
    return out
