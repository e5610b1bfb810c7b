"""SIGKILL a process in the middle of knowledge updates on embedded ChromaDB, round after
round: what was acknowledged stays, no incomplete version is ever served, and the next
process repairs what the dead one left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semcached.index.knowledge import ChromaKnowledgeStore, KnowledgeBase
from semcached.index.knowledge.base import Item
from semcached.index.knowledge.store import chunk_ids
from tests.helpers import FakeEmbedder

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 12
BATCH = 3
ROUNDS = 5

CHILD = f"""
import sys, time
from semcached.index.knowledge import ChromaKnowledgeStore, KnowledgeBase
from semcached.index.knowledge.base import Item
from tests.helpers import FakeEmbedder
from tests.integration.test_knowledge_crash import text_of


class Slow(FakeEmbedder):
    def embed(self, texts):
        time.sleep(0.02 * len(texts))  # widen the window between the steps of a write
        return super().embed(texts)


chroma, lexical, round_ = sys.argv[1], sys.argv[2], int(sys.argv[3])
kb = KnowledgeBase(embedder=Slow(), store=ChromaKnowledgeStore(path=chroma),
                   lexical_dir=lexical, batch_size={BATCH}, refresh_s=0)
items = [Item("i" + str(n), text_of(n, round_)) for n in range({ITEMS})]
print("ready", flush=True)
for start in range(0, len(items), {BATCH}):
    batch = items[start:start + {BATCH}]
    kb.upsert(batch, collection="c")
    print("ack", " ".join(item.id for item in batch), flush=True)
print("done", flush=True)
"""


def text_of(n: int, round_: int) -> str:
    """Item n's text in a round: several chunks, each naming the round."""
    return "\n\n".join(
        f"Round {round_} part {p} of note {n}. " + "Lanterns light the harbour wall. " * 40
        for p in range(3)
    )


def open_kb(tmp_path: Path) -> KnowledgeBase:
    """The knowledge base as the next process would open it. Embedded ChromaDB keeps each
    collection's HNSW graph in process memory and never reloads what another process wrote
    (its queries would return only the dead writer's deleted chunks), so ChromaDB's per-path
    system cache is cleared first, as a new process starts without one."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    return KnowledgeBase(
        embedder=FakeEmbedder(),
        store=ChromaKnowledgeStore(path=tmp_path / "chroma"),
        lexical_dir=tmp_path / "lexical",
        refresh_s=0,
        recovery_grace_s=0,
    )


def run_and_kill(tmp_path: Path, round_: int, rng: random.Random) -> set[str]:
    """Start a writer of round ``round_``, SIGKILL it at a random point; the acked ids."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANONYMIZED_TELEMETRY": "False"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(tmp_path / "chroma"),
            str(tmp_path / "lexical"),
            str(round_),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert child.stdout is not None
    acked: set[str] = set()
    wanted_acks = rng.randrange(ITEMS // BATCH)
    try:
        assert child.stdout.readline().strip() == "ready"
        while len(acked) < wanted_acks * BATCH:
            line = child.stdout.readline().split()
            assert line and line[0] == "ack", line
            acked.update(line[1:])
        time.sleep(rng.uniform(0.0, 0.25))  # somewhere inside the next batch
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    # Lines written before the kill may still be in the pipe: they were acknowledged too.
    for line in child.stdout.read().splitlines():
        parts = line.split()
        if parts and parts[0] == "ack":
            acked.update(parts[1:])
    return acked


def check_served_versions(kb: KnowledgeBase, acknowledged: dict[str, int]) -> None:
    """Every item is there at a round no older than its last acknowledged one, and every
    chunk a search shows belongs to the item's stored (committed) version."""
    stored = {}
    for n in range(ITEMS):
        item = kb.get(f"i{n}", collection="c")
        assert item is not None, f"i{n} lost"
        round_ = int(item.text.split()[1])
        assert round_ >= acknowledged[f"i{n}"], (f"i{n}", round_, acknowledged[f"i{n}"])
        assert item.text == text_of(n, round_)
        stored[item.id] = item.text
    for mode in ("dense", "lexical", "hybrid"):
        result = kb.search(
            "round part note lanterns harbour",
            k=ITEMS,
            mode=mode,
            collection="c",
            chunks_per_item=3,
        )  # type: ignore[arg-type]
        assert sorted(result.ids) == sorted(stored), mode
        for hit in result.hits:
            for chunk in hit.chunks:
                assert stored[hit.id][chunk.start : chunk.end] == chunk.text, (mode, hit.id)


def test_sigkill_mid_update_keeps_the_acknowledged_version(tmp_path: Path) -> None:
    """Five rounds: each a writer process updating every item in batches, killed at a random
    point (after 0-3 acknowledged batches, inside the next one)."""
    rng = random.Random(20261201)
    first = open_kb(tmp_path)
    first.upsert([Item(f"i{n}", text_of(n, 0)) for n in range(ITEMS)], collection="c")
    acknowledged = {f"i{n}": 0 for n in range(ITEMS)}
    interrupted = 0
    for round_ in range(1, ROUNDS + 1):
        acked = run_and_kill(tmp_path, round_, rng)
        for item_id in acked:
            acknowledged[item_id] = round_
        kb = open_kb(tmp_path)
        handle = kb.collection("c")
        interrupted += len(handle.dirty_records())
        check_served_versions(kb, acknowledged)  # before any repair
        kb.recover("c")
        assert handle.dirty_records() == []
        records = handle.records([f"i{n}" for n in range(ITEMS)])
        expected = {c for r in records.values() for c in chunk_ids(r.id, r.version, r.chunks)}
        assert set(handle.all_chunk_ids()) == expected  # nothing half-written is left
        check_served_versions(kb, acknowledged)
    assert interrupted > 0  # the kills did land inside writes
