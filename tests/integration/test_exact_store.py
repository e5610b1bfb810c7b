"""Exact stores: the in-process LRU and real Redis behave the same."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcached.errors import ExactStoreError
from semcached.index import ExactStore, MemoryExactStore, RedisExactStore, namespace_token
from tests.strategies import namespaces

values = st.binary(max_size=200)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> Iterator[ExactStore]:
    if request.param == "memory":
        yield MemoryExactStore(max_entries=1000)
    else:
        yield request.getfixturevalue("redis_store")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values, namespace=namespaces)
def test_round_trip(store: ExactStore, value: bytes, namespace: str) -> None:
    """What goes in comes out byte for byte, in every namespace."""
    store.set(namespace, "k", value, ttl_s=60)
    assert store.get(namespace, "k") == value
    assert store.get_many(namespace, ["k", "missing"]) == [value, None]
    assert store.delete(namespace, "k")
    assert store.get(namespace, "k") is None


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=namespaces, b=namespaces)
def test_namespaces_are_isolated(store: ExactStore, a: str, b: str) -> None:
    """A key in one namespace is invisible in another, and clear() removes only its own."""
    if a == b:
        return
    store.set(a, "k", b"a", None)
    store.set(b, "k", b"b", None)
    store.append(a, "log", b"1", keep=5)
    assert store.get(a, "k") == b"a"
    assert store.clear(a) >= 1
    assert store.get(a, "k") is None
    assert store.items(a, "log") == []
    assert store.get(b, "k") == b"b"
    store.clear(b)


def test_values_are_copies(store: ExactStore) -> None:
    value = bytearray(b"[1,2]")
    store.set("ns", "k", value, None)  # type: ignore[arg-type]
    value.extend(b"3")
    assert store.get("ns", "k") == b"[1,2]"


def test_values_must_be_bytes(store: ExactStore) -> None:
    """A value that is not bytes is refused with what to do instead (never pickled)."""
    with pytest.raises(ExactStoreError, match="bytes"):
        store.set("ns", "k", {"not": "bytes"}, None)  # type: ignore[arg-type]


def test_append_keeps_the_last_values_in_order(store: ExactStore) -> None:
    """A list keeps its newest ``keep`` values, oldest first."""
    for i in range(7):
        store.append("ns", "log", str(i).encode(), keep=3)
    assert store.items("ns", "log") == [b"4", b"5", b"6"]
    assert store.items("ns", "missing") == []
    store.clear("ns")


def test_ttl_expires_in_redis(redis_store: RedisExactStore) -> None:
    redis_store.set("ns", "k", b"1", ttl_s=0.05)
    redis_store.set("ns", "forever", b"2", ttl_s=None)
    time.sleep(0.2)
    assert redis_store.get("ns", "k") is None
    assert redis_store.get("ns", "forever") == b"2"


@given(ttl=st.floats(0.001, 1000), elapsed=st.floats(0, 2000))
def test_memory_ttl_property(ttl: float, elapsed: float) -> None:
    """An entry is served strictly before its TTL runs out and never after."""
    now = [100.0]
    store = MemoryExactStore(clock=lambda: now[0])
    store.set("ns", "k", b"1", ttl_s=ttl)
    now[0] += elapsed
    assert (store.get("ns", "k") is not None) == (elapsed < ttl)


def test_memory_lru_bound() -> None:
    """The least recently used entry goes first once the bound is reached."""
    store = MemoryExactStore(max_entries=3)
    for k in "abc":
        store.set("ns", k, k.encode(), None)
    assert store.get("ns", "a") is not None  # a becomes most recent
    store.set("ns", "d", b"d", None)
    assert store.get("ns", "b") is None
    assert [store.get("ns", k) is not None for k in "acd"] == [True, True, True]
    assert len(store) == 3


def test_redis_keys_carry_prefix_and_namespace(
    redis_store: RedisExactStore, redis_url: str, key_prefix: str
) -> None:
    """Keys are `prefix:namespace:key`, with unsafe namespaces hashed (glob-safe)."""
    redis_store.set("tenant-a", "abc", b"1", None)
    redis_store.set("we*ird ns", "abc", b"2", None)
    client = redis.Redis.from_url(redis_url)
    assert client.exists(f"{key_prefix}:tenant-a:abc")
    token = namespace_token("we*ird ns")
    assert token.startswith("~") and "*" not in token
    assert client.exists(f"{key_prefix}:{token}:abc")
    assert redis_store.clear("we*ird ns") == 1
    assert redis_store.get("tenant-a", "abc") == b"1"


def test_redis_down_raises_store_error_then_recovers(redis_process: Any) -> None:
    """A dead Redis raises ExactStoreError within the timeout; the store recovers by itself."""
    store = RedisExactStore(redis_process.url, key_prefix="t", timeout_s=0.2, retry_after_s=0.1)
    store.set("ns", "k", b"1", None)
    redis_process.stop()
    with pytest.raises(ExactStoreError):
        store.get("ns", "k")
    with pytest.raises(ExactStoreError, match="skipped"):
        store.get("ns", "k")  # breaker open: no second timeout
    redis_process.start()
    time.sleep(0.15)
    assert store.get("ns", "k") is None  # a fresh server; the point is that it answers
    store.set("ns", "k", b"2", None)
    assert store.get("ns", "k") == b"2"
    assert store.failures >= 1
    store.close()


def test_invalid_redis_url() -> None:
    from semcached.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="redis://"):
        RedisExactStore("http://not-redis")
