"""Checks on quantities: numbers with their roles, dates, units.

Sentence embeddings blur exactly these: "top 5" vs "top 10", "2019" vs "2020", "km" vs
"miles", and the same numbers in other places ("from account 1234 to 5678" vs "from 5678 to
1234", "8 people at 2 pm" vs "2 people at 8 pm"). Each check only vetoes.
"""

from __future__ import annotations

import re
from collections import Counter

from semcached.policy.decision import Candidate
from semcached.policy.guards.base import Check
from semcached.policy.guards.text import (
    AMBIGUOUS_UNITS,
    MONTHS,
    NUMBER_WORDS,
    PERIODS,
    RELATIVE_DAYS,
    RELATIVE_MODIFIERS,
    SCALES,
    STOPWORDS,
    UNITS,
    WEEKDAYS,
    Text,
    analyze,
    fmt,
)

__all__ = ["ROLE_WORDS", "DateGuard", "NumberGuard", "UnitGuard", "numbers_with_roles"]

# Words that give a number its role when they stand just before it ("from 1234", "at 8").
ROLE_WORDS = frozenset(
    [
        "from",
        "to",
        "into",
        "onto",
        "than",
        "before",
        "after",
        "until",
        "since",
        "by",
        "over",
        "under",
        "above",
        "below",
        "at",
        "per",
        "between",
        "within",
    ]
)
# Notation read as numbers: "x squared" is x^2.
_POWER_WORDS = {"squared": "2", "cubed": "3"}
_CENTURY = re.compile(r"(\d{1,2})(?:st|nd|rd|th)$")
_SUFFIXES = frozenset(["st", "nd", "rd", "th"])


def _value(token: str) -> str | None:
    """The number a token stands for (canonical text), if it is one."""
    if token in _POWER_WORDS:
        return _POWER_WORDS[token]
    if token in NUMBER_WORDS:
        return str(NUMBER_WORDS[token])
    if "-" in token:  # "two-line", "5-day": the number part
        head = token.split("-", 1)[0]
        return _value(head) if head else None
    if not token[0].isdecimal():
        return None
    letters = re.fullmatch(r"\d+([a-z]{2,})", token)
    if letters and letters.group(1) not in UNITS and letters.group(1) not in _SUFFIXES:
        return None  # a name with digits ("2fa", "2xx", "3d"), not a quantity
    if re.fullmatch(r"\d{2,3}0s", token):  # a decade or century: "1970s", "1800s"
        return token
    value = token.rstrip("stndrhkm") or token
    value = value.replace(",", "")
    if re.fullmatch(r"\d+\.\d+", value):
        value = str(float(value)).rstrip("0").rstrip(".")
    elif value.isdecimal():
        value = str(int(value))
    if token.endswith("k") and value.isdecimal():
        value = str(int(value) * 1000)
    return value


def numbers_with_roles(text: Text) -> list[tuple[str, str | None]]:
    """The numbers of a text in order, each with its role: the role word just before it
    ("from", "to", "at"...) or else the word just after it ("people", "pm", "days")."""
    found: list[tuple[str, str | None]] = []
    tokens = text.tokens
    for i, token in enumerate(tokens):
        if token in SCALES:
            if found and i > 0 and _value(tokens[i - 1]) is not None and found[-1][0].isdecimal():
                found[-1] = (str(int(found[-1][0]) * SCALES[token]), found[-1][1])
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if _CENTURY.match(token) and nxt == "century":  # "19th century" is the 1800s
            found.append((f"{(int(_CENTURY.match(token).group(1)) - 1) * 100}s", None))  # type: ignore[union-attr]
            continue
        value = _value(token)
        if value is None:
            continue
        role = next(
            (tokens[j] for j in range(i - 1, max(-1, i - 3), -1) if tokens[j] in ROLE_WORDS),
            None,
        )
        if role is None and nxt and nxt not in STOPWORDS and _value(nxt) is None:
            role = nxt
        found.append((value, role))
    return found


class NumberGuard(Check):
    """Vetoes when both texts carry numbers and they differ ("top 5" vs "top 10"), or the same
    numbers in other roles ("from 1234 to 5678" vs "from 5678 to 1234", "8 people at 2 pm" vs
    "2 people at 8 pm"). Number words ("five") count; "1,000", "1000" and "1k" are one
    number; "x squared" is x^2; "19th century" is the 1800s."""

    name = "numbers"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q = numbers_with_roles(analyze(query))
        c = numbers_with_roles(analyze(candidate.text))
        # Sets, not counts: "3 ways: 1. ... 2. ... 3. ..." restates a number it lists.
        qv, cv = {v for v, _ in q}, {v for v, _ in c}
        if qv and cv and qv != cv:
            return f"numbers differ: {fmt(qv)} vs {fmt(cv)}"
        # A number only one text has (a constraint added, a figure in a sentence of context)
        # is left to the pair model: as a veto it cost more right answers than it saved.
        return _swapped(q, c) if qv == cv else None


