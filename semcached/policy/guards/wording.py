"""Checks on wording: negation, names, opposite words, the kind of question, swapped roles.

Each can only veto a candidate the threshold let through, and names its reason.
"""

from __future__ import annotations

from collections import Counter

from semcached.policy.decision import Candidate
from semcached.policy.guards.base import Check
from semcached.policy.guards.text import (
    ALIASES,
    MONTHS,
    NEGATIONS,
    OPPOSITES,
    QUESTION_CLASSES,
    STOPWORDS,
    WEEKDAYS,
    Text,
    analyze,
    stem,
    words,
)

__all__ = [
    "EntityGuard",
    "NegationGuard",
    "OppositeGuard",
    "QuestionTypeGuard",
    "WordOrderGuard",
    "swapped_pair",
]


class NegationGuard(Check):
    """Vetoes when one text is negated and the other is not ("can I" vs "can I not").

    A leading "No," answers rather than negates, so it does not count."""

    name = "negation"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = _negated(analyze(query)), _negated(analyze(candidate.text))
        if q != c:
            return f"only {'the query' if q else 'the cached text'} is negated"
        return None


def _negated(text: Text) -> bool:
    for i, t in enumerate(text.tokens):
        if t in NEGATIONS or (t.endswith("nt") and t[:-2] in _AUX):
            if t == "no" and i in text.starts and i + 1 < len(text.tokens):
                continue  # "No, you cannot..." is an answer: look at the rest
            before = text.tokens[i - 1] if i > 0 else ""
            after = text.tokens[i + 1] if i + 1 < len(text.tokens) else ""
            if t == "not" and (before == "or" or after == "only"):
                continue  # "whether or not", "not only ... but": no negation of the question
            return True
    return False


_AUX = frozenset(words("""do does did is are was were wo would should could has have had ca ai"""))


def _entities(text: Text) -> set[str]:
    """Names, acronyms and model numbers: capitalised words not starting a sentence, words in
    capitals, and words mixing letters and digits ("iPhone", "GPT4", "Python3")."""
    found: set[str] = set()
    for i, token in enumerate(text.cased):
        lowered = text.tokens[i]
        if lowered in STOPWORDS or lowered in NEGATIONS or len(token) < 2 or token[0].isdecimal():
            continue
        mixed = any(ch.isdecimal() for ch in token) and any(ch.isalpha() for ch in token)
        capital = token[0].isupper() and i not in text.starts
        inner_capital = any(ch.isupper() for ch in token[1:])
        if (
            (capital or inner_capital or mixed)
            and lowered not in MONTHS
            and lowered not in WEEKDAYS
        ):
            if token.isupper() and len(token) > 1 and lowered in _COMMON_CAPS:
                continue
            found.add(lowered)
    return found


_COMMON_CAPS = frozenset(["ok", "faq", "pdf", "diy", "usb"])


def _matches(name: str, other: Text, own: Text) -> bool:
    words = other.words
    if name in words or stem(name) in {stem(w) for w in words}:
        return True
    canonical = ALIASES.get(name, name)
    if any(ALIASES.get(w, w) == canonical for w in words):
        return True  # "JS" is "JavaScript", "US" is "USA"
    # "Pythonic" ~ "Python", "Preprocessing" ~ "preprocess"; but not "Java" ~ "JavaScript".
    for word in words:
        shared = len(_common_prefix(name, word))
        if shared >= 5 and shared >= 0.8 * min(len(name), len(word)):
            return True
    # Acronyms: "ML" ~ "machine learning", and the other way round.
    if 2 <= len(name) <= 5 and name in _initialisms(other):
        return True
    return any(
        len(acronym) >= 2 and acronym in words and name[0] == acronym[position]
        for acronym, position in _acronyms_around(name, own)
    )


def _common_prefix(a: str, b: str) -> str:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return a[:n]


def _initialisms(text: Text) -> set[str]:
    tokens = [t for t in text.tokens if t not in STOPWORDS]
    found = set()
    for size in range(2, 6):
        for i in range(len(tokens) - size + 1):
            found.add("".join(t[0] for t in tokens[i : i + size]))
    return found


