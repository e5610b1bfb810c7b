"""The three caches behind one small interface, each set up as its own documentation shows.

Each class imports its library lazily: this module is loaded by semcached's interpreter for
semcached and by the peers' interpreter for GPTCache and RedisVL, never both in one process.

* ``lookup(prompt)``: a read only (a hit or not); never stores.
* ``get_or_call(prompt, answer)``: the cache-aside path of a real app: look up, and on a miss
  "call the provider" (return ``answer``) and store it. Returns whether the provider was called.
* ``fresh(tag)`` then ``bulk(items)``: an empty cache (untimed), then a bulk import (timed).
* ``settle()``: wait for work a call left running in the background (untimed, between rounds),
  so it neither hides in one system's figures nor lands in another system's turn.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

# Entries GPTCache keeps before evicting (its default, 1,000, would evict our stored prompts).
GPTCACHE_MAX_SIZE = 1_000_000


class System(Protocol):
    name: str

    def setup(self, items: list[tuple[str, str]]) -> None: ...

    def lookup(self, prompt: str) -> bool: ...

    def get_or_call(self, prompt: str, answer: str) -> bool: ...

    def fresh(self, tag: str) -> None: ...

    def bulk(self, items: list[tuple[str, str]]) -> None: ...

    def settle(self) -> None: ...

    def describe(self) -> dict[str, object]: ...

    def stats(self) -> dict[str, object]: ...

    def close(self) -> None: ...


class Semcached:
    """``SemanticCache()`` on its defaults: ONNX embedder of the packaged all-MiniLM-L6-v2,
    the pair-model verifier, in-process exact store, embedded ChromaDB under
    ``SEMCACHED_DATA_DIR`` (the worker points it at a temporary directory)."""

    name = "semcached"

    def __init__(self, model_path: str, workdir: Path) -> None:
        del model_path  # semcached finds the same packaged model by itself
        from semcached import SemanticCache

        self.cache = SemanticCache()
        self.namespace: str | None = None

    @staticmethod
    def request(prompt: str) -> dict[str, Any]:
        return {
            "model": "bench",
            "temperature": 0,
            "messages": [{"role": "user", "content": prompt}],
        }

    def setup(self, items: list[tuple[str, str]]) -> None:
        self.cache.store_many((self.request(p), {"answer": a}) for p, a in items)
        self.settle()

    def lookup(self, prompt: str) -> bool:
        return bool(self.cache.lookup(self.request(prompt)).hit)

    def get_or_call(self, prompt: str, answer: str) -> bool:
        result = self.cache.get_or_call(self.request(prompt), lambda: {"answer": answer})
        return bool(result.source == "provider")

    def fresh(self, tag: str) -> None:
        self.namespace = f"bulk-{tag}"

    def bulk(self, items: list[tuple[str, str]]) -> None:
        pairs = ((self.request(p), {"answer": a}) for p, a in items)
        self.cache.store_many(pairs, namespace=self.namespace)
        self.settle()  # searchable by every replica, as the peers' inserts are when they return

    def settle(self) -> None:
        behind = getattr(self.cache.semantic, "behind", None)  # write-behind, when on
        if behind is not None:
            behind.flush()

    def describe(self) -> dict[str, object]:
        cache = self.cache
        return {
            "threshold_cosine": cache.threshold,
            "embedder": " > ".join(_layers(cache.embedder)),
            "onnx_threads": _innermost(cache.embedder, "threads"),
            "embedder_model": cache.embedder.model_id,
            "verifier_scorer": type(getattr(cache.verifier, "scorer", None)).__name__,
            "exact_store": type(cache.exact_store).__name__,
            "vector_index": "embedded ChromaDB",
            "write_behind": getattr(cache.semantic, "behind", None) is not None,
            "data_dir": os.environ.get("SEMCACHED_DATA_DIR"),
        }

    def stats(self) -> dict[str, object]:
        snapshot: dict[str, object] = self.cache.stats.snapshot()
        return snapshot

    def close(self) -> None:
        self.cache.close()


def _layers(embedder: Any) -> list[str]:
    """Class names of an embedder and of the ones it wraps (``inner``), outermost first."""
    names: list[str] = []
    while embedder is not None and len(names) < 8:
        names.append(type(embedder).__name__)
        embedder = getattr(embedder, "inner", None)
    return names


def _innermost(embedder: Any, attribute: str) -> Any:
    """``attribute`` of the innermost wrapped embedder that has it (None if none has)."""
    found = None
    while embedder is not None:
        found = getattr(embedder, attribute, found)
        embedder = getattr(embedder, "inner", None)
    return found


def _gptcache_converter(cache_data: Any) -> Any:
    return cache_data


def _gptcache_save(llm_data: Any, update_cache_func: Any, *args: Any, **kwargs: Any) -> Any:
    update_cache_func(llm_data)
    return llm_data


class GPTCache:
    """GPTCache 0.1.x: sqlite + faiss data manager, its SBERT (sentence-transformers) embedding
    on the packaged model path, ``get_prompt`` pre-processing and the default
    ``SearchDistanceEvaluation`` at the default similarity threshold (0.8 of its range)."""

    name = "gptcache"

    def __init__(self, model_path: str, workdir: Path) -> None:
        from gptcache.embedding import SBERT

        self.workdir = workdir
        self.embedding = SBERT(model_path)
        self.cache = self._new_cache(workdir / "stored")
        self.target = self.cache

    def _new_cache(self, data_dir: Path) -> Any:
        from gptcache import Cache
        from gptcache.manager import manager_factory
        from gptcache.processor.pre import get_prompt
        from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

        # With the "memory" eviction manager the size comes from eviction_params; manager_factory's
        # max_size is read only by the "map" manager (left at 1,000, entries get evicted).
        data_manager = manager_factory(
            "sqlite,faiss",
            data_dir=str(data_dir),
            max_size=GPTCACHE_MAX_SIZE,
            vector_params={"dimension": self.embedding.dimension},
            eviction_params={"max_size": GPTCACHE_MAX_SIZE},
        )
        cache = Cache()
        cache.init(
            pre_embedding_func=get_prompt,
            embedding_func=self.embedding.to_embeddings,
            data_manager=data_manager,
            similarity_evaluation=SearchDistanceEvaluation(),
        )
        return cache

    def setup(self, items: list[tuple[str, str]]) -> None:
        self.cache.import_data([p for p, _ in items], [a for _, a in items])

    def lookup(self, prompt: str) -> bool:
        from gptcache.adapter.api import get

        return get(prompt, cache_obj=self.cache) is not None

    def get_or_call(self, prompt: str, answer: str) -> bool:
        # What GPTCache's own adapters do: one embedding, the search, and on a miss the LLM
        # call and the save (its api.put would embed the prompt a second time).
        from gptcache.adapter.adapter import adapt

        called: list[bool] = []

        def llm(*args: Any, **kwargs: Any) -> str:
            called.append(True)
            return answer

        adapt(llm, _gptcache_converter, _gptcache_save, prompt=prompt, cache_obj=self.cache)
        return bool(called)

    def fresh(self, tag: str) -> None:
        self.target = self._new_cache(self.workdir / f"bulk-{tag}")

    def bulk(self, items: list[tuple[str, str]]) -> None:
        self.target.import_data([p for p, _ in items], [a for _, a in items])

    def settle(self) -> None:
        return None

    def describe(self) -> dict[str, object]:
        return {
            "similarity_threshold": self.cache.config.similarity_threshold,
            "similarity_evaluation": "SearchDistanceEvaluation(max_distance=4.0)",
            "embedding": "gptcache.embedding.SBERT",
            "data_manager": f"sqlite,faiss (max_size {GPTCACHE_MAX_SIZE})",
        }

    def stats(self) -> dict[str, object]:
        report = self.cache.report
        stages = ("pre", "embedding", "search", "data", "evaluation", "post", "llm", "save")
        return {
            "mean_ms": {
                stage: round(getattr(report, f"average_{stage}_time")() * 1000, 4)
                for stage in stages
            }
        }

    def close(self) -> None:
        self.cache.data_manager.close()


class RedisVL:
    """RedisVL's ``SemanticCache`` on redis-stack-server with ``HFTextVectorizer`` on the packaged
    model path and its default ``distance_threshold`` (0.1 cosine distance)."""

    name = "redisvl"

    def __init__(self, model_path: str, workdir: Path) -> None:
        from redisvl.utils.vectorize import HFTextVectorizer

        self.url = os.environ["PEERS_REDIS_URL"]
        self.vectorizer = HFTextVectorizer(model=model_path)
        self.cache = self._new_cache("semcached-bench-stored")
        self.target = self.cache
        self.bulk_caches: list[Any] = []

    def _new_cache(self, name: str) -> Any:
        from redisvl.extensions.cache.llm import SemanticCache

        return SemanticCache(
            name=name, redis_url=self.url, vectorizer=self.vectorizer, overwrite=True
        )

    def _insert(self, cache: Any, items: list[tuple[str, str]]) -> None:
        # The vectorizer's batched embedding, then one store per entry with its vector
        # (SemanticCache has no bulk store).
        vectors = self.vectorizer.embed_many([p for p, _ in items], batch_size=64)
        for (prompt, answer), vector in zip(items, vectors, strict=True):
            cache.store(prompt, answer, vector=vector)

    def setup(self, items: list[tuple[str, str]]) -> None:
        self._insert(self.cache, items)

    def lookup(self, prompt: str) -> bool:
        return bool(self.cache.check(prompt=prompt))

    def get_or_call(self, prompt: str, answer: str) -> bool:
        vector = self.vectorizer.embed(prompt)  # embedded once for the check and the store
        if self.cache.check(vector=vector):
            return False
        self.cache.store(prompt, answer, vector=vector)
        return True

    def fresh(self, tag: str) -> None:
        self.target = self._new_cache(f"semcached-bench-bulk-{tag}")
        self.bulk_caches.append(self.target)

    def bulk(self, items: list[tuple[str, str]]) -> None:
        self._insert(self.target, items)

    def settle(self) -> None:
        return None

    def describe(self) -> dict[str, object]:
        return {
            "distance_threshold": self.cache.distance_threshold,
            "vectorizer": "HFTextVectorizer",
            "redis": self.url,
        }

    def stats(self) -> dict[str, object]:
        return {}

    def close(self) -> None:
        for cache in [*self.bulk_caches, self.cache]:
            cache.delete()


def build(name: str, model_path: str, workdir: Path | None = None) -> System:
    workdir = workdir or Path(tempfile.mkdtemp(prefix=f"semcached-peers-{name}-"))
    systems: dict[str, type[Semcached] | type[GPTCache] | type[RedisVL]] = {
        "semcached": Semcached,
        "gptcache": GPTCache,
        "redisvl": RedisVL,
    }
    return systems[name](model_path, workdir)
