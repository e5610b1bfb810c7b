"""Swap groups: interchangeable words that change the answer (or, for synonyms and spelling
variants, keep it), and the index that finds where one member can replace another.

The groups are data (``data/swaps.json`` by kind, ``data/spelling.json``); a group's ``cond``
is built by :func:`semcached.quality.synthetic.conditions.condition`.

>>> [s.options for s in SWAP_INDEX["opposite_actions"].sites("How do I enable it?", [])]
[('disable',)]
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.conditions import Cond, condition
from semcached.quality.synthetic.text import (
    AFTER_WORD,
    BEFORE_WORD,
    at_sentence_start,
    free,
    match_case,
    plural_of,
    splice,
    verb_forms,
)

__all__ = ["SWAP_GROUPS", "SWAP_INDEX", "Site", "Swap", "SwapIndex", "apply_site"]


@dataclass(frozen=True)
class Swap:
    """Members that can replace each other; ``columns[i][f]`` is form ``f`` of member ``i``."""

    kind: str
    columns: tuple[tuple[str, ...], ...]
    case: bool = True
    cond: Cond | None = None
    extra: tuple[tuple[str, ...], ...] = ()
    directed: bool = False
    cluster: tuple[int, ...] = ()  # columns sharing a cluster id never replace each other
    adjacent: bool = False  # clusters are ordered (ms < s < min < h): only step to a neighbour


@dataclass(frozen=True)
class Site:
    """A place ``text[start:end]`` where a member can be replaced by one of ``options``."""

    start: int
    end: int
    options: tuple[str, ...]
    kind: str


_AMBIGUOUS = datafiles.word_set("ambiguous_names")


class SwapIndex:
    """Finds every place in a text where a member of one of ``swaps`` can be replaced."""

    def __init__(self, swaps: Sequence[Swap]) -> None:
        self.exact: dict[str, list[tuple[Swap, int, int]]] = {}
        self.lower: dict[str, list[tuple[Swap, int, int]]] = {}
        for swap in swaps:
            table = self.exact if swap.case else self.lower
            for col, member in enumerate(swap.columns):
                if swap.directed and col > 0:
                    break
                for f, form in enumerate(member):
                    if not form:
                        continue  # a form left out on purpose (see verb_forms)
                    key = form if swap.case else form.lower()
                    table.setdefault(key, []).append((swap, col, f))
        self.exact_re = self._regex(self.exact, 0)
        self.lower_re = self._regex(self.lower, re.IGNORECASE)

    @staticmethod
    def _regex(table: Mapping[str, object], flags: int) -> re.Pattern[str] | None:
        if not table:
            return None
        alts = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
        return re.compile(f"{BEFORE_WORD}(?:{alts}){AFTER_WORD}", flags)

    def sites(self, text: str, spans: Sequence[tuple[int, int]]) -> list[Site]:
        """Every replaceable member in ``text`` outside the protected ``spans``."""
        out: list[Site] = []
        low = text.lower()
        for regex, table, case in (
            (self.exact_re, self.exact, True),
            (self.lower_re, self.lower, False),
        ):
            if regex is None:
                continue
            for m in regex.finditer(text):
                start, end = m.span()
                if not free(spans, start, end):
                    continue
                word = m.group(0)
                if not case and word[0].isupper() and not at_sentence_start(text, start):
                    continue  # "Apple" in the middle of a sentence is a name, not a fruit
                if case and word in _AMBIGUOUS and at_sentence_start(text, start):
                    continue
                if not case and len(word) > 1 and word.isupper() and not text.isupper():
                    continue  # "PIN" is not "pin"
                for hit in table[word if case else word.lower()]:
                    site = self._site(text, low, (start, end), word, hit)
                    if site is not None:
                        out.append(site)
        return out

    @staticmethod
    def _site(
        text: str, low: str, span: tuple[int, int], word: str, hit: tuple[Swap, int, int]
    ) -> Site | None:
        start, end = span
        swap, col, f = hit
        if swap.cond is not None and not swap.cond(text, start, end):
            return None
        if swap.directed:
            others: Iterable[tuple[str, ...]] = swap.columns[1:]
        elif swap.cluster:
            mine = swap.cluster[col]
            others = (
                c
                for i, c in enumerate(swap.columns)
                if swap.cluster[i] != mine
                and (not swap.adjacent or abs(swap.cluster[i] - mine) == 1)
            )
        else:
            others = (c for i, c in enumerate(swap.columns + swap.extra) if i != col)
        possessive = text[end : end + 1] in {"'", "\u2019"}
        options: list[str] = []
        for other in others:
            if any(form.lower() in low for form in other):
                continue  # "buy or sell" -> "sell or sell" would be garbage
            new = other[min(f, len(other) - 1)]
            if not new:
                continue
            if possessive and new.endswith("s") != word.endswith("s"):
                continue  # "children's" -> "kids's"
            options.append(new if swap.case else match_case(word, new))
        if not options:
            return None
        return Site(start, end, tuple(options), swap.kind)


def apply_site(text: str, site: Site, rng: random.Random) -> str:
    """``text`` with the member at ``site`` replaced by one of its options."""
    return splice(text, site.start, site.end, rng.choice(site.options))


# ------------------------------------------------------------------- groups from the data
_Forms = Callable[[str], tuple[str, ...]]


def _plural_forms(noun: str) -> tuple[str, ...]:
    return (noun, plural_of(noun))


def _members(members: Sequence[str], forms: _Forms | None) -> tuple[tuple[str, ...], ...]:
    """Columns of ``members``; a member may spell out its forms as ``"buy/buys/bought"``."""
    out: list[tuple[str, ...]] = []
    for member in members:
        if not member:
            continue
        if "/" in member and forms is None:
            out.append(tuple(member.split("/")))
        elif forms is not None:
            out.append(tuple(member.split("/")) if "/" in member else forms(member))
        else:
            out.append((member,))
    return tuple(out)


def _clusters(
    kind: str,
    clusters: Sequence[Sequence[str]],
    *,
    case: bool,
    cond: Cond | None,
    forms: _Forms | None,
    split_forms: bool,
    adjacent: bool,
) -> Swap:
    """Members in clusters: a member is only replaced by one of another cluster
    (``"in one sentence"`` never by ``"in a single sentence"``)."""
    columns: list[tuple[str, ...]] = []
    ids: list[int] = []
    for i, cluster in enumerate(clusters):
        for member in cluster:
            if "/" in member and split_forms:
                columns.append(tuple(member.split("/")))
            else:
                columns.append(forms(member) if forms else (member,))
            ids.append(i)
    return Swap(kind, tuple(columns), case, cond, (), False, tuple(ids), adjacent)


def _strs(value: object) -> tuple[str, ...]:
    return datafiles.strings_of(value, "swaps.json")


def _flag(spec: Mapping[str, object], key: str, default: bool) -> bool:
    value = spec.get(key, default)
    if not isinstance(value, bool):
        raise TypeError(f"{key!r} is not true or false: {value!r}")
    return value


def _group(kind: str, spec: Mapping[str, object]) -> Swap:
    """One group of ``swaps.json`` (its format is described there)."""
    cond = condition(spec["cond"]) if "cond" in spec else None
    forms = _plural_forms if spec.get("forms") == "plural" else None
    directed = _flag(spec, "directed", False)
    if "members" in spec:
        columns = _members(_strs(spec["members"]), forms)
        extra = _members(_strs(spec.get("extra", [])), forms)
        return Swap(kind, columns, _flag(spec, "case", True), cond, extra, directed)
    if "clusters" in spec:
        clusters = spec["clusters"]
        if not isinstance(clusters, list):
            raise TypeError(f"clusters are not a list: {clusters!r}")
        return _clusters(
            kind,
            [_strs(c) for c in clusters],
            case=_flag(spec, "case", False),
            cond=cond,
            forms=forms,
            split_forms=_flag(spec, "split_forms", True),
            adjacent=_flag(spec, "adjacent", False),
        )
    if "verbs" in spec:  # two verbs with opposite meanings, matched and replaced form by form
        a, b = _strs(spec["verbs"])
        past = spec.get("past", [None, None])
        if not isinstance(past, list) or not all(p is None or isinstance(p, str) for p in past):
            raise TypeError(f"bad past forms: {past!r}")
        past_a, past_b = past
        return Swap(kind, (verb_forms(a, past_a), verb_forms(b, past_b)), False, cond, (), directed)
    raw = spec["columns"]
    if not isinstance(raw, list):
        raise TypeError(f"columns are not a list: {raw!r}")
    cols = tuple(_strs(c) for c in raw)
    return Swap(kind, cols, _flag(spec, "case", True), cond, (), directed)


def _ize(stem: str) -> tuple[str, str]:
    us = "/".join(stem + s for s in ("ize", "izes", "ized", "izing", "ization", "izations"))
    uk = "/".join(stem + s for s in ("ise", "ises", "ised", "ising", "isation", "isations"))
    return us, uk


def _spelling_swaps() -> tuple[Swap, ...]:
    pairs = datafiles.rows("spelling", "pairs")
    stems = datafiles.strings("spelling", "ize_stems")
    us_only = frozenset(datafiles.strings("spelling", "us_only"))
    out: list[Swap] = []
    for us, uk in (*pairs, *(_ize(stem) for stem in stems)):
        cols = (tuple(us.split("/")), tuple(uk.split("/")))
        directed = cols[0][0] in us_only
        out.append(Swap("spelling_variant", cols, False, None, (), directed))
    return tuple(out)


def _swap_groups() -> dict[str, tuple[Swap, ...]]:
    groups = datafiles.load("swaps")["groups"]
    if not isinstance(groups, dict):
        raise TypeError("swaps.json: groups is not an object")
    out = {kind: tuple(_group(kind, spec) for spec in specs) for kind, specs in groups.items()}
    out["spelling_variant"] = _spelling_swaps()
    return out


SWAP_GROUPS: dict[str, tuple[Swap, ...]] = _swap_groups()
"""Every swap group, by kind (the kinds of ``swaps.json``, then ``"spelling_variant"``)."""

SWAP_INDEX: dict[str, SwapIndex] = {kind: SwapIndex(g) for kind, g in SWAP_GROUPS.items()}
"""The index of each kind's groups."""
