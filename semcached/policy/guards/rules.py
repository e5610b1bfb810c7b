"""The verifier: cheap, explainable checks that veto candidates cosine similarity cannot judge.

Sentence embeddings blur exactly the details that change an answer: "not", "2019" vs "2020",
"Paris" vs "Lyon", "km" vs "miles", "A beat B" vs "B beat A". Each check here is a
:class:`~semcached.policy.decision.Guard`: it can only veto a candidate the threshold already let
through, never create a hit, and its veto names the reason (shown by ``explain()`` and counted
as ``rejections.<guard name>``). All of them together cost tens of microseconds per candidate.

Nothing here is learned from data except the few constants documented on each check, chosen on
PAWS (free for any use) and semcached's own hand-written sample.

Example::

    from semcached.policy.guards.rules import default_guards
    cache = SemanticCache(guards=default_guards())    # the default when settings enable it
    for guard in default_guards():
        print(guard.name, guard.check("Is it open on Sunday?", candidate))
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xxhash

from semcached.policy.decision import Candidate, Guard
from semcached.policy.guards.text import (
    ALIASES,
    AMBIGUOUS_UNITS,
    MONTHS,
    NEGATIONS,
    NUMBER_WORDS,
    OPPOSITES,
    PERIODS,
    QUESTION_CLASSES,
    RELATIVE_DAYS,
    RELATIVE_MODIFIERS,
    SCALES,
    STOPWORDS,
    UNITS,
    WEEKDAYS,
    Text,
    analyze,
    fmt,
    stem,
    words,
)

log = logging.getLogger("semcached.policy.guards.rules")

__all__ = [
    "GUARD_NAMES",
    "VERIFIER_REPORT_FILE",
    "CrossEncoderGuard",
    "DateGuard",
    "EntityGuard",
    "NegationGuard",
    "NumberGuard",
    "OppositeGuard",
    "QuestionTypeGuard",
    "UnitGuard",
    "WordOrderGuard",
    "default_guards",
    "score_pairs",
    "swapped_pair",
]

# -- the checks -------------------------------------------------------------------------------


class _Check:
    """Base of the checks: a check that fails on unexpected input vetoes (never fail wrong)
    instead of failing the lookup."""

    name = "check"

    def check(self, query: str, candidate: Candidate) -> str | None:
        try:
            return self._check(query, candidate)
        except Exception as exc:  # a bug on odd input must neither fail the lookup nor serve
            log.warning("verifier check %s failed, vetoing: %r", self.name, exc)
            return f"the {self.name} check failed ({type(exc).__name__}), not serving to be safe"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        raise NotImplementedError


class NegationGuard(_Check):
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


def _numbers(text: Text) -> list[str]:
    values: list[str] = []
    for i, token in enumerate(text.tokens):
        if token in SCALES:
            previous = values[-1] if values and i > 0 else None
            if previous is not None and previous.isdecimal() and _is_number(text.tokens[i - 1]):
                values[-1] = str(int(previous) * SCALES[token])
            continue
        if token[0].isdecimal():
            value = token.rstrip("stndrhkm") or token
            value = value.replace(",", "")
            if re.fullmatch(r"\d+\.\d+", value):
                value = str(float(value)).rstrip("0").rstrip(".")
            elif value.isdecimal():
                value = str(int(value))
            if token.endswith("k") and value.isdecimal():
                value = str(int(value) * 1000)
            values.append(value)
        elif token in NUMBER_WORDS and not (i > 0 and text.tokens[i - 1] in ("a", "the")):
            values.append(str(NUMBER_WORDS[token]))
    return values


class NumberGuard(_Check):
    """Vetoes when the texts carry different numbers ("top 5" vs "top 10"); number words
    ("five") count, and "1,000", "1000" and "1k" are the same number."""

    name = "numbers"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        # Sets, not counts: "3 ways: 1. ... 2. ... 3. ..." restates a number it lists.
        q, c = set(_numbers(analyze(query))), set(_numbers(analyze(candidate.text)))
        if q != c:
            return f"numbers differ: {fmt(q) or 'none'} vs {fmt(c) or 'none'}"
        return None


def _is_number(token: str) -> bool:
    return token[0].isdecimal() or token in NUMBER_WORDS


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


class DateGuard(_Check):
    """Vetoes when the texts name different dates: years, months, weekdays, "today" vs
    "tomorrow", "next week" vs "last week"."""

    name = "dates"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        q, c = _dates(analyze(query)), _dates(analyze(candidate.text))
        if q != c:
            return f"dates differ: {fmt(q) or 'none'} vs {fmt(c) or 'none'}"
        return None


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


class UnitGuard(_Check):
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
    alias = ALIASES.get(name)
    if alias is not None and (alias in words or any(ALIASES.get(w) == alias for w in words)):
        return True
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


class EntityGuard(_Check):
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


class OppositeGuard(_Check):
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


class QuestionTypeGuard(_Check):
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


class WordOrderGuard(_Check):
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
                # Report the widest swap: "Alice ... Bob", not "pay ... Bob".
                if best is None or first[0] - second[0] > best[0]:
                    best = (first[0] - second[0], x, y)
    return None if best is None else (best[1], best[2])


def _coordinated(text: Text, x: str, y: str) -> bool:
    """Whether a coordinating word stands between ``x`` and ``y`` in ``text``."""
    i, j = sorted((text.tokens.index(x), text.tokens.index(y)))
    between = text.tokens[i + 1 : j]
    return len(between) <= 5 and any(t in ("and", "or", "nor", "&") for t in between)


class CrossEncoderGuard(_Check):
    """Vetoes candidates a local cross-encoder scores below ``min_score`` (0..1).

    A cross-encoder reads the query and the cached text together, so it judges what a sentence
    embedding blurs; it is optional and slower (about 11 ms per candidate on one CPU thread,
    only for candidates above the threshold that passed the cheap checks). Configure a local
    model directory (``SEMCACHED_VERIFIER__CROSS_ENCODER_PATH``): one that
    ``semcached train-verifier`` made from your own labelled pairs, or any Hugging Face
    sequence-classification model trained for duplicate questions or paraphrases. Nothing is
    ever fetched from a model hub. Scores of recent pairs are memoized, so a repeated lookup
    costs nothing extra.

    Example::

        guard = CrossEncoderGuard("models/verifier", min_score=0.6)
        cache = SemanticCache(guards=[*default_guards(), guard])
    """

    name = "cross_encoder"

    def __init__(
        self,
        model_path: str | Path,
        *,
        min_score: float = 0.5,
        device: str = "cpu",
        max_length: int | None = None,
        memo_size: int = 4096,
    ) -> None:
        from semcached.errors import ModelLoadError

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"no cross-encoder model at {str(path)!r} (expected a local directory with "
                "config.json); fix SEMCACHED_VERIFIER__CROSS_ENCODER_PATH or unset it",
                path=str(path),
            )
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model: Any = AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True
            )
            self._model.to(device).eval()
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the cross-encoder at {str(path)!r}: {exc}", path=str(path)
            ) from exc
        labels = int(self._model.config.num_labels)
        if labels not in (1, 2):
            raise ModelLoadError(
                f"the cross-encoder at {str(path)!r} has {labels} labels; expected 1 (a score) "
                "or 2 (different, same)",
                path=str(path),
            )
        self.path = path
        self.min_score = min_score
        self._device = device
        self._max_length = max_length or _trained_max_length(path)
        self._memo: OrderedDict[bytes, float] = OrderedDict()  # keyed by a digest of the pair
        self._memo_size = memo_size
        self._lock = threading.Lock()
        # Lookups run in worker threads, and a fast tokenizer called from two threads at once
        # can fail ("Already borrowed", huggingface/tokenizers#537): one inference at a time.
        self._inference_lock = threading.Lock()

    def score(self, query: str, text: str) -> float:
        """The model's probability that the two texts mean the same."""
        return self.score_many([(query, text)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]], batch_size: int = 64) -> list[float]:
        """Scores of many (query, cached text) pairs, batched; memoized pairs are free."""
        keys = [_pair_key(query, text) for query, text in pairs]
        known: dict[bytes, float] = {}
        with self._lock:
            for key in keys:
                if key in self._memo:
                    known[key] = self._memo[key]
                    self._memo.move_to_end(key)
        todo = list(
            {key: pair for key, pair in zip(keys, pairs, strict=True) if key not in known}.items()
        )
        if todo:
            with self._inference_lock:
                values = score_pairs(
                    self._model, self._tokenizer, [pair for _, pair in todo],
                    max_length=self._max_length, device=self._device, batch_size=batch_size,
                )  # fmt: skip
            known.update((key, value) for (key, _), value in zip(todo, values, strict=True))
        with self._lock:
            for key, _ in todo:
                self._memo[key] = known[key]
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return [known[key] for key in keys]

    def _check(self, query: str, candidate: Candidate) -> str | None:
        score = self.score(query, candidate.text)
        if score < self.min_score:
            return f"cross-encoder score {score:.3f} < {self.min_score:.3f}"
        return None


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    device: str = "cpu",
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """A sequence-classification model's probability that each (query, text) pair means the
    same, in input order: the sigmoid of a single logit, or the softmax of (different, same).
    Batched by length, so little padding is computed."""
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores = [0.0] * len(pairs)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = tokenizer(
                [pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk], truncation=True,
                max_length=max_length, padding=True, return_tensors="pt",
            ).to(device)  # fmt: skip
            logits = model(**encoded).logits
            if logits.shape[-1] == 1:
                probs = torch.sigmoid(logits[:, 0])
            else:  # (different, same)
                probs = torch.softmax(logits, dim=-1)[:, -1]
            for index, value in zip(chunk, probs.tolist(), strict=True):
                scores[index] = float(value)
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    return scores


