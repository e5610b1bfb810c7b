"""Measure knowledge search on a BEIR-format dataset (e.g. SciFact): nDCG@10, recall@100, latency.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``). Each
document becomes an item whose text is its title, a blank line and its text; each test query
is searched once per mode and the ranking scored as BEIR does: nDCG with the graded relevance
of the qrels (trec_eval's linear gain), and a document whose id equals the query's is ignored.

Example::

    kb = KnowledgeBase(embedder=SentenceTransformerEmbedder(), backend=ChromaBackend(path=d))
    data = load_beir("../shared/data/scifact")
    kb.upsert(data.items(), collection="scifact")
    report = evaluate(kb, data, collection="scifact", modes=("dense", "lexical", "hybrid"))
    print(report["hybrid"]["ndcg@10"])
"""

from __future__ import annotations

import csv
import json
import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcached.errors import ConfigurationError
from semcached.index.knowledge.base import Item, KnowledgeBase
from semcached.index.knowledge.search import SearchMode

__all__ = ["BeirData", "evaluate", "load_beir", "load_data", "ndcg_at", "recall_at"]


@dataclass(frozen=True, slots=True)
class BeirData:
    """A BEIR dataset: documents, the queries with judgements, and the judgements."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def items(self) -> Iterator[Item]:
        for doc_id, (title, text) in self.corpus.items():
            body = f"{title}\n\n{text}" if title and text else (title or text)
            metadata = {"title": title} if title else {}
            yield Item(doc_id, body, metadata)


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(
                    f"{path}:{n}: expected one JSON object per line ({exc}); is this a BEIR file?"
                ) from exc


def load_beir(folder: str | Path, split: str = "test") -> BeirData:
    """Read a BEIR folder; only queries judged in ``qrels/<split>.tsv`` are kept."""
    root = Path(folder)
    paths = {
        "corpus": root / "corpus.jsonl",
        "queries": root / "queries.jsonl",
        "qrels": root / "qrels" / f"{split}.tsv",
    }
    for name, path in paths.items():
        if not path.is_file():
            raise ConfigurationError(
                f"expected a BEIR folder with corpus.jsonl, queries.jsonl and qrels/{split}.tsv; "
                f"{name} is missing at {path}. Fix: point at the dataset's folder"
            )
    qrels: dict[str, dict[str, int]] = {}
    with paths["qrels"].open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        header = next(reader, None)
        if header is not None and header[0].strip() != "query-id":
            qrels.setdefault(header[0], {})[header[1]] = int(header[2])
        for row in reader:
            if len(row) >= 3:
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    corpus = {
        str(doc["_id"]): (str(doc.get("title") or ""), str(doc.get("text") or ""))
        for doc in _jsonl(paths["corpus"])
    }
    queries = {
        str(q["_id"]): str(q["text"]) for q in _jsonl(paths["queries"]) if str(q["_id"]) in qrels
    }
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)


def load_data(path: str | Path, split: str = "test") -> BeirData:
    """A BEIR folder, or a JSONL file of items (``id``, ``text``, ``metadata``) turned into a
    self-retrieval set: each item's first sentence is a query judging that item relevant.
    Benchmarks fall back to the bundled sample this way."""
    source = Path(path)
    if source.is_dir():
        return load_beir(source, split)
    corpus: dict[str, tuple[str, str]] = {}
    queries: dict[str, str] = {}
    for raw in _jsonl(source):
        item_id = str(raw.get("id", raw.get("_id")))
        text = str(raw.get("text") or "")
        corpus[item_id] = (str(raw.get("title") or ""), text)
        queries[f"q-{item_id}"] = text.split(". ", maxsplit=1)[0][:200]
    qrels = {f"q-{item_id}": {item_id: 1} for item_id in corpus}
    return BeirData(corpus=corpus, queries=queries, qrels=qrels)


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains (trec_eval's ``ndcg_cut``)."""
    dcg = sum(
        relevant.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], start=1)
    )
    ideal_gains = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, start=1))
    return dcg / ideal if ideal > 0 else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {doc for doc, gain in relevant.items() if gain > 0}
    if not wanted:
        return 0.0
    return len(wanted.intersection(ranking[:k])) / len(wanted)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def evaluate(
    kb: KnowledgeBase,
    data: BeirData,
    *,
    collection: str,
    modes: Sequence[SearchMode] = ("dense", "lexical", "hybrid"),
    depth: int = 100,
    on_query: Callable[[], object] | None = None,
    warm_up: bool = True,
) -> dict[str, dict[str, float]]:
    """Search every judged query in each mode; per mode: nDCG@10, recall@100 and latency (ms).

    Latency is of the whole ``kb.search`` call (query embedding included), one query at a
    time, after one warm-up query per mode (which builds the lexical index). With ``warm_up``
    every query is embedded once beforehand: PyTorch on CPU spends about half a second the
    first time it meets each input length, a cost a running service pays once per length,
    which would otherwise dominate the p95 of whichever mode runs first.
    """
    report: dict[str, dict[str, float]] = {}
    query_ids = sorted(data.queries, key=lambda q: (len(q), q))
    if warm_up:
        for qid in query_ids:
            kb.embedder.embed([data.queries[qid]])
    for mode in modes:
        kb.search("warm up", k=depth, mode=mode, collection=collection)
        ndcgs: list[float] = []
        recalls: list[float] = []
        latencies: list[float] = []
        for qid in query_ids:
            started = time.perf_counter()
            result = kb.search(data.queries[qid], k=depth, mode=mode, collection=collection)
            latencies.append((time.perf_counter() - started) * 1000)
            ranking = [doc for doc in result.ids if doc != qid]
            relevant = data.qrels.get(qid, {})
            ndcgs.append(ndcg_at(ranking, relevant, 10))
            recalls.append(recall_at(ranking, relevant, 100))
            if on_query is not None:
                on_query()
        report[mode] = {
            "ndcg@10": statistics.fmean(ndcgs) if ndcgs else 0.0,
            "recall@100": statistics.fmean(recalls) if recalls else 0.0,
            "latency_ms_median": statistics.median(latencies) if latencies else 0.0,
            "latency_ms_p95": _percentile(latencies, 0.95),
            "queries": float(len(query_ids)),
        }
    return report
