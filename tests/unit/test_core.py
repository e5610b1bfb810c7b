"""The lookup core's states: every transition is a pure function of the state and an outcome."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given

from semcached.engine.core import (
    Decide,
    Embed,
    Failure,
    Finished,
    Plan,
    ProbeExact,
    Search,
    begin,
    exact_payload,
    read_exact_payload,
    store_plan,
)
from semcached.errors import InvalidRequestError
from semcached.policy.decision import Candidate, Decision, HitKind, MissReason
from semcached.request import canonicalize
from tests.helpers import ask
from tests.strategies import json_values

VECTOR = np.ones(4, dtype=np.float32) / 2


def plan(question: str = "How do I reset my password?", **changes: Any) -> Plan:
    fields: dict[str, Any] = {
        "canon": canonicalize(ask(question), "ns"),
        "threshold": 0.9,
        "policy": "cache",
        "top_k": 4,
    }
    fields.update(changes)
    return Plan(**fields)


def test_begin_bypasses_or_probes_the_exact_layer() -> None:
    """A skipped or bypassed lookup finishes at once; otherwise the exact layer comes first."""
    assert isinstance(begin(plan()), ProbeExact)
    for skipped in (plan(skip_lookup=True), plan(policy="bypass")):
        state = begin(skipped)
        assert isinstance(state, Finished) and state.lookup.reason is MissReason.BYPASSED


def test_an_exact_payload_is_a_hit_and_anything_else_moves_on() -> None:
    """A readable payload is an exact hit; none, a failure or garbage goes on to embedding,
    naming the failed backend."""
    p = plan()
    payload = exact_payload(p.canon.exact_key, json.dumps({"answer": 42}), 12.5)
    hit = ProbeExact(p).next(payload)
    assert isinstance(hit, Finished) and hit.lookup.hit and hit.lookup.kind is HitKind.EXACT
    assert hit.lookup.response == {"answer": 42} and hit.lookup.created_at == 12.5
    assert ProbeExact(p).next(None) == Embed(p)
    assert ProbeExact(p).next(Failure("exact_store", "down")) == Embed(p, ("exact_store",))
    assert ProbeExact(p).next(b"not json") == Embed(p, ("exact_store",))


def test_exact_only_and_textless_requests_stop_after_the_exact_layer() -> None:
    only = ProbeExact(plan(policy="exact_only")).next(None)
    assert isinstance(only, Finished) and only.lookup.reason is MissReason.EXACT_ONLY
    empty = ProbeExact(plan("")).next(None)
    assert isinstance(empty, Finished) and empty.lookup.reason is MissReason.NO_TEXT


def test_a_failed_embedding_or_search_fails_open() -> None:
    """A failure is a miss that names the backend; the search keeps the vector for the store."""
    p = plan()
    failed = Embed(p).next(Failure("embedder", "boom"))
    assert isinstance(failed, Finished)
    assert failed.lookup.reason is MissReason.BACKEND_ERROR
    assert failed.lookup.failed_backends == ("embedder",)
    searched = Search(p, VECTOR).next(Failure("vector_index", "timeout"))
    assert isinstance(searched, Finished) and searched.vector is VECTOR
    assert isinstance(Embed(p).next(VECTOR), Search)


def test_the_same_request_in_the_vector_index_is_an_exact_hit_to_warm() -> None:
    p = plan()
    same = Candidate(
        p.canon.exact_key, 1.0, p.canon.text, raw_response='{"a":1}', metadata={"created_at": 5}
    )
    state = Search(p, VECTOR).next([same])
    assert isinstance(state, Finished) and state.warm is same
    assert state.lookup.kind is HitKind.EXACT and state.lookup.response == {"a": 1}


def test_decide_serves_only_what_the_decision_served() -> None:
    """A hit parses the served candidate's stored answer; a corrupt one is never served."""
    p = plan()
    good = Candidate("a" * 32, 0.95, "How can I reset my password?", raw_response='{"r":1}')
    state = Search(p, VECTOR).next([good])
    assert isinstance(state, Decide)
    hit = state.next(Decision(hit=True, threshold=0.9, kind=HitKind.SEMANTIC, candidate=good))
    assert isinstance(hit, Finished) and hit.lookup.response == {"r": 1}
    miss = state.next(
        Decision(hit=False, threshold=0.9, reason=MissReason.BELOW_THRESHOLD, candidate=good)
    )
    assert isinstance(miss, Finished) and not miss.lookup.hit
    assert miss.lookup.entry_id == good.id and miss.vector is VECTOR
    corrupt = Candidate("b" * 32, 0.99, "x", raw_response="{not json")
    served = Decide(p, VECTOR, (corrupt,)).next(
        Decision(hit=True, threshold=0.9, kind=HitKind.SEMANTIC, candidate=corrupt)
    )
    assert isinstance(served, Finished) and served.lookup.reason is MissReason.BACKEND_ERROR


def test_a_store_is_serialised_once_and_reuses_the_lookup_vector() -> None:
    """The exact payload carries the very JSON text the vector entry carries."""
    p = plan()
    write = store_plan(p.canon, "cache", {"answer": "é"}, ttl_s=60, now=100.0, vector=VECTOR)
    assert write.entry is not None and write.vector is VECTOR and not write.needs_vector
    assert write.entry.expires_at == 160.0
    assert write.entry.response_json.encode() in write.payload
    assert read_exact_payload(write.payload) == {
        "id": p.canon.exact_key,
        "created_at": 100.0,
        "response": {"answer": "é"},
    }
    assert store_plan(p.canon, "cache", {}, ttl_s=None, now=1.0).needs_vector
    exact_only = store_plan(p.canon, "exact_only", {}, ttl_s=None, now=1.0)
    assert exact_only.entry is None and not exact_only.needs_vector


@pytest.mark.parametrize("bad", [{"nan": float("nan")}, {"s": {1, 2}}, {"x": "\ud800"}])
def test_a_response_that_cannot_read_back_the_same_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidRequestError) as info:
        store_plan(plan().canon, "cache", bad, ttl_s=None, now=1.0)
    assert info.value.field == "response"


@given(value=json_values)
def test_exact_payloads_round_trip(value: Any) -> None:
    """Whatever JSON is stored comes back equal from the exact layer's payload."""
    payload = exact_payload("k" * 32, json.dumps(value, ensure_ascii=False), 1.0)
    read = read_exact_payload(payload)
    assert read is not None and read["response"] == value