VERIFIER_REPORT_FILE = "semcached_verifier.json"  # what semcached train-verifier writes


def _trained_max_length(path: Path, default: int = 128) -> int:
    """The token length a ``semcached train-verifier`` model was trained with (else 128)."""
    try:
        report = json.loads((path / VERIFIER_REPORT_FILE).read_text(encoding="utf-8"))
        return int(report["options"]["max_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return default


def _pair_key(query: str, text: str) -> bytes:
    """A 128-bit digest of a (query, cached text) pair: the memo holds no prompt text."""
    return xxhash.xxh3_128_digest(f"{len(query)}:{query}\x00{text}".encode())


GUARD_NAMES: tuple[str, ...] = (
    "negation",
    "dates",
    "numbers",
    "units",
    "entities",
    "opposites",
    "question_type",
    "word_order",
)


def default_guards(
    checks: Sequence[str] | None = None,
    *,
    cross_encoder_path: str | Path | None = None,
    cross_encoder_min_score: float = 0.5,
) -> list[Guard]:
    """The verifier's checks, cheapest first (``checks`` picks some by name).

    Example::

        guards = default_guards(["negation", "numbers"])
        cache = SemanticCache(guards=guards)
    """
    builders: dict[str, Guard] = {
        "negation": NegationGuard(),
        "numbers": NumberGuard(),
        "dates": DateGuard(),
        "units": UnitGuard(),
        "entities": EntityGuard(),
        "opposites": OppositeGuard(),
        "question_type": QuestionTypeGuard(),
        "word_order": WordOrderGuard(),
    }
    names = GUARD_NAMES if checks is None else tuple(checks)
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise ValueError(
            f"unknown verifier check(s) {unknown}; expected some of {list(GUARD_NAMES)}"
        )
    guards = [builders[n] for n in names]
    if cross_encoder_path is not None:
        guards.append(CrossEncoderGuard(cross_encoder_path, min_score=cross_encoder_min_score))
    return guards
