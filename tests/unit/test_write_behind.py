"""Vector writes off the caller's path: queued entries are searched, maintenance waits for
them, a full queue and a failing index fail open, and the journal survives a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from semcached.engine.entries import CacheEntry, SemanticStore
from semcached.engine.stats import CacheStats
from semcached.engine.write_behind import RECORD_VERSION, PendingWrite, WriteBehind
from semcached.errors import BackendError
from semcached.index.vector.journal import WriteJournal
from semcached.index.vector.memory import MemoryVectorBackend

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_000.0


def entry(i: int, scope: str = "s", expired: bool = False, namespace: str = "ns") -> CacheEntry:
    return CacheEntry(
        id=f"e{i}", namespace=namespace, scope_key=scope, model="m", text=f"text {i}",
        response_json=f'{{"answer": {i}}}', created_at=float(i),
        expires_at=NOW - 1 if expired else None,
    )  # fmt: skip


def unit_vectors(n: int, seed: int = 0) -> NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Gate:
    """A write function that waits until opened (an index that is slow or hung)."""

    def __init__(self, store: SemanticStore) -> None:
        self.store = store
        self.open = threading.Event()
        self.calls = 0

    def __call__(self, entries: list[CacheEntry], vectors: NDArray[np.float32]) -> int:
        self.calls += 1
        self.open.wait(30)
        return self.store.put_now(entries, vectors)


def gated_store(tmp_path: Path | None = None, **kwargs: int) -> tuple[SemanticStore, Gate]:
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    gate = Gate(store)
    store.write_behind(WriteBehind(gate, journal_dir=tmp_path, stats=CacheStats(), **kwargs))
    return store, gate


def index_ids(store: SemanticStore, namespace: str = "ns") -> set[str]:
    return {r.id for r in store.index(namespace).get()}


def test_a_queued_entry_is_found_before_it_lands(tmp_path: Path) -> None:
    store, gate = gated_store(tmp_path)
    vectors = unit_vectors(2)
    store.put(entry(0), vectors[0])
    found = store.search("ns", "s", vectors[0], k=1)
    assert [c.id for c in found] == ["e0"] and found[0].similarity == pytest.approx(1.0)
    assert found[0].raw_response == '{"answer": 0}'
    assert index_ids(store) == set()  # not in the index yet: the writer is held at the gate
    gate.open.set()
    store.settle()
    assert index_ids(store) == {"e0"}
    assert isinstance(store.behind, WriteBehind) and store.behind.pending("ns") == []
    store.close()


@settings(max_examples=50, deadline=None)
@given(
    spec=st.lists(
        st.tuples(st.integers(0, 2), st.booleans(), st.booleans()), min_size=0, max_size=30
    ),
    k=st.integers(1, 5),
    seed=st.integers(0, 500),
)
def test_search_with_queued_entries_equals_search_after_they_land(
    spec: list[tuple[int, bool, bool]], k: int, seed: int
) -> None:
    """Entries (scope, expired, queued?): the k nearest are the same whether part of them
    still waits in the queue or all are in the index."""
    vectors = unit_vectors(len(spec) + 1, seed)
    query = vectors[-1]
    store, gate = gated_store()
    reference = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    for i, (scope, expired, queued) in enumerate(spec):
        e = entry(i, f"s{scope}", expired)
        reference.put(e, vectors[i])
        if queued:
            store.put(e, vectors[i])
        else:
            store.put_now([e], vectors[i].reshape(1, -1))
    got = store.search("ns", "s0", query, k)
    want = reference.search("ns", "s0", query, k)
    assert [c.id for c in got] == [c.id for c in want]
    assert [c.similarity for c in got] == pytest.approx([c.similarity for c in want], abs=1e-5)
    gate.open.set()
    store.close()


def test_delete_waits_for_queued_writes_so_none_comes_back() -> None:
    store, gate = gated_store()
    store.put(entry(0), unit_vectors(1)[0])
    threading.Timer(0.05, gate.open.set).start()
    store.delete("ns", ["e0"])  # waits for the queued write, then deletes it
    assert index_ids(store) == set()
    assert store.search("ns", "s", unit_vectors(1)[0], k=1) == []
    store.close()


def test_a_full_queue_refuses_the_store_and_counts_it() -> None:
    store, gate = gated_store(max_pending=2)
    vectors = unit_vectors(3)
    store.put(entry(0), vectors[0])
    store.put(entry(1), vectors[1])
    with pytest.raises(BackendError, match="2 vector writes are queued"):
        store.put(entry(2), vectors[2])
    assert isinstance(store.behind, WriteBehind)
    assert store.behind._stats.counters()["write_behind.dropped"] == 1
    gate.open.set()
    store.close()
    assert index_ids(store) == {"e0", "e1"}


def test_a_failing_index_is_retried_and_the_entry_stays_searchable() -> None:
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    failures = [RuntimeError("index down"), RuntimeError("index down")]

    def flaky(entries: list[CacheEntry], vectors: NDArray[np.float32]) -> int:
        if failures:
            raise failures.pop()
        return store.put_now(entries, vectors)

    stats = CacheStats()
    store.write_behind(WriteBehind(flaky, journal_dir=None, stats=stats))
    vector = unit_vectors(1)[0]
    store.put(entry(0), vector)
    assert [c.id for c in store.search("ns", "s", vector, k=1)] == ["e0"]
    store.settle()
    assert index_ids(store) == {"e0"}
    assert stats.counters()["write_behind.retries"] == 2
    store.close()


def test_flush_gives_up_with_a_clear_error_while_the_index_is_down() -> None:
    store, gate = gated_store()
    store.put(entry(0), unit_vectors(1)[0])
    assert store.behind is not None
    with pytest.raises(BackendError, match=r"1 queued writes not in the index after 0\.1s"):
        store.behind.flush(timeout_s=0.1)
    gate.open.set()
    store.close()


def test_the_same_id_twice_in_a_batch_keeps_the_later_write() -> None:
    store, gate = gated_store()
    vectors = unit_vectors(2)
    first = entry(0)
    second = CacheEntry(
        id="e0", namespace="ns", scope_key="s", model="m", text="newer",
        response_json='{"answer": "newer"}', created_at=2.0, expires_at=None,
    )  # fmt: skip
    store.put(first, vectors[0])
    store.put(second, vectors[1])
    gate.open.set()
    store.settle()
    records = store.index("ns").get()
    assert [r.document for r in records] == ["newer"]
    store.close()


def test_records_round_trip_through_the_journal_format() -> None:
    write = PendingWrite(entry(3, expired=True), unit_vectors(1)[0])
    record = write.record("minilm")
    assert record["v"] == RECORD_VERSION and record["embedder"] == "minilm"
    back = PendingWrite.from_record(record)
    assert back.entry == write.entry
    assert np.array_equal(back.vector, write.vector)


def test_segments_are_discarded_once_written_and_the_directory_on_close(tmp_path: Path) -> None:
    store, gate = gated_store(tmp_path)
    store.put(entry(0), unit_vectors(1)[0])
    assert isinstance(store.behind, WriteBehind) and store.behind.journal is not None
    directory = store.behind.journal.path
    assert [p.name for p in directory.glob("*.jsonl")] == ["000000000000.jsonl"]
    gate.open.set()
    store.settle()
    assert list(directory.glob("*.jsonl")) == []  # discarded before the write is counted
    store.close()
    assert not directory.exists()


def journaled_ids(directory: Path) -> list[str]:
    return [
        str(orjson.loads(line)["id"])
        for segment in sorted(directory.glob("*.jsonl"))
        for line in segment.read_bytes().splitlines()
        if line
    ]


def test_partial_batches_keep_exactly_the_unwritten_records_on_disk(tmp_path: Path) -> None:
    """Batches smaller than the queue: after each written batch the segments on disk still
    hold every write not yet in the index; once all are written, nothing is left (so a delete,
    which waits for the queue, is never undone by a replay)."""
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    allowed = threading.Semaphore(0)

    def write(entries: list[CacheEntry], vectors: NDArray[np.float32]) -> int:
        allowed.acquire()
        return store.put_now(entries, vectors)

    behind = WriteBehind(write, journal_dir=tmp_path, stats=CacheStats(), max_batch=3)
    store.write_behind(behind)
    vectors = unit_vectors(10)
    for i in range(10):
        store.put(entry(i), vectors[i])
    assert behind.journal is not None
    directory = behind.journal.path
    assert sorted(journaled_ids(directory)) == sorted(f"e{i}" for i in range(10))
    for _ in range(3):
        before = len(index_ids(store))
        allowed.release()  # one more batch (the first may hold only e0: taken at once)
        deadline = time.monotonic() + 10
        while len(index_ids(store)) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(index_ids(store)) > before
        unwritten = {f"e{i}" for i in range(10)} - index_ids(store)
        assert unwritten <= set(journaled_ids(directory))
    for _ in range(2):
        allowed.release()
    store.settle()
    assert journaled_ids(directory) == []
    store.close()


def test_only_journal_directories_are_adopted_and_a_torn_line_is_skipped(tmp_path: Path) -> None:
    live = WriteJournal(tmp_path)
    live.append([PendingWrite(entry(1), unit_vectors(1)[0]).record("m")])
    (tmp_path / "chroma").mkdir()  # the journal root may hold other things: never touched
    (tmp_path / "chroma" / "chroma.sqlite3").write_text("data")
    dead = tmp_path / ("d" * 32)
    dead.mkdir()
    (dead / "lock").touch()
    record = PendingWrite(entry(2), unit_vectors(1)[0]).record("m")
    (dead / "000000000000.jsonl").write_bytes(orjson.dumps(record) + b"\n" + b'{"id": "e3", "na')
    other = WriteJournal(tmp_path)
    orphans = other.orphans()
    assert [o.path.name for o in orphans] == ["d" * 32]
    assert [r["id"] for r in orphans[0].records()] == ["e2"]
    for orphan in orphans:
        orphan.delete()
    live.close(keep=False)
    other.close(keep=False)
    assert (tmp_path / "chroma" / "chroma.sqlite3").read_text() == "data"


def test_another_embedding_models_records_are_left_for_it(tmp_path: Path) -> None:
    dead = tmp_path / ("a" * 32)
    dead.mkdir()
    (dead / "lock").touch()
    other_model = PendingWrite(entry(1), unit_vectors(1, seed=1)[0]).record("other-model")
    mine = PendingWrite(entry(2), unit_vectors(1, seed=2)[0]).record("m")
    (dead / "000000000000.jsonl").write_bytes(orjson.dumps(other_model) + b"\n")
    (dead / "000000000001.jsonl").write_bytes(orjson.dumps(mine) + b"\n")
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    store.write_behind(
        WriteBehind(store.put_now, journal_dir=tmp_path, stats=CacheStats(), model_id="m")
    )
    store.settle()
    assert index_ids(store) == {"e2"}  # never the other model's vector in this index
    assert (dead / "000000000000.jsonl").exists()  # still there for a process of that model
    store.close()


def test_a_queued_rewrite_replaces_the_index_copy_whatever_its_scope_or_expiry() -> None:
    store, gate = gated_store()
    vectors = unit_vectors(3)
    store.put_now([entry(0)], vectors[0].reshape(1, -1))  # in the index: near the query
    store.put_now([entry(1)], vectors[1].reshape(1, -1))
    store.put(entry(0, expired=True), vectors[0])  # its newer version has expired
    found = store.search("ns", "s", vectors[0], k=2)
    assert [c.id for c in found] == ["e1"]  # the index's older e0 is not served
    store.put(entry(1, scope="other"), vectors[1])  # a rewrite into another scope
    assert store.search("ns", "s", vectors[0], k=2) == []
    gate.open.set()
    store.close()


def test_closing_refuses_new_writes_and_keeps_what_it_could_not_write(tmp_path: Path) -> None:
    store, gate = gated_store(tmp_path)
    store.put(entry(0), unit_vectors(1)[0])
    assert isinstance(store.behind, WriteBehind) and store.behind.journal is not None
    directory = store.behind.journal.path
    store.behind.close(timeout_s=0.2)  # the index never answers: the write stays journaled
    with pytest.raises(BackendError, match="closing"):
        store.put(entry(1), unit_vectors(1)[0])
    assert journaled_ids(directory) == ["e0"]
    gate.open.set()


def test_retries_back_off_whatever_else_is_submitted() -> None:
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    down = threading.Event()
    down.set()

    def failing(entries: list[CacheEntry], vectors: NDArray[np.float32]) -> int:
        if down.is_set():
            raise RuntimeError("index down")
        return store.put_now(entries, vectors)

    stats = CacheStats()
    store.write_behind(WriteBehind(failing, journal_dir=None, stats=stats))
    vectors = unit_vectors(200)
    for i in range(200):  # each submission notifies the writer: it must not retry for each
        store.put(entry(i), vectors[i])
    retries = stats.counters().get("write_behind.retries", 0)
    assert retries < 50, f"{retries} retries for 200 submissions"
    down.clear()
    store.settle()
    assert len(index_ids(store)) == 200
    store.close()


CHILD = """
import sys, threading
from pathlib import Path
from semcached.engine.entries import SemanticStore
from semcached.engine.stats import CacheStats
from semcached.engine.write_behind import WriteBehind
from semcached.index.vector.memory import MemoryVectorBackend
from tests.unit.test_write_behind import entry, unit_vectors

