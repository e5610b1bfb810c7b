"""Split long texts into overlapping chunks that fit the embedding model's token limit.

A text is cut into *units* at paragraph breaks (blank lines) and sentence ends; a sentence
longer than the budget is cut at word boundaries, and a word longer than the budget at
characters. Units are packed greedily into chunks of at most ``max_tokens`` tokens; each new
chunk starts with the last units of the previous one, up to ``overlap_tokens``, so a fact that
straddles a boundary is whole in at least one chunk.

Every chunk is a slice ``text[start:end]`` of the original, so the chunks cover every
non-blank character and a result can point back into the item.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import xxhash

from semcached.errors import ConfigurationError

__all__ = ["Chunk", "Chunker", "TokenCounter", "approximate_tokens"]

TokenCounter = Callable[[str], int]

_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? (optionally followed by closing quotes or brackets) and whitespace;
# "e.g. the" and "Fig. 3" stay whole because the next character must not be lower case.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[^a-z\s])")
_WORD = re.compile(r"\S+")
_APPROX_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def approximate_tokens(text: str) -> int:
    """A tokenizer-free estimate: words count 1 plus 1 per 6 characters beyond the fourth, each
    punctuation mark 1. Close to WordPiece on English, and never below the word count.
    """
    total = 0
    for piece in _APPROX_PIECE.findall(text):
        total += 1 + max(0, len(piece) - 4) // 6
    return total


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk: its position in the item, its text and where that text lies in the item."""

    index: int
    text: str
    start: int
    end: int
    tokens: int


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    tokens: int


class Chunker:
    """Cut texts into chunks of at most ``max_tokens`` tokens with ``overlap_tokens`` of overlap.

    ``count_tokens`` is the embedding model's tokenizer (``SentenceTransformerEmbedder.
    count_tokens``); without one a close estimate is used.

    Example::

        chunker = Chunker(max_tokens=200, overlap_tokens=40, count_tokens=embedder.count_tokens)
        for chunk in chunker.split(long_text):
            print(chunk.index, chunk.start, chunk.end, chunk.tokens)
    """

    def __init__(
        self,
        *,
        max_tokens: int = 254,
        overlap_tokens: int = 48,
        count_tokens: TokenCounter | None = None,
    ) -> None:
        if max_tokens < 8:
            raise ConfigurationError(f"max_tokens must be at least 8, got {max_tokens}")
        if not 0 <= overlap_tokens <= max_tokens // 2:
            raise ConfigurationError(
                f"overlap_tokens must be within [0, max_tokens // 2 = {max_tokens // 2}], got "
                f"{overlap_tokens}; lower the overlap or raise max_tokens"
            )
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.count_tokens: TokenCounter = count_tokens or approximate_tokens

    @property
    def fingerprint(self) -> str:
        """Changes whenever the same text could be chunked differently (part of content hashes)."""
        tokenizer = "model" if self.count_tokens is not approximate_tokens else "approx"
        key = f"chunker-v1:{self.max_tokens}:{self.overlap_tokens}:{tokenizer}"
        return xxhash.xxh3_64_hexdigest(key.encode())

    def split(self, text: str) -> list[Chunk]:
        """The chunks of ``text`` in order; an empty or blank text has none."""
        units = self._units(text)
        chunks: list[Chunk] = []
        current: list[_Unit] = []
        size = 0
        for unit in units:
            if current and size + unit.tokens > self.max_tokens:
                chunks.append(self._chunk(text, len(chunks), current, size))
                current = self._overlap(current, unit.tokens)
                size = sum(u.tokens for u in current)
            current.append(unit)
            size += unit.tokens
        if current:
            chunks.append(self._chunk(text, len(chunks), current, size))
        return chunks

    def _chunk(self, text: str, index: int, units: list[_Unit], size: int) -> Chunk:
        start, end = units[0].start, units[-1].end
        return Chunk(index=index, text=text[start:end], start=start, end=end, tokens=size)

    def _overlap(self, previous: list[_Unit], next_tokens: int) -> list[_Unit]:
        """The tail of the previous chunk to repeat, leaving room for the next unit."""
        budget = min(self.overlap_tokens, self.max_tokens - next_tokens)
        tail: list[_Unit] = []
        used = 0
        # Never repeat the whole previous chunk: the next one must make progress.
        for unit in reversed(previous[1:]):
            if used + unit.tokens > budget:
                break
            tail.insert(0, unit)
            used += unit.tokens
        return tail

    def _units(self, text: str) -> list[_Unit]:
        units: list[_Unit] = []
        for p_start, p_end in _spans(text, _PARAGRAPH, 0, len(text)):
            for s_start, s_end in _spans(text, _SENTENCE_END, p_start, p_end):
                units.extend(self._fit(text, s_start, s_end))
        return units

    def _fit(self, text: str, start: int, end: int) -> list[_Unit]:
        """One unit for a sentence that fits; else its words packed into units that do."""
        tokens = self.count_tokens(text[start:end])
        if tokens <= self.max_tokens:
            return [_Unit(start, end, tokens)]
        units: list[_Unit] = []
        piece_start: int | None = None
        piece_end = start
        piece_tokens = 0
        for match in _WORD.finditer(text, start, end):
            word_tokens = self.count_tokens(match.group())
            if word_tokens > self.max_tokens:
                if piece_start is not None:
                    units.append(_Unit(piece_start, piece_end, piece_tokens))
                    piece_start, piece_tokens = None, 0
                units.extend(self._split_word(text, match.start(), match.end()))
                continue
            if piece_start is not None and piece_tokens + word_tokens > self.max_tokens:
                units.append(_Unit(piece_start, piece_end, piece_tokens))
                piece_start, piece_tokens = None, 0
            if piece_start is None:
                piece_start = match.start()
            piece_end = match.end()
            piece_tokens += word_tokens
        if piece_start is not None:
            units.append(_Unit(piece_start, piece_end, piece_tokens))
        return units

    def _split_word(self, text: str, start: int, end: int) -> list[_Unit]:
        """Cut a single over-long 'word' (a URL, a base64 blob) by characters."""
        units: list[_Unit] = []
        while start < end:
            # Binary search the longest prefix within the budget (at least one character).
            lo, hi = start + 1, end
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self.count_tokens(text[start:mid]) <= self.max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            units.append(_Unit(start, lo, self.count_tokens(text[start:lo])))
            start = lo
        return units


def _spans(text: str, separator: re.Pattern[str], start: int, end: int) -> list[tuple[int, int]]:
    """The non-blank pieces of ``text[start:end]`` between matches of ``separator``, trimmed."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in separator.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    trimmed: list[tuple[int, int]] = []
    for first, last in spans:
        a, b = first, last
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            trimmed.append((a, b))
    return trimmed