def _acronyms_around(name: str, text: Text) -> list[tuple[str, int]]:
    """Initialisms of runs of words around ``name`` in its own text, with its position."""
    tokens = [t for t in text.tokens if t not in STOPWORDS]
    if name not in tokens:
        return []
    at = tokens.index(name)
    runs = []
    for size in range(2, 6):
        for start in range(max(0, at - size + 1), min(at, len(tokens) - size) + 1):
            run = tokens[start : start + size]
            runs.append(("".join(t[0] for t in run), at - start))
    return runs


class EntityGuard(Check):
    """Vetoes when one text names something (a person, place, product, acronym) that the other
    does not mention at all: "learn Java" vs "learn Python", "Paris" vs "Lyon". A name matches
    case-insensitively, with plurals/possessives stripped, so "France's" matches "france"."""

    name = "entities"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = analyze(query), analyze(candidate.text)
        only_q = sorted(e for e in _entities(q) if not _matches(e, c, q))
        only_c = sorted(e for e in _entities(c) if not _matches(e, q, c))
        if only_q or only_c:
            parts = []
            if only_q:
                parts.append(f"{', '.join(only_q)} only in the query")
            if only_c:
                parts.append(f"{', '.join(only_c)} only in the cached text")
            return "names differ: " + "; ".join(parts)
        return None


class OppositeGuard(Check):
    """Vetoes when a word in one text is opposed by its antonym in the other and not itself
    present there ("before" vs "after", "buy" vs "sell", "increase" vs "decrease")."""

    name = "opposites"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = analyze(query).words, analyze(candidate.text).words
        for word in sorted(q - c):
            opposed = OPPOSITES.get(word)
            if opposed is None:
                continue
            clash = sorted(w for w in opposed if w in c and w not in q)
            if clash:
                return f"opposite words: {word!r} vs {clash[0]!r}"
        return None


class QuestionTypeGuard(Check):
    """Vetoes when both texts ask a specific but different kind of question ("why" vs "when",
    "where" vs "who"). "What"/"how"/"which" are neutral: they paraphrase all the others."""

    name = "question_type"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = _question_class(analyze(query)), _question_class(analyze(candidate.text))
        if q and c and q != c:
            return f"different questions: {q} vs {c}"
        return None


def _question_class(text: Text) -> str | None:
    # Only the wh-word opening a sentence (or after "and"/"but"), not relative clauses.
    for i, token in enumerate(text.tokens):
        if i in text.starts or (i > 0 and text.tokens[i - 1] in ("and", "but", "so")):
            if token in QUESTION_CLASSES:
                return QUESTION_CLASSES[token]
            if token == "how" and i + 1 < len(text.tokens):
                nxt = text.tokens[i + 1]
                if nxt in ("many", "much", "long", "old", "far", "big", "often"):
                    return "quantity"
    return None


class WordOrderGuard(Check):
    """Vetoes swapped roles: the same content words with two of them exchanged ("Alice paid
    Bob" vs "Bob paid Alice", "flights from Paris to Rome" vs "from Rome to Paris").

    The shared content words of the candidate are listed in the query's order; moving a whole
    clause (a rotation) keeps every run intact, while a swap breaks the sequence around two
    short runs that trade places. It only judges texts made of nearly the same content words
    (Jaccard ``min_overlap``; 0.7 was set on PAWS, where 98% of the swaps it catches keep that
    much overlap, while free rewordings, which also move clauses, fall below it) with at least
    ``min_shared`` of them.
    """

    name = "word_order"

    def __init__(self, *, min_shared: int = 2, min_overlap: float = 0.7) -> None:
        self.min_shared = min_shared
        self.min_overlap = min_overlap

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = analyze(query), analyze(candidate.text)
        if _overlap(q, c) < self.min_overlap:
            return None
        swap = swapped_pair(q, c, self.min_shared)
        if swap is not None:
            return f"roles swapped: {swap[0]!r} and {swap[1]!r} trade places"
        return None


def _overlap(a: Text, b: Text) -> float:
    """Jaccard similarity of the two texts' content words."""
    x = {t for t in a.tokens if t not in STOPWORDS}
    y = {t for t in b.tokens if t not in STOPWORDS}
    return len(x & y) / len(x | y) if x or y else 1.0


