"""Okapi BM25 over chunk texts, in memory, updated in place on every upsert and delete.

ChromaDB single-node has no lexical ranking, so this module provides one. The index is not a
second source of truth: it is rebuilt from the documents stored in ChromaDB when a knowledge
collection is first searched (so it survives a restart) and then kept in step with each write
made through :class:`~semcached.index.knowledge.base.KnowledgeBase`.

Scoring is Lucene's BM25: ``idf = ln(1 + (N - df + 0.5) / (df + 0.5))`` and
``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen))``.

Example::

    index = BM25Index()
    index.add("a#0", "Insulin resistance in type 2 diabetes")
    index.add("b#0", "Statins lower LDL cholesterol")
    index.search("diabetic insulin", limit=10)     # [("a#0", 1.73...)]
"""

from __future__ import annotations

import heapq
import math
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from semcached.index.knowledge.stemmer import porter_stem

__all__ = ["ENGLISH_STOPWORDS", "BM25Index", "Tokenizer"]

# Lucene's English stop set plus the commonest function words; content words such as "not",
# "no" and "against" stay out of the list, they carry meaning in claims.
_STOPWORD_TEXT = """
    a an and are as at be but by for if in into is it its of on or such that the their then
    there these they this to was will with which who whom whose what when where why how
    i me my we our you your he him his she her them those am been being were has have had do
    does did doing would should could can may might must shall also than so very too just
    about above after again all any before below between both during each few from further
    here more most other out over own same some through under until up while only off once
"""
ENGLISH_STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Tokenizer:
    """Lower-case, split on anything but letters and digits, drop stopwords, Porter-stem.

    Example::

        Tokenizer()("The infections were treated.")   # ["infect", "treat"]
    """

    stopwords: frozenset[str] = ENGLISH_STOPWORDS
    stem: bool = True
    min_length: int = 1

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = []
        for raw in _TOKEN.findall(text.lower()):
            if len(raw) < self.min_length or raw in self.stopwords:
                continue
            tokens.append(porter_stem(raw) if self.stem else raw)
        return tokens


class BM25Index:
    """Documents (by id) to BM25 scores; ``add`` replaces a document with the same id.

    Thread-safe: writers and readers take one lock, and a search costs a few milliseconds on
    ten thousand chunks.
    """

    def __init__(
        self, *, k1: float = 1.2, b: float = 0.75, tokenizer: Tokenizer | None = None
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1 = k1
        self.b = b
        self.tokenizer = tokenizer or Tokenizer()
        self._docs: dict[str, Counter[str]] = {}
        self._lengths: dict[str, int] = {}
        self._postings: dict[str, dict[str, int]] = {}
        self._total_length = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def add(self, doc_id: str, text: str) -> None:
        """Index (or re-index) one document."""
        self.add_many([(doc_id, text)])

    def add_many(self, docs: Iterable[tuple[str, str]]) -> None:
        tokenized = [(doc_id, Counter(self.tokenizer(text))) for doc_id, text in docs]
        with self._lock:
            for doc_id, counts in tokenized:
                self._remove(doc_id)
                self._docs[doc_id] = counts
                length = sum(counts.values())
                self._lengths[doc_id] = length
                self._total_length += length
                for term, tf in counts.items():
                    self._postings.setdefault(term, {})[doc_id] = tf

    def remove_many(self, doc_ids: Iterable[str]) -> None:
        with self._lock:
            for doc_id in doc_ids:
                self._remove(doc_id)

    def clear(self) -> None:
        with self._lock:
            self._docs.clear()
            self._lengths.clear()
            self._postings.clear()
            self._total_length = 0

    def _remove(self, doc_id: str) -> None:
        counts = self._docs.pop(doc_id, None)
        if counts is None:
            return
        self._total_length -= self._lengths.pop(doc_id)
        for term in counts:
            posting = self._postings[term]
            del posting[doc_id]
            if not posting:
                del self._postings[term]

    def search(
        self, query: str, limit: int, allowed: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``limit`` best documents for ``query`` with a positive score, best first.

        ``allowed`` restricts the ranking to those ids (ties broken by id, so it is stable).
        """
        terms = Counter(self.tokenizer(query))
        if not terms or limit <= 0:
            return []
        scores: dict[str, float] = {}
        with self._lock:
            n = len(self._docs)
            if n == 0:
                return []
            avg = self._total_length / n if self._total_length else 1.0
            k1, b = self.k1, self.b
            lengths = self._lengths
            for term, query_tf in terms.items():
                posting = self._postings.get(term)
                if not posting:
                    continue
                idf = math.log(1 + (n - len(posting) + 0.5) / (len(posting) + 0.5))
                weight = idf * (k1 + 1) * query_tf
                for doc, tf in posting.items():
                    if allowed is not None and doc not in allowed:
                        continue
                    norm = k1 * (1 - b + b * lengths[doc] / avg)
                    scores[doc] = scores.get(doc, 0.0) + weight * tf / (tf + norm)
        best = heapq.nsmallest(limit, scores.items(), key=lambda item: (-item[1], item[0]))
        return [(doc, score) for doc, score in best if score > 0]

    def score_docs(self, query: str, doc_ids: Iterable[str]) -> dict[str, float]:
        """The BM25 score of each of ``doc_ids`` that is indexed (0.0 when nothing matches)."""
        terms = Counter(self.tokenizer(query))
        with self._lock:
            n = len(self._docs)
            avg = self._total_length / n if n and self._total_length else 1.0
            scores: dict[str, float] = {}
            for doc in doc_ids:
                counts = self._docs.get(doc)
                if counts is None:
                    continue
                norm = self.k1 * (1 - self.b + self.b * self._lengths[doc] / avg)
                total = 0.0
                for term, query_tf in terms.items():
                    tf = counts.get(term, 0)
                    if tf:
                        df = len(self._postings[term])
                        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                        total += idf * (self.k1 + 1) * query_tf * tf / (tf + norm)
                scores[doc] = total
        return scores
