"""Rewordings of style (label 1): casing and punctuation, the casual register, politeness,
and harmless padding; their phrases are in ``data/style.json``.

>>> op_politeness("Explain how vaccines work.", random.Random(1))
'Could you please explain how vaccines work?'
"""

from __future__ import annotations

import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.names import uncap
from semcached.quality.synthetic.text import cap, free, protected

__all__ = ["first_word", "op_casual", "op_padding", "op_politeness", "op_punctuation_case"]

_LOWERABLE = re.compile(r"(?<![\w'\u2019])([A-Z])([a-z'\u2019]*)(?![\w'\u2019])")
_END_PUNCT = re.compile(r"[.?!:;,]+$")
_INNER_PUNCT = re.compile(r"(?<![\d])[,;](?=\s)|(?<=[a-z])[.?!](?=\s+[A-Za-z])")


def _lower_words(text: str) -> str:
    spans = protected(text)

    def low(m: re.Match[str]) -> str:
        if not free(spans, *m.span()):
            return m.group(0)
        return m.group(0).lower()

    return _LOWERABLE.sub(low, text)


def _strip_punct(text: str) -> str:
    spans = protected(text)
    out = (
        _END_PUNCT.sub("", text.rstrip())
        if free(spans, len(text.rstrip()) - 1, len(text.rstrip()))
        else text
    )
    return _INNER_PUNCT.sub(lambda m: "" if free(spans, *m.span()) else m.group(0), out)


_QUESTION_START = re.compile(
    r"^(?:how|what|what's|whats|which|who|whom|whose|why|when|where|"
    r"can|could|should|would|will|is|are|am|do|does|did|was|were|"
    r"have|has|may)\b",
    re.IGNORECASE,
)


def op_punctuation_case(text: str, rng: random.Random) -> str | None:
    """``text`` with other casing or punctuation, or None."""
    if text.strip() and text == text.lower() and not _END_PUNCT.search(text.rstrip()):
        end = "?" if _QUESTION_START.match(text.strip()) else "."
        out = cap(text.rstrip()) + end
        out = re.sub(r"\bi\b", "I", out)
        return out if out != text else None
    choice = rng.random()
    if choice < 0.1 and not protected(text) and len(text) < 90 and text.upper() != text:
        return _strip_punct(text).upper() if rng.random() < 0.5 else text.upper()
    if choice < 0.4:
        out = _strip_punct(text)
    elif choice < 0.6:
        out = _lower_words(text)
    else:
        out = _strip_punct(_lower_words(text))
    return out if out != text and out.strip() else None


# ------------------------------------------------------------------------------------ casual
_SLANG = datafiles.rows("style", "slang")
_CASUAL_PREFIX = datafiles.strings("style", "casual_prefixes")
_CASUAL_SUFFIX = datafiles.strings("style", "casual_suffixes")


def op_casual(text: str, rng: random.Random, at_end: bool = True) -> str | None:
    """``text`` in a casual register (lower case, slang, a greeting), or None."""
    if not re.search(r"[A-Za-z]{2}", text):
        return None
    out = _strip_punct(_lower_words(text)) if rng.random() < 0.8 else _lower_words(text)
    changed = False
    for pattern, repl in _SLANG:
        if rng.random() < 0.7:
            for m in reversed(list(re.finditer(pattern, out))):
                if free(protected(out), *m.span()):
                    out = out[: m.start()] + repl + out[m.end() :]
                    changed = True
    if not changed or rng.random() < 0.5:
        greeted = re.match(r"(?:hey|hi|yo|ok|so|um|quick)\b", out, re.IGNORECASE)
        if (rng.random() < 0.5 or not at_end) and not greeted:
            out = rng.choice(_CASUAL_PREFIX) + out
        else:
            out = _END_PUNCT.sub("", out.rstrip()) + rng.choice(_CASUAL_SUFFIX)
    return out if out != text else None


# -------------------------------------------------------------------------------- politeness
_IMPERATIVES = datafiles.word_set("imperatives")
_POLITE_Q_PREFIX = datafiles.strings("style", "polite_question_prefixes")
_POLITE_SUFFIX = datafiles.strings("style", "polite_suffixes")
_POLITE_STRIP = re.compile(
    r"^(?:(?:hi|hello|hey)(?: there)?[,!]?\s+)?(?:(?:could|can|would|will) you(?: please| kindly)?"
    r"|please|kindly)\s+(?P<rest>.+?)(?:,?\s*please)?(?P<end>[?.!:]?)\s*"
    r"(?:thanks!?|thank you!?|thanks in advance\.?)?$",
    re.IGNORECASE | re.DOTALL,
)


def first_word(text: str) -> str:
    """The first word of ``text``, lower-cased ("" if none)."""
    m = re.match(r"\s*([A-Za-z]+)", text)
    return m.group(1).lower() if m else ""


def op_politeness(text: str, rng: random.Random, at_end: bool = True) -> str | None:
    """``text`` made politer (or a polite request made plain), or None."""
    t = text.strip()
    if not t:
        return None
    m = _POLITE_STRIP.match(t)
    if m and first_word(m.group("rest")) in _IMPERATIVES and rng.random() < 0.4:
        end = ":" if m.group("end") == ":" else "."
        return cap(m.group("rest")) + end
    first = first_word(t)
    end_char = t[-1] if t[-1] in "?.!:" else ""
    body = t[:-1] if end_char else t
    if first in _IMPERATIVES and t[0].isupper():
        choice = rng.randrange(5)
        if choice == 0:
            return "Please " + uncap(t)
        if choice == 1:
            return (
                f"Could you please {uncap(body)}?"
                if end_char != ":"
                else (f"Could you please {uncap(body)}:")
            )
        if choice == 2:
            return (
                f"Can you please {uncap(body)}?"
                if end_char != ":"
                else (f"Can you please {uncap(body)}:")
            )
        if choice == 3 and end_char != ":":
            return f"{body}, please."
        return (
            t + rng.choice(_POLITE_SUFFIX) if end_char != ":" and at_end else ("Please " + uncap(t))
        )
    if _QUESTION_START.match(t) and end_char == "?":
        if rng.random() < 0.5 or not at_end:
            return rng.choice(_POLITE_Q_PREFIX) + uncap(t)
        return t + rng.choice(_POLITE_SUFFIX)
    return None


# ------------------------------------------------------------------------------------ padding
_PADDING = datafiles.strings("style", "padding")


def op_padding(text: str, rng: random.Random, at_end: bool = True) -> str | None:
    """``text`` with a harmless sentence before or after it, or None."""
    t = text.strip()
    if not t:
        return None
    pad = rng.choice(_PADDING)
    if at_end and t[-1] in "?.!" and rng.random() < 0.45:
        return f"{t} {pad}"
    return f"{pad} {t}"
