"""Shorthand rewordings (label 1), both ways: contractions, abbreviations (and units after a
number), and mathematical notation; their tables are in ``data/shorthand.json``.

>>> op_contraction("I do not know", random.Random(0)), op_notation("What is 7!?", random.Random(0))
("I don't know", 'What is 7 factorial?')
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.text import (
    AFTER_WORD,
    BEFORE_WORD,
    at_sentence_start,
    free,
    match_case,
    next_word,
    number_tokens,
    ordinal,
    protected,
    splice,
)

__all__ = ["op_abbreviation", "op_contraction", "op_notation"]

_CONTRACT = datafiles.rows("shorthand", "contractions")
_EXPAND = datafiles.rows("shorthand", "expansions")


def _compile_rules(
    rules: Sequence[Sequence[str]], flags: int = 0
) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(pattern, replacement) rules, compiled."""
    return tuple((re.compile(pattern, flags), repl) for pattern, repl in rules)


def _regex_sites(text: str, rules: Sequence[tuple[re.Pattern[str], str]]) -> list[str]:
    spans = protected(text)
    out: list[str] = []
    for pattern, repl in rules:
        for m in pattern.finditer(text):
            if not free(spans, *m.span()):
                continue
            new = m.expand(repl)
            new = match_case(m.group(0), new) if m.group(0)[:1].isupper() else new
            out.append(splice(text, m.start(), m.end(), new))
    return [o for o in out if o != text]


_CONTRACT_RULES = _compile_rules(_CONTRACT, re.IGNORECASE)
_EXPAND_RULES = _compile_rules(_EXPAND, re.IGNORECASE)


def op_contraction(text: str, rng: random.Random) -> str | None:
    """A contraction made or expanded in ``text``, or None."""
    sites = _regex_sites(text, _CONTRACT_RULES) + _regex_sites(text, _EXPAND_RULES)
    return rng.choice(sites) if sites else None


# ----------------------------------------------------------------------------- abbreviations
_ABBREVIATIONS = datafiles.rows("shorthand", "abbreviations")
_ABBR_AFTER_NUMBER = datafiles.rows("shorthand", "unit_abbreviations")
_NO_EXPAND = frozenset(datafiles.strings("shorthand", "no_expand"))
_NO_CONTRACT = frozenset(datafiles.strings("shorthand", "no_contract"))
_ABBR_LONG = {short: long for short, long in _ABBREVIATIONS if short not in _NO_EXPAND}
_ABBR_SHORT = {long.lower(): short for short, long in _ABBREVIATIONS if short not in _NO_CONTRACT}


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_ABBR_SHORT_RE = re.compile(BEFORE_WORD + "(" + _alternation(_ABBR_LONG) + ")" + AFTER_WORD)
_ABBR_LONG_RE = re.compile(
    BEFORE_WORD + "(" + _alternation(_ABBR_SHORT) + ")" + AFTER_WORD, re.IGNORECASE
)
_UNIT_ABBR = {short: (plural, singular) for short, plural, singular in _ABBR_AFTER_NUMBER}
_ABBR_CANON = {long.lower(): long for _, long in _ABBREVIATIONS}
_UNIT_FULL: dict[str, str] = {}
for _short, _plural_form, _singular_form in reversed(_ABBR_AFTER_NUMBER):
    _UNIT_FULL[_plural_form] = _short
    _UNIT_FULL[_singular_form] = _short
_UNIT_ABBR_RE = re.compile(r"(?<=\d)(\s?)(" + _alternation(_UNIT_ABBR) + r")(?![\w/])")
_UNIT_FULL_RE = re.compile(r"(?<=\d)\s(" + _alternation(_UNIT_FULL) + r")\b")
_COUNTRY_ABBR = datafiles.string_map("shorthand", "country_abbreviations")
_COUNTRY_ABBR_RE = re.compile(
    r"\bthe (US|UK|UAE|United States|United Kingdom|"
    r"United Arab Emirates)\b"
)


