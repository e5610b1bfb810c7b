"""Text helpers shared by the transformations: tidying, capitals, articles, protected spans,
the words around a position, and English inflection.

>>> splice("Buy a pear", 6, 10, "apple"), plural_of("city"), verb_forms("log in")[1]
('Buy an apple', 'cities', 'logs in')
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from semcached.quality.synthetic import datafiles

__all__ = [
    "AFTER_WORD",
    "BEFORE_WORD",
    "Op",
    "at_sentence_start",
    "cap",
    "fix_article",
    "free",
    "gerund",
    "match_case",
    "next_is_terminal",
    "next_word",
    "number_tokens",
    "ordinal",
    "past_tense",
    "plural_of",
    "prev_word",
    "protected",
    "splice",
    "third_person",
    "tidy",
    "verb_forms",
    "word_set",
]

Op = Callable[[str, random.Random], str | None]
"""A transformation of an instruction: the changed text, or None where it does not apply."""

_WS = re.compile(r"[ \t]{2,}")
_SPACE_PUNCT = re.compile(r" +([,.?!:;])(?=\s|$)")


def tidy(text: str) -> str:
    """Collapse runs of spaces, drop a space before punctuation, strip the ends."""
    return _SPACE_PUNCT.sub(r"\1", _WS.sub(" ", text)).strip()


def cap(text: str) -> str:
    """Upper-case the first letter, unless the first word is like ``iPhone`` or ``eBay``."""
    if not text or not text[0].isalpha():
        return text
    if len(text) > 1 and text[1].isupper():
        return text
    return text[0].upper() + text[1:]


def match_case(src: str, dst: str) -> str:
    """Give ``dst`` the capitalisation pattern of ``src`` (for case-insensitive swaps)."""
    if len(src) > 1 and src.isupper() and src.isalpha():
        return dst.upper()
    if src[:1].isupper():
        return cap(dst)
    return dst


_AN_SOUND_H = ("hour", "honest", "honor", "honour", "heir")
_A_SOUND_VOWEL = ("uni", "use", "usu", "usa", "uti", "ure", "uro", "eu", "one", "once", "ubi")


def _needs_an(word: str) -> bool:
    if not word:
        return False
    if word[0].isdigit():
        digits = re.match(r"[\d,]+", word)
        num = digits.group(0).replace(",", "") if digits else ""
        return (
            num.startswith("8")
            or num in {"11", "18"}
            or (len(num) in {5, 6} and num[:2] in {"11", "18"})
        )
    low = word.lower()
    if len(word) > 1 and word[:2].isupper():  # an acronym is read letter by letter
        return word[0] in "AEFHILMNORSX"
    if low.startswith(_AN_SOUND_H):
        return True
    if low.startswith(_A_SOUND_VOWEL):
        return False
    return low[0] in "aeiou"


_ART_END = re.compile(r"(?:(?<=[\s(\"'])|^)(an?|An?)(\s+)$")


def fix_article(prefix: str, following: str) -> str:
    """Make an ``a``/``an`` at the end of ``prefix`` agree with the word that follows it."""
    if not prefix.endswith((" a ", " an ", " A ", " An ", "(a ", "(an ")) and prefix not in {
        "a ",
        "an ",
        "A ",
        "An ",
    }:
        return prefix
    m = _ART_END.search(prefix)
    word = following.lstrip("\"'(`“")
    if not m or not word or not (word[0].isalnum()):
        return prefix
    art = m.group(1)
    want = "an" if _needs_an(word) else "a"
    if art[0].isupper():
        want = want.capitalize()
    return prefix[: m.start(1)] + want + prefix[m.end(1) :]


def splice(text: str, start: int, end: int, new: str) -> str:
    """Replace ``text[start:end]`` with ``new``, fixing an article just before it."""
    return fix_article(text[:start], new) + new + text[end:]


_PROTECT = re.compile(
    r"`[^`]*`"
    r"|\"[^\"\n]*\""
    r"|“[^”\n]*”"
    r"|(?<![\w'\u2019])'[^'\n]{1,80}'(?![\w'\u2019])"
    r"|\b(?:https?://|www\.)\S+"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
    r"|(?<![\w@])@\w[\w.-]*"
    r"|(?<![\w&])#\w+"
)


def protected(text: str) -> list[tuple[int, int]]:
    """Spans that no transformation edits: code, quotes, URLs, e-mail addresses, @ and # tags."""
    return [m.span() for m in _PROTECT.finditer(text)]


