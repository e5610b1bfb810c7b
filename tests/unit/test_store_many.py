"""Bulk import: many answers stored in batches, found again exactly and semantically."""

from __future__ import annotations

import pytest

from semcached.errors import InvalidRequestError
from tests.helpers import Provider, ask
from tests.unit.test_engine_logic import make_cache


def test_store_many_batches_embeds_and_finds_every_answer() -> None:
    cache, embedder = make_cache()
    items = [(ask(f"question number {i}"), {"answer": i}) for i in range(10)]
    seen: list[int] = []
    assert cache.store_many(items, batch_size=4, progress=seen.append) == 10
    assert seen == [4, 8, 10]
    assert len(embedder.calls) == 3  # one embedding call per batch
    for i in (0, 5, 9):
        found = cache.get_or_call(ask(f"question number {i}"), Provider())
        assert found.source == "exact" and found.response == {"answer": i}
    assert cache.count() == 10


def test_store_many_names_the_item_that_is_not_json() -> None:
    cache, _ = make_cache()
    with pytest.raises(InvalidRequestError, match="item 1"):
        cache.store_many([(ask("fine"), {"a": 1}), (ask("bad"), {"a": {1, 2}})], batch_size=10)
    assert cache.count() == 0  # nothing of that batch was written
