"""Swapped-role near-misses: the two sides of "from X to Y", of a conversion ("convert JSON
to YAML") or of a comparison ("Is A bigger than B?"), and turning something on or off.

>>> role_sites("How do I copy a file from the host to a Docker container?")[0][0]
'How do I copy a file from a Docker container to the host?'
"""

from __future__ import annotations

import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.text import Op, at_sentence_start, fix_article, free, protected

__all__ = ["role_op", "role_sites", "turn_sites"]

_NP_STOP = datafiles.word_set("noun_phrase_stops")
_DETERMINERS = datafiles.word_set("determiners")
_IDIOM_HEADS = datafiles.word_set("idiom_heads")
_VERBS = datafiles.word_set("verbs")
_UNIT_WORDS = datafiles.word_set("unit_words")


def _np_after(
    words: list[str], i: int, proper: bool | None = None
) -> tuple[int, list[str], list[str]] | None:
    """Parse ``[det] w1 [w2 [w3]]`` at ``words[i:]``: (index after, determiner, content).

    The content words are all capitalised or all lower-case (``proper`` says which, else the
    first word decides), and none is a verb, an adverb or a function word."""
    det: list[str] = []
    if i < len(words) and words[i].lower() in _DETERMINERS:
        det, i = [words[i]], i + 1
    content: list[str] = []
    while i < len(words) and len(content) < 3:
        w = words[i]
        core = w.rstrip(".,?!;:")
        low = core.lower()
        if not re.fullmatch(r"[\w'\u2019+#.-]+", core) or low in _NP_STOP or low in _DETERMINERS:
            break
        if low in _VERBS or re.fullmatch(r"[a-z]+(?:ly|ing|ed)", core):
            break
        if proper and not core[:1].isupper():
            break  # "from Bangkok to Chiang Mai cheaply": the name ends before "cheaply"
        content.append(core)
        i += 1
        if core != w:
            break
    return (i, det, content) if content else None


