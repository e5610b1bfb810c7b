"""Where a swap group's match counts: context tests on a match at ``text[start:end]``.

``swaps.json`` names a group's condition: a name from this module (``"no_number_after"``),
``{"ctx": {...}}`` (the words just before and after, see :func:`_ctx`), ``{"no_later": word}``,
or ``{"all": [...]}`` / ``{"any": [...]}`` of conditions; :func:`condition` builds it.

>>> cond = condition({"all": ["after_the", {"ctx": {"next_in": ["branch"]}}]})
>>> cond("push the local branch", 9, 14), cond("push local branch", 5, 10)
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.text import next_is_terminal, next_word, prev_word, word_set

__all__ = ["CONSTRAINT_LEN", "Cond", "condition"]

Cond = Callable[[str, int, int], bool]
"""A test of a match at ``text[start:end]``: (text, start, end) -> whether it counts."""

_COPULAS = datafiles.word_set("copulas")
_PROGLANG_PREV = datafiles.word_set("programming_language_before")
_PROGLANG_NEXT = datafiles.word_set("programming_language_after")
_LANG_BEFORE = datafiles.word_set("language_before")
_LANG_AFTER = datafiles.word_set("language_after")
_TONE_NOUNS = datafiles.word_set("tone_nouns")
_MONTH_CTX = datafiles.word_set("month_before")
_LEN_WORDS = datafiles.word_set("unit_before")

CONSTRAINT_LEN = re.compile(
    r"\s*(?:a\s+)?\d[\d,]*\s*-?\s*(?:words?|characters?|chars|sentences?|lines?|paragraphs?|"
    r"bullet points?|bullets|syllables|items|pages|tweets|emojis|minutes|seconds|hashtags)\b"
)
"""A length limit ("50 words", "3 bullet points") at the start of a string."""


def _ctx(
    *,
    prev_in: str | None = None,
    prev_not: str | None = None,
    next_in: str | None = None,
    next_not: str | None = None,
    next_num: bool = False,
    prev_num: bool = False,
    not_copula: bool = False,
    near: str | None = None,
) -> Cond:
    """A context test for a match at ``text[start:end]`` (word sets are space-separated)."""
    p_in, p_not = (word_set(prev_in) if prev_in else None), word_set(prev_not or "")
    n_in, n_not = (word_set(next_in) if next_in else None), word_set(next_not or "")
    nearby = word_set(near) if near else None

    def test(text: str, start: int, end: int) -> bool:
        prev = prev_word(text, start).lower()
        nxt = next_word(text, end).lower()
        if p_in is not None and prev not in p_in:
            return False
        if prev in p_not or nxt in n_not:
            return False
        if n_in is not None and nxt not in n_in:
            return False
        if next_num and not re.match(r"\s*[$€£]?\d", text[end:]):
            return False
        if prev_num and not re.search(r"\d\s?$", text[:start]):
            return False
        if not_copula and prev in _COPULAS:
            return False
        if nearby is not None:
            after = re.findall(r"[a-z]+", text[end : end + 40].lower())[:3]
            if not nearby.intersection(after):
                return False
        return True

    return test


def _both(*conds: Cond) -> Cond:
    def test(text: str, start: int, end: int) -> bool:
        return all(c(text, start, end) for c in conds)

    return test


def _either(*conds: Cond) -> Cond:
    def test(text: str, start: int, end: int) -> bool:
        return any(c(text, start, end) for c in conds)

    return test


def _no_later(word: str) -> Cond:
    """No ``word`` later in the same clause ("add X to Y" cannot become "remove X to Y")."""

    def test(text: str, start: int, end: int) -> bool:
        clause = re.split(r"[.?!;,]", text[end:], maxsplit=1)[0]
        return not re.search(rf"\b{word}\b", clause, re.IGNORECASE)

    return test


def _after_the(text: str, start: int, end: int) -> bool:
    return bool(re.search(r"\bthe\s$", text[:start]))


def _no_number_after(text: str, start: int, end: int) -> bool:
    return not re.match(r"\s*\d", text[end:])


def _terminal_after(text: str, start: int, end: int) -> bool:
    return next_is_terminal(text, end)


def _digit_next_or_before(text: str, start: int, end: int) -> bool:
    return bool(re.match(r"\s*\d", text[end:]) or re.search(r"\d\s*$", text[:start]))


def _no_ed_word_next(text: str, start: int, end: int) -> bool:
    return not re.match(r"\s+[a-z]+ed\b", text[end:])


def _no_degree_sign(text: str, start: int, end: int) -> bool:
    return "°" not in text


def _proglang_ctx(text: str, start: int, end: int) -> bool:
    """ "in Python", "a Python script", not "Python generators" (a feature of one language)
    nor any prompt that pastes code (it would not be code in the other language)."""
    if "`" in text or "\n" in text or not _no_number_after(text, start, end):
        return False
    return (
        prev_word(text, start).lower() in _PROGLANG_PREV
        or next_word(text, end).lower() in _PROGLANG_NEXT
        or next_is_terminal(text, end)
    )


def _lang_ctx(text: str, start: int, end: int) -> bool:
    prev = prev_word(text, start).lower()
    nxt = next_word(text, end)
    if nxt.lower() in _LANG_AFTER:
        return True
    if prev not in _LANG_BEFORE:
        return False
    # "in French" yes, "in French cuisine" no: the word after must not carry on the noun phrase
    return not nxt or next_is_terminal(text, end) or nxt[0].isupper() or nxt.isdigit()


def _more_less(text: str, start: int, end: int) -> bool:
    nxt = next_word(text, end).lower()
    if nxt == "than":
        return True
    return (
        bool(re.fullmatch(r"[a-z]+(?:ful|ive|ous|able|ible|ent|ant|ic|ical|al|ing)", nxt))
        and nxt not in word_set("potential rental original")
        and (prev_word(text, start).lower() not in word_set("any no much once even some"))
    )


def _polar(text: str, start: int) -> bool:
    """Whether the sentence around ``start`` is a yes/no question ("Is 7 odd?"): there an
    antonym of a two-valued word asks for the same fact ("Is 7 even?")."""
    sentence = re.split(r"(?<=[.?!])\s+", text[:start])[-1]
    return bool(
        re.match(
            r"\s*(?:is|are|was|were|am|do|does|did|can|could|will|would|should|"
            r"has|have)\b",
            sentence,
            re.IGNORECASE,
        )
    )


def _not_yes_no_question(text: str, start: int, end: int) -> bool:
    return not _polar(text, start)


_DURATION_AFTER = re.compile(
    r"\s*[$€£]?\d[\d,.]*\s*-?\s*(?:yrs?|years?|months?|weeks?|days?|"
    r"hours?|minutes?)\b"
)


def _scope_amount(text: str, start: int, end: int) -> bool:
    """ "orders over $100" (a threshold), not "over 30 years" (a duration) nor a length."""
    return (
        _ctx(next_num=True)(text, start, end)
        and not _len_after(text, start, end)
        and not _DURATION_AFTER.match(text[end:])
    )


def _tone_ctx(text: str, start: int, end: int) -> bool:
    prev = prev_word(text, start).lower()
    nxt = next_word(text, end).lower()
    if nxt in _TONE_NOUNS or prev in word_set("sound sounds sounding more less very"):
        return True
    return (prev in word_set("a an") and nxt in word_set("and but yet,")) or bool(
        re.match(r",\s*\w+\s+(?:tone|voice|style)", text[end:])
    )


_AUDIENCE_VERBS = re.compile(
    r"\b(?:explain|explaining|describe|write|rewrite|summari[sz]e|"
    r"teach|present|pitch|draft|simplify|adapt|tell|create|design|"
    r"plan|introduce|compose|prepare|outline)\b",
    re.IGNORECASE,
)


def _audience_ctx(text: str, start: int, end: int) -> bool:
    if not _AUDIENCE_VERBS.search(re.split(r"[.?!]\s", text[:start])[-1]):
        return False  # "a drug test for new hires" is no audience
    before = text[max(0, start - 24) : start].lower()
    if re.search(r"\b(?:for|to|at|toward|towards|like i'm|like i am)\s+$", before):
        return next_is_terminal(text, end) or next_word(text, end).lower() in word_set(
            "who with that in about"
        )
    return False


def _len_after(text: str, start: int, end: int) -> bool:
    return bool(CONSTRAINT_LEN.match(text[end:]))


def _month_ctx(text: str, start: int, end: int) -> bool:
    if text[start:end] not in {"March", "May", "June", "August"}:
        return True
    return (
        prev_word(text, start).lower() in _MONTH_CTX
        or bool(re.match(r"\s*\d", text[end:]))
        or bool(re.search(r"\d\s*$", text[:start]))
    )


def _unit_ctx(text: str, start: int, end: int) -> bool:
    if re.search(r"\d\s?$", text[:start]):
        return True
    return prev_word(text, start).lower() in _LEN_WORDS


_NAMED: dict[str, Cond] = {
    "after_the": _after_the,
    "no_number_after": _no_number_after,
    "next_is_terminal": _terminal_after,
    "digit_next_or_before": _digit_next_or_before,
    "no_ed_word_next": _no_ed_word_next,
    "no_degree_sign": _no_degree_sign,
    "not_yes_no_question": _not_yes_no_question,
    "programming_language": _proglang_ctx,
    "language": _lang_ctx,
    "more_less": _more_less,
    "scope_amount": _scope_amount,
    "tone": _tone_ctx,
    "audience": _audience_ctx,
    "length_after": _len_after,
    "month": _month_ctx,
    "unit": _unit_ctx,
}
_CTX_WORDS = frozenset({"prev_in", "prev_not", "next_in", "next_not", "near"})
_CTX_FLAGS = frozenset({"next_num", "prev_num", "not_copula"})


def _ctx_from(spec: dict[str, object]) -> Cond:
    words: dict[str, str] = {}
    flags: dict[str, bool] = {}
    for key, value in spec.items():
        if key in _CTX_WORDS and isinstance(value, list):
            words[key] = " ".join(str(w) for w in value)
        elif key in _CTX_FLAGS and isinstance(value, bool):
            flags[key] = value
        else:
            raise ValueError(f"bad context test {key!r}: {value!r}")
    return _ctx(
        prev_in=words.get("prev_in"),
        prev_not=words.get("prev_not"),
        next_in=words.get("next_in"),
        next_not=words.get("next_not"),
        near=words.get("near"),
        next_num=flags.get("next_num", False),
        prev_num=flags.get("prev_num", False),
        not_copula=flags.get("not_copula", False),
    )


def condition(spec: object) -> Cond:
    """The condition ``spec`` (from ``swaps.json``) describes."""
    if isinstance(spec, str) and spec in _NAMED:
        return _NAMED[spec]
    if isinstance(spec, dict) and len(spec) == 1:
        ((op, arg),) = spec.items()
        if op == "ctx" and isinstance(arg, dict):
            return _ctx_from(arg)
        if op == "no_later" and isinstance(arg, str):
            return _no_later(arg)
        if op in {"all", "any"} and isinstance(arg, list):
            conds = [condition(c) for c in arg]
            return _both(*conds) if op == "all" else _either(*conds)
    raise ValueError(f"not a condition: {spec!r}")