def _swapped(q: list[tuple[str, str | None]], c: list[tuple[str, str | None]]) -> str | None:
    """Two numbers that trade roles: each keeps a role on both sides, and the roles differ."""
    q_roles, c_roles = _roles(q), _roles(c)
    moved = sorted(
        v
        for v in q_roles
        if v in c_roles and q_roles[v] and c_roles[v] and q_roles[v] != c_roles[v]
    )
    if len(moved) >= 2:
        return f"numbers trade places: {moved[0]} and {moved[1]} have other roles"
    return None


def _roles(found: list[tuple[str, str | None]]) -> dict[str, frozenset[str]]:
    roles: dict[str, set[str]] = {}
    counts = Counter(v for v, _ in found)
    for value, role in found:
        if counts[value] == 1 and role is not None:
            roles.setdefault(value, set()).add(role)
        else:
            roles.setdefault(value, set())
    return {v: frozenset(r) for v, r in roles.items()}


def _dates(text: Text) -> set[str]:
    found: set[str] = set()
    tokens = text.tokens
    for i, token in enumerate(tokens):
        cased = text.cased[i]
        if token in MONTHS and (len(token) > 3 or cased[0].isupper()):
            near_number = any(
                0 <= j < len(tokens) and tokens[j][0].isdecimal() for j in (i - 1, i + 1)
            )
            # "may" and "march" are verbs far more often than months
            if token in ("may", "march") and not near_number and not cased[0].isupper():
                continue
            if token == "may" and not near_number:
                continue
            found.add(f"month:{MONTHS[token]}")
        elif token.endswith("days") and token[:-1] in WEEKDAYS:
            found.add(f"weekday:{WEEKDAYS[token[:-1]]}")  # "on Sundays"
        elif token in WEEKDAYS and (len(token) > 3 or cased[0].isupper()):
            if token in ("sun", "sat", "wed") and not cased[0].isupper():
                continue
            found.add(f"weekday:{WEEKDAYS[token]}")
        elif token in RELATIVE_DAYS:
            found.add(token.removesuffix("s"))
        elif token in PERIODS and i > 0 and tokens[i - 1] in RELATIVE_MODIFIERS:
            found.add(f"{tokens[i - 1]} {token}")
        elif re.fullmatch(r"(1[5-9]|20)\d\d|(1[5-9]|20)\d0s", token):
            found.add(f"year:{token}")
    return found


class DateGuard(Check):
    """Vetoes when both texts name dates of one kind and they differ: years, months,
    weekdays, "today" vs "tomorrow", "next week" vs "last week". A date only one text names
    (often in a sentence of context) is left to the pair model."""

    name = "dates"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = _dates(analyze(query)), _dates(analyze(candidate.text))
        for kind in {_kind(d) for d in q} & {_kind(d) for d in c}:
            qs = {d for d in q if _kind(d) == kind}
            cs = {d for d in c if _kind(d) == kind}
            if qs != cs:
                return f"dates differ: {fmt(qs)} vs {fmt(cs)}"
        return None


def _kind(date: str) -> str:
    """year, month, weekday, or relative (today, next week...)."""
    prefix, _, _ = date.partition(":")
    return prefix if prefix in ("year", "month", "weekday") else "relative"


def _units(text: Text) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    tokens = text.tokens
    for i, token in enumerate(tokens):
        unit = UNITS.get(token)
        if unit is None:
            continue
        after_number = i > 0 and tokens[i - 1][0].isdecimal()
        if token in AMBIGUOUS_UNITS and not after_number:
            continue
        found.append(unit)
    for symbol in ("$", "€", "£", "¥"):
        if symbol in text.raw:
            found.append(UNITS[symbol])
    return found


class UnitGuard(Check):
    """Vetoes when both texts measure the same kind of quantity in different units ("km" vs
    "miles", "$" vs "€"), or convert between the same units the other way round."""

    name = "units"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = _units(analyze(query)), _units(analyze(candidate.text))
        for dimension in {d for d, _ in q} & {d for d, _ in c}:
            qs = [u for d, u in q if d == dimension]
            cs = [u for d, u in c if d == dimension]
            if set(qs) != set(cs):
                return f"{dimension} units differ: {fmt(set(qs))} vs {fmt(set(cs))}"
            if len(set(qs)) > 1 and list(dict.fromkeys(qs)) != list(dict.fromkeys(cs)):
                return f"{dimension} units in another order: {' -> '.join(qs)} vs {' -> '.join(cs)}"
        return None
