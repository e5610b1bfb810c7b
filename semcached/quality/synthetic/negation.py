"""Negation near-misses: add a negation where the clause allows one, or take one away.

>>> op_negation("Which snakes are venomous?", random.Random(0))
'Which snakes are not venomous?'
"""

from __future__ import annotations

import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.text import (
    at_sentence_start,
    cap,
    free,
    gerund,
    match_case,
    next_is_terminal,
    prev_word,
    protected,
    third_person,
    tidy,
    word_set,
)

__all__ = ["op_negation"]

_VERBS = datafiles.word_set("verbs")
_THIRD_TO_BASE = {third_person(v): v for v in _VERBS}
_GERUND_TO_BASE = {gerund(v): v for v in _VERBS}
_PARTICIPLE = re.compile(
    r"[a-z]+(?:ed|en)$|been|got|lost|made|done|paid|sent|left|bought|sold|"
    r"forgot|seen|had|put|set|read|run|won|told|found|taken|given|"
    r"written|known|shown|kept|met|spent|gone|come|become|begun"
)

_NEG_RE = re.compile(
    r"\b(?:not|never|no|without|cannot|nor|none|nobody|nothing|cant|dont|doesnt|didnt|isnt|"
    r"arent|wasnt|werent|shouldnt|couldnt|wouldnt|havent|hasnt)\b|n['\u2019]t\b",
    re.IGNORECASE,
)
_ADJ_OK = datafiles.word_set("negatable_adjectives")
_PLACE_OK = _ADJ_OK | word_set("in at with home there here")
_REL_NEG_VERBS = datafiles.word_set("relative_clause_verbs")
_IF_NEG_VERBS = datafiles.word_set("if_clause_verbs")
_NOT_ADJ = datafiles.word_set("not_adjectives")
_AUX_NEG = datafiles.row_map("words", "auxiliary_negations")
_NT_BASE = datafiles.string_map("words", "contraction_bases")
_NO_THAT_BEFORE = datafiles.word_set("no_relative_after")


def _clause_has_negation(text: str, pos: int) -> bool:
    left = re.split(r"[.?!;,]", text[:pos])[-1]
    right = re.split(r"[.?!;,]", text[pos:], maxsplit=1)[0]
    return bool(_NEG_RE.search(left + " " + right))


_NPI = re.compile(
    r"\b(?:yet|any|anymore|anything|anyone|anybody|anywhere|either|ever|at all)\b", re.IGNORECASE
)


def _neg_removals(text: str) -> list[tuple[int, int, str]]:
    cands = _neg_removal_sites(text)
    # "hasn't shipped yet" -> "has shipped yet" is not English: keep negations that license
    # a polarity item ("yet", "any", "ever") in their clause
    return [c for c in cands if not _NPI.search(re.split(r"[.?!;,]", text[c[1] :], maxsplit=1)[0])]


