"""Number near-misses: change a number (or a number word, an ordinal), swap the order of two
numbers or of a number's digits, and change a date, a year, a time of day or a version.

>>> op_number_order("Book a table for 8 people at 2 pm.", random.Random(0))
'Book a table for 2 people at 8 pm.'
"""

from __future__ import annotations

import itertools
import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.conditions import CONSTRAINT_LEN
from semcached.quality.synthetic.swaps import SWAP_INDEX
from semcached.quality.synthetic.text import (
    Op,
    free,
    match_case,
    next_word,
    ordinal,
    prev_word,
    protected,
    splice,
    word_set,
)

__all__ = ["number_sites", "op_dates", "op_number_order", "op_numbers"]

_CLAUSE_WORDS = datafiles.word_set("clause_words")
_NUM = re.compile(r"(?<![\w.,:/#-])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|[.,:/-]\d)")
_ORDINAL = re.compile(r"(?<![\w.,])(\d+)(st|nd|rd|th)\b")
_NUMBER_WORDS = datafiles.word_list("number_words")
_NUMBER_WORD_RE = re.compile(
    r"(?<![\w-])(" + "|".join(_NUMBER_WORDS) + r")(?![\w-])\s+(?=[a-z])", re.IGNORECASE
)
_MONTHS = datafiles.word_set("months")
_VERSIONED = datafiles.word_set("versioned")
_KNOWN_VERSIONS = datafiles.row_map("words", "known_versions")
_PY3 = datafiles.word_list("python3_versions")
_CONSTRAINT_PREV = datafiles.word_set("constraint_before")


def _number_kind(text: str, start: int, end: int) -> str:
    token = text[start:end]
    prev = prev_word(text, start)
    nxt = next_word(text, end)
    if re.search(r"[A-Za-z][\w.+]*\s?$", text[:start]) and prev in _VERSIONED:
        return "dates_versions"
    if (
        re.fullmatch(r"1[0-9]\d\d|20\d\d", token)
        and not text[:start].endswith(("$", "€", "£"))
        and (
            not re.match(r"\s*(?:[a-zA-Z%]|-[a-z])", text[end:])
            or nxt in _MONTHS
            or re.match(r"\s*(?:BC|AD|CE|BCE)\b", text[end:])
        )
    ):
        return "dates_versions"
    if prev in _MONTHS or nxt in _MONTHS:
        return "dates_versions"
    if re.match(r"-(?:word|character|sentence|line|page|paragraph|minute|second)s?\b", text[end:]):
        return "constraints"
    if CONSTRAINT_LEN.match(text[start:]) and prev.lower() in _CONSTRAINT_PREV:
        return "constraints"
    if re.match(
        r"\s*(?:decimal places?|significant (?:figures?|digits)|digits? after)\b", text[end:]
    ):
        return "constraints"
    return "numbers"


def _format_like(template: str, value: int) -> str:
    return f"{value:,}" if "," in template else str(value)


def _other_number(token: str, rng: random.Random) -> str | None:
    digits = token.replace(",", "")
    ip, _, fp = digits.partition(".")
    if len(ip) > 1 and ip.startswith("0"):
        return None
    v = int(ip)
    if v <= 12:
        choices = [c for c in (2, 3, 4, 5, 6, 8, 10, 12) if c != v]
        if v >= 2:
            choices.append(v + 1)
        nv = rng.choice(choices)
    else:
        lead = int(ip[0])
        nv = int(str(rng.choice([d for d in range(1, 10) if d != lead])) + ip[1:])
    out = _format_like(token, nv)
    return out + "." + fp if fp else out


def _other_year(token: str, rng: random.Random) -> str:
    year = int(token)
    # Another plausible year: never past 2030 for a recent one, any nearby year otherwise
    # (a year after 2060 keeps its earlier neighbours).
    deltas = [
        d for d in (-30, -20, -10, -5, -3, -2, -1, 1, 2, 3, 5, 10) if year + d <= max(2030, year)
    ]
    return str(year + rng.choice(deltas))


def _other_version(token: str, product: str, rng: random.Random) -> str | None:
    known = _KNOWN_VERSIONS.get(product)
    if product == "Python" and token.startswith("3.") and token in _PY3:
        known = _PY3
    if known and token in known:
        return rng.choice([v for v in known if v != token])
    parts = token.split(".")
    last = int(parts[-1])
    if len(parts[-1]) > 1 and parts[-1].startswith("0"):
        return None
    options = [last + 1, last + 2] + ([last - 1] if last > (1 if len(parts) == 1 else 0) else [])
    parts[-1] = str(rng.choice(options))
    return ".".join(parts)