store = SemanticStore(MemoryVectorBackend(), model_id="m")
hung = threading.Event()
store.write_behind(WriteBehind(lambda e, v: hung.wait(), journal_dir=Path(sys.argv[1]),
                               stats=CacheStats()))
vectors = unit_vectors(400)
for i in range(400):
    store.put(entry(i), vectors[i])
    print(f"e{i}", flush=True)  # acknowledged
hung.wait()
"""


def test_acknowledged_writes_survive_sigkill_and_are_replayed(tmp_path: Path) -> None:
    """A process whose index hangs acknowledges writes and is killed mid-burst; the next
    process on the same journal root writes every acknowledged one."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert child.stdout is not None
    acknowledged = []
    for line in child.stdout:
        acknowledged.append(line.decode().strip())
        if len(acknowledged) == 150:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    acknowledged += [line.decode().strip() for line in child.stdout]  # printed before death

    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    stats = CacheStats()
    store.write_behind(WriteBehind(store.put_now, journal_dir=tmp_path, stats=stats))
    store.settle()
    ids = index_ids(store)
    assert set(acknowledged) <= ids
    assert stats.counters()["write_behind.replayed"] >= len(acknowledged)
    store.close()
    assert list(tmp_path.iterdir()) == []  # the orphan adopted, ours removed on close


def test_a_batch_forms_within_the_delay_and_flush_does_not_wait_for_it() -> None:
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    batches: list[int] = []

    def write(entries: list[CacheEntry], vectors: NDArray[np.float32]) -> int:
        batches.append(len(entries))
        return store.put_now(entries, vectors)

    store.write_behind(
        WriteBehind(write, journal_dir=None, stats=CacheStats(), max_delay_s=3600.0, max_batch=4)
    )
    vectors = unit_vectors(6)
    for i in range(6):
        store.put(entry(i), vectors[i])
    assert isinstance(store.behind, WriteBehind)
    store.behind.flush(timeout_s=30)  # raises if it sat out the hour-long delay
    assert batches == [4, 2]  # a full batch went at once, the rest when flushed
    store.close()