def _content_order(text: Text) -> list[str]:
    counts = Counter(text.tokens)
    return [
        t
        for t in text.tokens
        if t not in STOPWORDS and counts[t] == 1 and not t[0].isdecimal() and len(t) > 1
    ]


def swapped_pair(a: Text, b: Text, min_shared: int = 2) -> tuple[str, str] | None:
    """Two content words whose order is exchanged between ``a`` and ``b``, when that looks like
    a swap of roles rather than a moved clause; ``None`` otherwise."""
    order_a = _content_order(a)
    order_b = _content_order(b)
    shared = set(order_a) & set(order_b)
    if len(shared) < min_shared:
        return None
    rank = {t: i for i, t in enumerate(t for t in order_a if t in shared)}
    seq = [rank[t] for t in order_b if t in shared]
    # Maximal runs of consecutive ranks ("blocks") in b's order.
    blocks: list[list[int]] = [[seq[0]]]
    for value in seq[1:]:
        if value == blocks[-1][-1] + 1:
            blocks[-1].append(value)
        else:
            blocks.append([value])
    if len(blocks) < 2:
        return None
    if len(blocks) == 2 and blocks[0][0] > blocks[1][0]:
        return None  # a rotation: one clause moved to the front or the back
    # A swap: two short blocks each of which sits on the other's side of some third element
    # or of each other; a moved long clause (a block of 3+ words) is a paraphrase move.
    inverse = {i: t for t, i in rank.items()}
    best: tuple[int, str, str] | None = None
    for i, first in enumerate(blocks):
        for j in range(i + 1, len(blocks)):
            second = blocks[j]
            if first[0] > second[0] and len(first) <= 2 and len(second) <= 2:
                x, y = inverse[second[0]], inverse[first[0]]
                # Adjacent blocks joined by "and"/"or" are items of one list: their order is
                # free ("Chelsea and Cambridge" = "Cambridge and Chelsea"). When a shared word
                # stays between them, modifiers changed places ("eastern A and western B").
                if j == i + 1 and (_coordinated(a, x, y) or _coordinated(b, x, y)):
                    continue
                # "the longest river" = "the river is the longest", "SQLite table" = "table in
                # SQLite": a modifier moved into a predicate or a prepositional phrase.
                if _restated(a, b, x, y) or _restated(b, a, x, y):
                    continue
                # Report the widest swap: "Alice ... Bob", not "pay ... Bob".
                if best is None or first[0] - second[0] > best[0]:
                    best = (first[0] - second[0], x, y)
    return None if best is None else (best[1], best[2])


def _coordinated(text: Text, x: str, y: str) -> bool:
    """Whether a coordinating word (or a comma: "fun, playful") stands between ``x`` and ``y``."""
    i, j = sorted((text.tokens.index(x), text.tokens.index(y)))
    between = text.tokens[i + 1 : j]
    if len(between) <= 5 and any(t in ("and", "or", "nor", "&") for t in between):
        return True
    return not between and _raw_between(text, i, j).strip() in (",", "/", "&")


def _raw_between(text: Text, i: int, j: int) -> str:
    """The characters between the ``i``-th and ``j``-th tokens of ``text``."""
    start = text.raw.lower().find(text.cased[i].lower())
    end = text.raw.lower().find(text.cased[j].lower(), start + len(text.cased[i]))
    return "" if start < 0 or end < 0 else text.raw[start + len(text.cased[i]) : end]


_LINKS = frozenset(words("is are was were be the a an in of for on at with to as"))


def _restated(adjacent: Text, spread: Text, x: str, y: str) -> bool:
    """Whether ``x`` and ``y`` stand side by side in one text and only linking words (a copula,
    articles, a preposition) separate them in the other."""
    i, j = sorted((adjacent.tokens.index(x), adjacent.tokens.index(y)))
    if j != i + 1:
        return False
    k, m = sorted((spread.tokens.index(x), spread.tokens.index(y)))
    between = spread.tokens[k + 1 : m]
    return 0 < len(between) <= 3 and all(t in _LINKS for t in between)