def number_sites(text: str, rng: random.Random) -> list[tuple[int, int, str, str]]:
    """(start, end, replacement, kind) for every number that can be changed."""
    spans = protected(text)
    out: list[tuple[int, int, str, str]] = []
    for m in _NUM.finditer(text):
        start, end = m.span()
        if not free(spans, start, end):
            continue
        kind = _number_kind(text, start, end)
        token = m.group(0)
        new: str | None
        if re.match(r"-year-olds?\b", text[end:]) and token.isdigit():
            age = int(token)
            ages = [a for a in (3, 5, 8, 12, 16, 25, 40, 65, 80) if max(a, age) >= 2 * min(a, age)]
            new, kind = str(rng.choice(ages)), "audience"
        elif kind == "dates_versions" and prev_word(text, start) in _VERSIONED:
            new = _other_version(token.replace(",", ""), prev_word(text, start), rng)
        elif kind == "dates_versions" and re.fullmatch(r"\d{4}", token):
            new = _other_year(token, rng)
        elif kind == "dates_versions":
            day = int(token) if token.isdigit() else 0
            new = str(rng.choice([d for d in range(1, 29) if d != day])) if 1 <= day <= 31 else None
        elif kind == "constraints":
            new = _other_number(token, rng)
            if (
                new is not None
                and int(token.replace(",", "").split(".")[0]) >= 20
                and (re.match(r"\s*-?\s*(?:words?|characters?|chars)\b", text[end:]))
            ):
                limits = [
                    x
                    for x in (10, 20, 25, 30, 50, 75, 100, 150, 200, 250, 300, 500)
                    if x != int(token.replace(",", "").split(".")[0])
                ]
                new = str(rng.choice(limits))
        else:
            new = _other_number(token, rng)
        if new is not None and new != token:
            out.append((start, end, new, kind))
    for m in _ORDINAL.finditer(text):
        if free(spans, *m.span()):
            n = int(m.group(1))
            nn = (
                rng.choice([x for x in range(1, 13) if x != n])
                if n <= 12
                else n + rng.choice([-2, -1, 1, 2])
            )
            out.append((m.start(), m.end(), ordinal(nn), "numbers"))
    for m in _NUMBER_WORD_RE.finditer(text):
        if free(spans, *m.span()) and next_word(text, m.end()).lower() not in {"of", "and"}:
            word = m.group(1)
            new_word = rng.choice([w for w in _NUMBER_WORDS if w != word.lower()])
            out.append((m.start(1), m.end(1), match_case(word, new_word), "numbers"))
    return out


def _number_op(kind: str) -> Op:
    def op(text: str, rng: random.Random) -> str | None:
        sites = [s for s in number_sites(text, rng) if s[3] == kind]
        if not sites:
            return None
        start, end, new, _ = rng.choice(sites)
        return splice(text, start, end, new)

    return op


op_numbers = _number_op("numbers")

# ----------------------------------------------------------------------------- number order
_AGGREGATE = re.compile(
    r"\b(?:total|sum|altogether|combined|in all|together|average|mean|"
    r"product|gcd|lcm|greatest common|least common|multiply|add)\b",
    re.I,
)
_NONCOMMUTATIVE = re.compile(
    r"\s*(?:\s-\s|\u2212|\u2013|minus|/|÷|divided by|\^|\*\*|to the power of|"
    r"mod|modulo|choose|over)\s*"
)
_UNIT_WORDS = datafiles.word_set("unit_words")


def _order_pairs(text: str, nums: list[re.Match[str]]) -> list[str]:
    out: list[str] = []
    if _AGGREGATE.search(text):
        return out
    for m1, m2 in itertools.pairwise(nums):
        a, b = m1.group(0), m2.group(0)
        if a == b or "-" in text[m1.end() : m1.end() + 1] or "-" in text[m2.end() : m2.end() + 1]:
            continue
        between = text[m1.end() : m2.start()]
        swapped_numbers = text[: m1.start()] + b + between + a + text[m2.end() :]
        if re.fullmatch(r"\s*[$€£%]?\s*", between) or re.search(
            r"\b(?:vs\.?|versus|or|compared|between|x|times|by|and|plus)\s*[$€£]?$|^\W*(?:,|&)",
            between,
            re.IGNORECASE,
        ):
            continue
        if re.search(r"\bfrom\s+[$€£]?$", text[: m1.start()]) and re.fullmatch(
            r"\s*(?:[%a-zA-Z]+\s+)?(?:to|until|till|through|into|onto)\s+[$€£]?", between
        ):
            out.append(swapped_numbers)
            continue
        if _NONCOMMUTATIVE.fullmatch(between) and not re.match(r"[A-Za-z]", text[m2.end() :]):
            out.append(swapped_numbers)
            continue
        out.extend(_noun_role_swap(text, m1, m2, between))
    return out