def _role_from_to(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in re.finditer(r"\bfrom\s+", text, re.IGNORECASE):
        tail = text[m.end() :]
        words = tail.split(" ")
        x = _np_after(words, 0)
        if x is None or x[0] >= len(words) or words[x[0]].lower() not in {"to", "into", "onto"}:
            continue
        i, det_x, cx = x
        y = _np_after(words, i + 1, all(w[:1].isupper() for w in cx))
        if y is None:
            continue
        j, det_y, cy = y
        if (
            any(re.search(r"\d", w) for w in cx + cy)
            or [w.lower() for w in cx] == [w.lower() for w in cy]
            or cx[0].lower() in _IDIOM_HEADS
        ):
            continue
        last = words[j - 1]
        trail = last[len(last.rstrip(".,?!;:")) :]
        if (
            j < len(words)
            and trail == ""
            and words[j][:1].isalnum()
            and (words[j].lower() not in _NP_STOP)
        ):
            continue  # the second side goes on past what we parsed: unsure where it ends
        new_words = det_y + cy + [words[i]] + det_x + cx
        new_tail = (
            " ".join(new_words) + trail + (" " + " ".join(words[j:]) if j < len(words) else "")
        )
        new_tail = re.sub(
            r"\b([Aa]n?) (?=(\w+))", lambda a: fix_article(a.group(1) + " ", a.group(2)), new_tail
        )
        new = text[: m.end()] + new_tail
        kind = (
            "units"
            if all(
                w.lower() in _UNIT_WORDS or w in {"Celsius", "Fahrenheit", "Kelvin"}
                for w in cx + cy
            )
            else "swapped_roles"
        )
        out.append((new, kind))
    return out


_CONVERTIBLE = (
    r"Celsius|Fahrenheit|Kelvin|JSON|YAML|CSV|XML|TOML|Markdown|HTML|PDF|degrees|radians|"
    r"miles|kilometers|kilometres|km|meters|metres|feet|inches|centimeters|cm|pounds|"
    r"kilograms|kg|lbs|grams|ounces|liters|litres|gallons|cups|milliliters|seconds|minutes|"
    r"hours|days|weeks|dollars|euros|yen|pesos|rupees|camelCase|snake_case|kebab-case|"
    r"Python|JavaScript|TypeScript|Java|Go|Rust|Ruby|PHP|Kotlin|Swift|C\+\+|C#|English|Spanish|"
    r"French|German|Italian|Portuguese|Japanese|Chinese|Korean|Arabic|Hindi|Russian|Dutch|"
    r"uppercase|lowercase|binary|decimal|hexadecimal|octal|UTC|GMT|EST|PST|CET|MB|GB|KB|TB"
)
_CONVERT_RE = re.compile(
    r"\b(convert|converting|translate|translating|change|changing|switch|switching|migrate|"
    r"migrating|port|porting|cast|casting|rewrite|turn)\s+((?:this|the|my|a|an|these|some)\s+)?"
    r"((?:[$€£]?\d[\d,.]*\s*)?)("
    + _CONVERTIBLE
    + r")\s+(to|into)\s+("
    + _CONVERTIBLE
    + r")(?![\w+#-])",
    re.IGNORECASE,
)
_COMPARATIVES = (
    r"bigger|smaller|larger|older|younger|taller|shorter|faster|slower|heavier|lighter|"
    r"stronger|weaker|higher|lower|longer|hotter|colder|warmer|cheaper|richer|healthier|"
    r"safer|easier|harder|closer|farther|better|worse|deeper|wider|brighter|denser|"
    r"(?:more|less) [a-z]+"
)
_COMPARE_RE = re.compile(
    r"\b(is|are|was|were|does|do)\s+((?:(?:the|a|an|my|your)\s+)?[\w'\u2019-]+(?:\s[\w'\u2019-]+)?)\s+"
    r"("
    + _COMPARATIVES
    + r")\s+than\s+((?:(?:the|a|an|my|your)\s+)?[\w'\u2019-]+(?:\s[\w'\u2019-]+)?)"
    r"(?=\s*[?.!]|\s*$)",
    re.IGNORECASE,
)


def role_sites(text: str) -> list[tuple[str, str]]:
    """Every role swap of ``text``, each with its kind (``swapped_roles`` or ``units``)."""
    spans = protected(text)
    out = [(t, k) for t, k in _role_from_to(text)]
    for m in _CONVERT_RE.finditer(text):
        x, y = m.group(4), m.group(6)
        if x.lower() == y.lower() or not free(spans, *m.span()):
            continue
        kind = (
            "units"
            if x.lower() in _UNIT_WORDS or x in {"Celsius", "Fahrenheit", "Kelvin"}
            else "swapped_roles"
        )
        new = text[: m.start(4)] + y + text[m.end(4) : m.start(6)] + x + text[m.end(6) :]
        out.append((new, kind))
    for m in _COMPARE_RE.finditer(text):
        a, b = m.group(2), m.group(4)
        if a.lower() == b.lower() or not free(spans, *m.span()):
            continue
        if not at_sentence_start(text, m.start()) or re.search(r"\d", a + b):
            continue  # only "Is A bigger than B?", where A and B are the compared things
        new = text[: m.start(2)] + b + text[m.end(2) : m.start(4)] + a + text[m.end(4) :]
        out.append((new, "swapped_roles"))
    return [(t, k) for t, k in out if t != text]


def role_op(kind: str) -> Op:
    """The near-miss operation that swaps roles of ``kind``."""

    def op(text: str, rng: random.Random) -> str | None:
        sites = [t for t, k in role_sites(text) if k == kind]
        return rng.choice(sites) if sites else None

    return op


# -------------------------------------------------------------------------------- on and off
_TURN_RE = re.compile(
    r"\b(turn|turns|turned|turning|switch|switches|switched|switching|toggle|"
    r"toggles|toggled|toggling)\s+(on|off)\b",
    re.IGNORECASE,
)
_TURN_SPLIT_RE = re.compile(
    r"\b(turn|turns|turned|turning|switch|switches|switched|switching)\s+((?:the|my|your|a|an)"
    r"\s+)?([\w-]+(?:\s+[\w-]+)?)\s+(on|off)(?=\s*[.?!,]|\s*$)",
    re.IGNORECASE,
)


def turn_sites(text: str) -> list[str]:
    """``text`` with each "turn on" made "turn off" and back."""
    out = []
    flip = {"on": "off", "off": "on", "On": "Off", "Off": "On"}
    for regex, group in ((_TURN_RE, 2), (_TURN_SPLIT_RE, 4)):
        for m in regex.finditer(text):
            other = flip.get(m.group(group), m.group(group))
            if re.search(rf"\b{other.lower()}\b", text.lower()):
                continue
            out.append(text[: m.start(group)] + other + text[m.end(group) :])
    return out