def _abbreviation_sites(text: str) -> list[str]:
    spans = protected(text)
    out: list[str] = []
    for m in _ABBR_SHORT_RE.finditer(text):
        short = m.group(1)
        if short in {"EU", "UN"} and not text[: m.start()].endswith("the "):
            continue
        if free(spans, *m.span()):
            out.append(splice(text, m.start(), m.end(), _ABBR_LONG[short]))
    for m in _ABBR_LONG_RE.finditer(text):
        word = m.group(1)
        if not free(spans, *m.span()):
            continue
        canonical = _ABBR_CANON[word.lower()]
        short = _ABBR_SHORT[word.lower()]
        at_start = at_sentence_start(text, m.start())
        if word[0].isupper() and canonical[0].islower() and not at_start:
            continue  # "Database" in mid-sentence is a name
        if at_start and short[0].islower():
            continue  # "w/ the plan, ..." cannot start a sentence
        out.append(splice(text, m.start(), m.end(), short))
    for m in _UNIT_ABBR_RE.finditer(text):
        if not free(spans, *m.span()):
            continue
        number = re.search(r"[\d.,]+$", text[: m.start()])
        plural, singular = _UNIT_ABBR[m.group(2)]
        one = number is not None and number.group(0) in {"1", "1.0"}
        out.append(text[: m.start()] + " " + (singular if one else plural) + text[m.end() :])
    for m in _UNIT_FULL_RE.finditer(text):
        if free(spans, *m.span()):
            out.append(text[: m.start()] + " " + _UNIT_FULL[m.group(1)] + text[m.end() :])
    for m in _COUNTRY_ABBR_RE.finditer(text):
        name = m.group(1)
        other = _COUNTRY_ABBR.get(name) or next(k for k, v in _COUNTRY_ABBR.items() if v == name)
        out.append(text[: m.start(1)] + other + text[m.end(1) :])
    return [o for o in out if o != text]


def op_abbreviation(text: str, rng: random.Random) -> str | None:
    """An abbreviation made or spelt out in ``text``, or None."""
    sites = _abbreviation_sites(text)
    return rng.choice(sites) if sites else None


# -------------------------------------------------------------------------------- notation
_ORDINAL_WORDS = datafiles.strings("shorthand", "ordinal_words")
_NOTATION = datafiles.rows("shorthand", "notation")


_NOTATION_RULES = _compile_rules(_NOTATION)


def _ordinal_notation(text: str) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(_ORDINAL_WORDS, start=2):
        num = ordinal(i)
        for m in re.finditer(rf"(?<=\bthe ){word}\b(?=\s+[a-z])", text):
            if next_word(text, m.end()).lower() not in {"of", "and", "to", "hand", "opinion"}:
                out.append(text[: m.start()] + num + text[m.end() :])
        for m in re.finditer(rf"(?<![\w.]){num}\b", text):
            out.append(text[: m.start()] + word + text[m.end() :])
    return out


def op_notation(text: str, rng: random.Random) -> str | None:
    """A mathematical notation in ``text`` written the other way, or None."""
    sites = _regex_sites(text, _NOTATION_RULES) + [s for s in _ordinal_notation(text) if s != text]
    sites = [s for s in sites if sorted(_numbers_as_values(s)) == sorted(_numbers_as_values(text))]
    return rng.choice(sites) if sites else None


def _numbers_as_values(text: str) -> list[float]:
    out: list[float] = []
    for tok in number_tokens(text):
        try:
            out.append(float(tok.replace(",", "")))
        except ValueError:
            continue
    for m in re.finditer(r"(?<![\w.])(\d+)k\b", text):
        if float(m.group(1)) in out:
            out.remove(float(m.group(1)))
            out.append(float(m.group(1)) * 1000)
    for i, word in enumerate(_ORDINAL_WORDS, start=2):
        out.extend(float(i) for _ in re.finditer(rf"\b{word}\b", text))
    return out