def _noun_role_swap(text: str, m1: re.Match[str], m2: re.Match[str], between: str) -> list[str]:
    n1 = re.match(r"\s*%?\s*([a-z]+)", text[m1.end() :])
    n2 = re.match(r"\s*%?\s*([a-z]+)", text[m2.end() :])
    if not n1 or not n2 or n1.group(1) == n2.group(1):
        return []
    rest = between[n1.end() :]
    if re.fullmatch(r"\s*(?:and|or|,|&|\+|plus|with|by|x|\u00d7|times)?\s*[$€£]?", rest):
        return []
    connectors = _CLAUSE_WORDS | word_set("vs versus x times plus minus percent")
    if n1.group(1) in connectors or n2.group(1) in connectors:
        return []
    va, vb = (float(x.group(0).replace(",", "")) for x in (m1, m2))
    if min(va, vb) < 2 or max(va, vb) > 10000 or max(va, vb) / min(va, vb) > 100:
        return []
    if {n1.group(1), n2.group(1)} & {"am", "pm", "o"} and max(va, vb) > 12:
        return []
    a, b = m1.group(0), m2.group(0)
    if n1.group(1) in _UNIT_WORDS and n2.group(1) in _UNIT_WORDS:
        u1 = text[m1.start() : m1.end() + n1.end()]
        u2 = text[m2.start() : m2.end() + n2.end()]
        return [
            text[: m1.start()]
            + u2
            + text[m1.end() + n1.end() : m2.start()]
            + u1
            + text[m2.end() + n2.end() :]
        ]
    return [text[: m1.start()] + b + between + a + text[m2.end() :]]


def _transpose_digits(token: str, is_year: bool, rng: random.Random) -> str | None:
    digits = [c for c in token if c.isdigit()]
    if len(digits) < 2 or len(set(digits)) < 2:
        return None
    positions = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1]]
    if is_year:
        positions = [p for p in positions if p == len(digits) - 2]
    positions = [p for p in positions if not (p == 0 and digits[1] == "0")]
    if not positions:
        return None
    p = rng.choice(positions)
    digits[p], digits[p + 1] = digits[p + 1], digits[p]
    it = iter(digits)
    return "".join(next(it) if c.isdigit() else c for c in token)


def op_number_order(text: str, rng: random.Random) -> str | None:
    """Two numbers of ``text`` in swapped order (or a number's digits), or None."""
    spans = protected(text)
    nums = [m for m in _NUM.finditer(text) if free(spans, *m.span())]
    pairs = _order_pairs(text, nums)
    if pairs and rng.random() < 0.75:
        return rng.choice(pairs)
    singles: list[str] = []
    for m in nums:
        token = m.group(0)
        kind = _number_kind(text, m.start(), m.end())
        if (
            kind == "dates_versions"
            and prev_word(text, m.start()) in _VERSIONED
            and ("." not in token)
        ):
            continue
        new = _transpose_digits(token, re.fullmatch(r"\d{4}", token) is not None, rng)
        if new and new != token:
            singles.append(splice(text, m.start(), m.end(), new))
    options = singles or pairs
    return rng.choice(options) if options else None


# ----------------------------------------------------------------------- dates and versions
_AMPM = re.compile(r"(?<=\d)(\s?)(am|pm|a\.m\.|p\.m\.|AM|PM)(?![\w])")
_DURATION_COMPOUND = re.compile(r"(?<=\d-)(day|week|month|year)(?=\s|$|[.,?!])")
_DECADE = re.compile(r"(?<![\w'])(1[5-9]|20)(\d)0s\b")


def _date_sites(text: str, rng: random.Random) -> list[str]:
    spans = protected(text)
    out = [
        splice(text, s, e, new) for s, e, new, k in number_sites(text, rng) if k == "dates_versions"
    ]
    flip = {"am": "pm", "pm": "am", "a.m.": "p.m.", "p.m.": "a.m.", "AM": "PM", "PM": "AM"}
    for m in _AMPM.finditer(text):
        if free(spans, *m.span()):
            out.append(text[: m.start(2)] + flip[m.group(2)] + text[m.end(2) :])
    for m in _DURATION_COMPOUND.finditer(text):
        if free(spans, *m.span()):
            new = rng.choice([u for u in ("day", "week", "month", "year") if u != m.group(1)])
            out.append(text[: m.start()] + new + text[m.end() :])
    for m in _DECADE.finditer(text):
        if free(spans, *m.span()):
            decade = int(m.group(1) + m.group(2) + "0")
            other = rng.choice([d for d in range(1950, 2030, 10) if d != decade])
            out.append(text[: m.start()] + f"{other}s" + text[m.end() :])
    for site in SWAP_INDEX["dates_versions"].sites(text, spans):
        clause = (
            re.split(r"[.?!;]", text[site.end :], maxsplit=1)[0]
            + " "
            + re.split(r"[.?!;]", text[: site.start])[-1]
        )
        past = re.search(r"\b(?:has|have|had|was|were|did|ago|[a-z]+ed)\b", clause)
        future = re.search(r"\b(?:will|going to|['\u2019]ll|upcoming|plan|planning)\b", clause)
        options = tuple(
            o
            for o in site.options
            if not (past and re.search(r"\b(?:next|tomorrow|tonight)\b", o))
            and not (future and re.search(r"\b(?:last|yesterday)\b", o))
        )
        if options:
            out.append(splice(text, site.start, site.end, rng.choice(options)))
    return [o for o in out if o != text]


def op_dates(text: str, rng: random.Random) -> str | None:
    """A date, year, time of day, version or period of ``text`` changed, or None."""
    sites = _date_sites(text, rng)
    return rng.choice(sites) if sites else None