def free(spans: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    """Whether ``text[start:end]`` overlaps none of the protected ``spans``."""
    return all(end <= s or start >= e for s, e in spans)


_SENTENCE_START = re.compile(r"(?:^|[.?!:]\s+|\n\s*)$")


def at_sentence_start(text: str, pos: int) -> bool:
    """Whether ``pos`` starts the text, a sentence, a line or what follows a colon."""
    return bool(_SENTENCE_START.search(text[:pos]))


_PREV_WORD = re.compile(r"([A-Za-z][\w'\u2019-]*)\W*$")
_NEXT_WORD = re.compile(r"^\W*?([A-Za-z0-9$£€][\w'\u2019.$-]*)")


def prev_word(text: str, pos: int) -> str:
    """The word just before ``pos`` ("" if none)."""
    m = _PREV_WORD.search(text[max(0, pos - 40) : pos])
    return m.group(1) if m else ""


def next_word(text: str, pos: int) -> str:
    """The word just after ``pos`` ("" if none), without a trailing full stop."""
    m = _NEXT_WORD.match(text[pos : pos + 40])
    return m.group(1).rstrip(".") if m else ""


def next_is_terminal(text: str, pos: int) -> bool:
    """Whether what follows ``pos`` is the end, punctuation, or a clause-level word."""
    rest = text[pos:]
    if not rest.strip() or rest.lstrip()[0] in ".,?!:;)":
        return True
    return next_word(text, pos).lower() in _CLAUSE_WORDS


def word_set(spec: str) -> frozenset[str]:
    """The words of a space-separated ``spec``."""
    return frozenset(spec.split())


_CLAUSE_WORDS = datafiles.word_set("clause_words")


_NUMBER_TEXT = re.compile(r"\d+(?:[.,]\d+)*")


def number_tokens(text: str) -> list[str]:
    """Every run of digits (with inner separators) in ``text``, in order."""
    return _NUMBER_TEXT.findall(text)


def plural_of(noun: str) -> str:
    """English plural of a (last) word: ``box`` -> ``boxes``, ``city`` -> ``cities``."""
    head, _, last = noun.rpartition(" ")
    prefix = head + " " if head else ""
    irregular = {
        "foot": "feet",
        "child": "children",
        "person": "people",
        "knife": "knives",
        "leaf": "leaves",
        "mouse": "mice",
        "tooth": "teeth",
        "man": "men",
        "woman": "women",
        "shelf": "shelves",
        "loaf": "loaves",
        "wife": "wives",
    }
    if last in irregular:
        return prefix + irregular[last]
    if re.search(r"[^aeiou]y$", last):
        return prefix + last[:-1] + "ies"
    if re.search(r"(?:s|x|z|ch|sh)$", last) or last in {"potato", "tomato", "hero", "echo"}:
        return prefix + last + "es"
    return prefix + last + "s"


def third_person(verb: str) -> str:
    """``fix`` -> ``fixes``, ``try`` -> ``tries``, ``have`` -> ``has``."""
    if verb == "have":
        return "has"
    if verb in {"go", "do"}:
        return verb + "es"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ies"
    if re.search(r"(?:s|x|z|ch|sh)$", verb):
        return verb + "es"
    return verb + "s"


def past_tense(verb: str) -> str:
    """Regular past tense: ``enable`` -> ``enabled``, ``stop`` -> ``stopped``."""
    if verb.endswith("e"):
        return verb + "d"
    if re.search(r"[^aeiou]y$", verb):
        return verb[:-1] + "ied"
    if re.fullmatch(r"(?:[^aeiou]*[aeiou])[bdgmnprt]", verb) and len(verb) <= 4:
        return verb + verb[-1] + "ed"
    return verb + "ed"


def gerund(verb: str) -> str:
    """``enable`` -> ``enabling``, ``stop`` -> ``stopping``, ``see`` -> ``seeing``."""
    if verb.endswith("ie"):
        return verb[:-2] + "ying"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    if re.fullmatch(r"(?:[^aeiou]*[aeiou])[bdgmnprt]", verb) and len(verb) <= 4:
        return verb + verb[-1] + "ing"
    return verb + "ing"


def verb_forms(verb: str, past: str | None = None) -> tuple[str, str, str, str]:
    """Base, third person, past and gerund of a (phrasal) verb: ``log in`` -> ``logs in``...

    ``past=""`` leaves the past form out (it is then never matched)."""
    head, sep, tail = verb.partition(" ")
    if past == "":
        forms = (head, third_person(head), "", gerund(head))
        return (forms[0] + sep + tail, forms[1] + sep + tail, "", forms[3] + sep + tail)
    p = past or past_tense(head)
    forms = (head, third_person(head), p, gerund(head))
    return (
        forms[0] + sep + tail,
        forms[1] + sep + tail,
        forms[2] + sep + tail,
        forms[3] + sep + tail,
    )


def ordinal(n: int) -> str:
    """``1`` -> ``1st``, ``12`` -> ``12th``, ``22`` -> ``22nd``."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }".replace(" ", "")


BEFORE_WORD = r"(?<![^\W\d]|[_+#@.'\u2019-])"
"""Regex: a match starts a word (nothing word-like, nor ``+#@.'-``, just before it)."""
AFTER_WORD = r"(?![\w+#-]|\.\w)"
"""Regex: a match ends a word ("C" in "C++" or "Node" in "Node.js" does not)."""