def _neg_removal_sites(text: str) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\b(do|does|did)(?:n['\u2019]t| not)\s+([a-z]+)\b", text, re.IGNORECASE):
        aux, verb = m.group(1).lower(), m.group(2)
        if at_sentence_start(text, m.start()):
            out.append((m.start(), m.start(2), ""))  # "Don't include X" -> "Include X"
            continue
        subject = prev_word(text, m.start()).lower()
        if verb in _VERBS and subject in word_set("i we you they that which who it he she"):
            if aux == "do" and subject not in word_set("it he she"):
                out.append((m.start(), m.start(2), ""))
            elif aux == "does" and subject not in word_set("i we you they"):
                out.append((m.start(), m.end(2), third_person(verb)))
            else:
                out.append((m.start(), m.start(2), aux + " "))
        else:
            out.append((m.start(), m.start(2), m.group(1) + " "))
    for m in re.finditer(
        r"\b(is|are|was|were|ca|wo|should|would|could|has|have|had|must|need)"
        r"n['\u2019]t\b",
        text,
        re.IGNORECASE,
    ):
        base = _NT_BASE[m.group(1).lower()]
        out.append((m.start(), m.end(), match_case(m.group(0), base)))
    for m in re.finditer(r"\b(cannot|can not)\b", text, re.IGNORECASE):
        out.append((m.start(), m.end(), match_case(m.group(0), "can")))
    for m in re.finditer(
        r"\b(is|are|was|were|am|should|would|could|must|will|may|might|has|"
        r"have|had|need)\s+not\b(?!\s+(?:only|just|even|yet|sure)\b)",
        text,
        re.IGNORECASE,
    ):
        out.append((m.end(1), m.end(), ""))
    for m in re.finditer(r"['\u2019](?:m|re|s) not\b", text):
        out.append((m.end() - 4, m.end(), ""))
    for m in re.finditer(r"\bwithout\s+([a-z]+ing)\b", text, re.IGNORECASE):
        if m.group(1) in _GERUND_TO_BASE:  # "without using X" -> "using X"
            out.append((m.start(), m.start(1), ""))
        else:  # "without training wheels" -> "with training wheels"
            out.append((m.start(), m.start() + 7, match_case(m.group(0), "with")))
    for m in re.finditer(r"\bwithout\b(?!\s+[a-z]+ing\b)", text, re.IGNORECASE):
        out.append((m.start(), m.end(), match_case(m.group(0), "with")))
    for m in re.finditer(r"\bno longer\b", text, re.IGNORECASE):
        out.append((m.start(), m.end(), match_case(m.group(0), "still")))
    for m in re.finditer(r"\bnever\s+(?=[a-z])", text, re.IGNORECASE):
        if prev_word(text, m.start()).lower() not in word_set("or and but"):
            out.append((m.start(), m.end(), ""))
    return out


def _neg_insertions(text: str, rng: random.Random) -> list[tuple[int, int, str]]:
    short = (
        bool(re.search(r"n['\u2019]t\b|['\u2019](?:m|re|s|ll|ve|d)\b", text)) or rng.random() < 0.4
    )
    return (
        _neg_copula(text, short)
        + _neg_modal(text, short)
        + _neg_if(text, short)
        + _neg_relative(text, short)
    )


def _neg_copula(text: str, short: bool) -> list[tuple[int, int, str]]:
    """ "Which snakes are venomous?" -> "Which snakes are not venomous?"."""
    out: list[tuple[int, int, str]] = []
    how_many = re.compile(r"(?:^|[.?!]\s+)how (?:many|much)\b[^.?!]*$", re.IGNORECASE)
    for m in re.finditer(r"\b(is|are|was|were|am)\s+(?!not\b)([a-z][a-z-]*)", text):
        if at_sentence_start(text, m.start()) or _clause_has_negation(text, m.start()):
            continue
        if how_many.search(text[: m.start()]):
            continue  # "How many eggs are not in this list?" asks nothing sensible
        prev = prev_word(text, m.start()).lower()
        word = m.group(2)
        if prev in word_set("how why where when there here") or prev.endswith("'s"):
            continue
        clause = re.split(r"[.?!;,]", text[: m.start()])[-1].lower()
        if re.search(r"\b(?:how|why|where|when|whether|if)\b", clause):
            continue  # "explain how the bonus is (not) calculated": no
        if re.search(
            r"\b(?:whom|who|what|which|whose)\b",
            re.split(r"[.?!;,]", text[m.end() :], maxsplit=1)[0].lower(),
        ):
            continue  # "was written by whom?" -> "was not written by whom?": no
        ok = word in _ADJ_OK or (
            re.fullmatch(r"[a-z]+(?:ed|able|ible|ous|ful|ive)", word) is not None
            and word not in _NOT_ADJ
            and next_is_terminal(text, m.end(2))
        )
        if not ok:
            continue
        neg = {"is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't"}
        if short and m.group(1) in neg:
            out.append((m.start(1), m.end(1), neg[m.group(1)]))
        else:
            out.append((m.end(1), m.end(1), " not"))
    for m in re.finditer(r"(?:['\u2019](m|re))\s+(?!not\b)([a-z]+)", text):
        word = m.group(2)
        if word in _PLACE_OK and not _clause_has_negation(text, m.start()):
            out.append((m.end(1), m.end(1), " not"))
    return out


def _neg_modal(text: str, short: bool) -> list[tuple[int, int, str]]:
    """ "things I can eat" -> "things I can't eat"."""
    out: list[tuple[int, int, str]] = []
    for m in re.finditer(
        r"\b(I|we|you|they|he|she|it)\s+(can|will|should|could|would|do|does|"
        r"did|must|may|might)\s+([a-z]+)\b",
        text,
    ):
        verb = m.group(3)
        if verb not in _VERBS or _clause_has_negation(text, m.start()):
            continue
        clause = re.split(r"[.?!;,]", text[: m.start()])[-1].lower()
        if re.search(r"\b(?:how|what|what's|when|where|why|which|often|long)\b", clause):
            continue  # "What's the longest I can use it?" -> "...I can't use it?": no
        if m.group(1).lower() in word_set("he she it") and m.group(2) == "do":
            continue
        short_form, long_form = _AUX_NEG[m.group(2)]
        out.append((m.start(2), m.end(2), short_form if short else long_form))
    return out


def _neg_if(text: str, short: bool) -> list[tuple[int, int, str]]:
    """ "What happens if I cancel?" -> "What happens if I don't cancel?"."""
    out: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\b(if)\s+(I|we|you|they|he|she|it)\s+([a-z]+)\b", text, re.IGNORECASE):
        subj, verb = m.group(2).lower(), m.group(3)
        if _clause_has_negation(text, m.start()):
            continue
        if verb == "have" and (
            re.match(r"\s+(?:" + _PARTICIPLE.pattern + r")\b", text[m.end() :]) is not None
        ):
            continue
        if subj in word_set("he she it"):
            base = _THIRD_TO_BASE.get(verb)
            if base is None or verb == "is" or base not in _IF_NEG_VERBS:
                continue
            new = ("doesn't " if short else "does not ") + base
            out.append((m.start(3), m.end(3), new))
        elif verb in _IF_NEG_VERBS:
            out.append((m.start(3), m.start(3), "don't " if short else "do not "))
    return out


def _neg_relative(text: str, short: bool) -> list[tuple[int, int, str]]:
    """ "lines that contain X" -> "lines that don't contain X"."""
    out: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\b(?:that|which|who)\s+([a-z]+)\s+\w", text):
        verb = m.group(1)
        prev = prev_word(text, m.start()).lower()
        if (
            not prev
            or prev in _NO_THAT_BEFORE
            or prev in _VERBS
            or _clause_has_negation(text, m.start())
            or verb not in _REL_NEG_VERBS
        ):
            continue
        if verb in _THIRD_TO_BASE and verb not in word_set("is has does was"):
            new = ("doesn't " if short else "does not ") + _THIRD_TO_BASE[verb]
            out.append((m.start(1), m.end(1), new))
        elif verb in _VERBS and verb not in word_set("have do"):
            out.append((m.start(1), m.start(1), "don't " if short else "do not "))
    return out


def op_negation(text: str, rng: random.Random) -> str | None:
    """A negation added or taken away in ``text``, or None."""
    spans = protected(text)
    cands = [
        c
        for c in _neg_removals(text) + _neg_insertions(text, rng)
        if free(spans, c[0], max(c[1], c[0] + 1))
    ]
    if not cands:
        return None
    start, end, new = rng.choice(cands)
    out = text[:start] + new + text[end:]
    if start == 0 or at_sentence_start(text, start):
        out = out[:start] + cap(out[start:])
    return tidy(out)
