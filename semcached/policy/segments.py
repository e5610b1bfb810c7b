"""Whole-prompt comparison: what two prompts share is matched by hash, what differs is judged.

An embedding model reads only the first 256 tokens of a prompt, so two long prompts that share
a document and differ in the question after it look identical to it. Here a prompt is split
into segments (paragraphs, and sentence windows that fit the verifier), segments are compared
by a hash of their normalised text, and :func:`compare` says what a candidate and a query
differ in:

* nothing (the same text but for case, spacing and punctuation): the same request;
* short texts: the whole pair, as the verifier reads it;
* long texts that differ only at their start and/or end (the task or question around a shared
  document or context): the differing parts, which the verifier then judges;
* long texts that differ in the middle (the document or context itself), or in more than the
  verifier can read: no pair at all, and a reason that says where they differ. Such a
  candidate is a miss: a difference that cannot be judged is never served.

Pure: no IO. Example::

    diff = compare("<report> Summarize this in one sentence.", "<report> Write a limerick.")
    diff.judged      # ("Summarize this in one sentence.", "Write a limerick.")
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import xxhash

__all__ = [
    "INNER_WORDS",
    "MAX_JUDGED_WORDS",
    "SHORT_WORDS",
    "WINDOW_WORDS",
    "Difference",
    "Segment",
    "compare",
    "normalise",
    "retrieval_text",
    "segments",
]

# Up to this many words a prompt is judged whole (it fits the verifier's window).
SHORT_WORDS = 120
# A differing part longer than this cannot be judged by the verifier.
MAX_JUDGED_WORDS = 160
# A sentence window: about 200 word pieces of the embedding model.
WINDOW_WORDS = 140
# A change inside the shared text is judged only when it is this short on both sides (a
# question or instruction between shared parts); a longer one is the content itself changing.
INNER_WORDS = 40

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")
_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True, slots=True)
class Segment:
    """One part of a prompt: its text and the hash of its normalised text."""

    text: str
    key: int


@dataclass(frozen=True, slots=True)
class Difference:
    """What a query and a candidate differ in, and what (if anything) to judge.

    ``judged`` is the (candidate part, query part) pair for the verifier, or ``None`` when
    nothing needs judging (``same``) or it cannot be judged (``reason`` says why).
    """

    same: bool
    judged: tuple[str, str] | None
    reason: str | None = None
    long: bool = False  # at least one of the two is longer than a short prompt


def normalise(text: str) -> str:
    """Case, spacing, punctuation and Unicode form folded away (what never changes an answer)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", folded)).strip()


def _words(text: str) -> int:
    return len(text.split())


@lru_cache(maxsize=2048)
def segments(text: str) -> tuple[Segment, ...]:
    """Paragraphs (blank lines), then lines, then sentence windows of at most
    :data:`WINDOW_WORDS` words; each with the hash of its normalised text."""
    parts: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        for line in paragraph.split("\n"):
            if not line.strip():
                continue
            if _words(line) <= WINDOW_WORDS:
                parts.append(line)
                continue
            window: list[str] = []
            for sentence in _SENTENCE.split(line):
                if window and _words(" ".join([*window, sentence])) > WINDOW_WORDS:
                    parts.append(" ".join(window))
                    window = []
                window.append(sentence)
            if window:
                parts.append(" ".join(window))
    return tuple(
        Segment(part, xxhash.xxh3_64_intdigest(normalise(part).encode("utf-8", "surrogatepass")))
        for part in parts
        if normalise(part)
    )


def compare(candidate: str, query: str) -> Difference:
    """What ``query`` differs from ``candidate`` in (see the module docstring)."""
    if normalise(candidate) == normalise(query):
        return Difference(same=True, judged=None)
    long = max(_words(candidate), _words(query)) > SHORT_WORDS
    if not long:
        return Difference(same=False, judged=(candidate, query))
    a, b = segments(candidate), segments(query)
    matcher = difflib.SequenceMatcher(None, [s.key for s in a], [s.key for s in b], autojunk=False)
    changes = [op for op in matcher.get_opcodes() if op[0] != "equal"]
    if not changes:
        return Difference(same=True, judged=None, long=True)
    shared = sum(i2 - i1 for tag, i1, i2, _, _ in matcher.get_opcodes() if tag == "equal")
    if shared == 0:
        return Difference(
            same=False,
            judged=None,
            reason="the prompts are long and share no part: nothing can be matched, and the "
            "whole of them is more than the verifier can judge",
            long=True,
        )
    inner = [
        op
        for op in changes
        if not _at_an_end(op, len(a), len(b)) and _changed_words(op, a, b) > INNER_WORDS
    ]
    if inner:
        _, i1, _, j1, _ = inner[0]
        return Difference(
            same=False,
            judged=None,
            reason=f"they differ inside the shared text (part {j1 + 1} of {len(b)} of the "
            f"prompt, after {i1} identical parts): the document or context itself changed",
            long=True,
        )
    cand = " … ".join(" ".join(s.text for s in a[i1:i2]) for _, i1, i2, _, _ in changes)
    ques = " … ".join(" ".join(s.text for s in b[j1:j2]) for _, _, _, j1, j2 in changes)
    if max(_words(cand), _words(ques)) > MAX_JUDGED_WORDS:
        return Difference(
            same=False,
            judged=None,
            reason=f"they differ in {max(_words(cand), _words(ques))} words at the "
            f"{'start' if changes[0][1] == 0 else 'end'}, more than the verifier can judge "
            f"({MAX_JUDGED_WORDS})",
            long=True,
        )
    return Difference(same=False, judged=(cand.strip(), ques.strip()), long=True)


def _changed_words(
    op: tuple[str, int, int, int, int], a: tuple[Segment, ...], b: tuple[Segment, ...]
) -> int:
    _, i1, i2, j1, j2 = op
    return max(sum(_words(s.text) for s in a[i1:i2]), sum(_words(s.text) for s in b[j1:j2]))


def _at_an_end(op: tuple[str, int, int, int, int], len_a: int, len_b: int) -> bool:
    """Whether a change touches the start or the end of both texts (a task or question
    around shared content, not the content itself)."""
    _, i1, i2, j1, j2 = op
    return (i1 == 0 and j1 == 0) or (i2 == len_a and j2 == len_b)


def retrieval_text(text: str, head_words: int = 60, tail_words: int = 110) -> str:
    """What to embed for retrieval: a short prompt whole; a long one by its start and its end,
    where tasks and questions sit, so entries sharing a long document but asking different
    things get different vectors (the model would only read the first 256 tokens)."""
    words = text.split()
    if len(words) <= head_words + tail_words:
        return text
    return " ".join(words[:head_words]) + " … " + " ".join(words[-tail_words:])
