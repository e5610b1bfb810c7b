"""SIGKILL the service on embedded defaults mid-burst of cache stores and knowledge updates,
round after round: every answer it acknowledged as stored is served after the restart, every
acknowledged knowledge version is the one read and searched, and no chunk of a version it
never acknowledged is ever returned."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port
from tests.servicekit import chat

pytestmark = [pytest.mark.slow, pytest.mark.model]

ROUNDS = 3
ITEMS = 4


def note(item: int, version: int) -> str:
    """Item ``item``'s text at ``version``: several chunks, every sentence naming the version."""
    return "\n\n".join(
        f"Version {version} part {p} of note {item}. "
        + f"Kettle {version} whistles in the harbour. " * 40
        for p in range(3)
    )


@contextmanager
def service(data_dir: Path, log_name: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    semcached = Path(sys.executable).with_name("semcached")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEMCACHED_")},
        "SEMCACHED_CONFIG_FILE": "",
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        # Writes wait up to 1.5 s for a batch to form: the kill then always lands while
        # acknowledged entries are journaled but not yet in the index.
        "SEMCACHED_WRITE_BEHIND__MAX_DELAY_MS": "1500",
    }
    log = (data_dir.parent / log_name).open("wb")
    process = subprocess.Popen(
        [str(semcached), "serve", "--echo-upstream", "--port", str(port),
         "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (data_dir.parent / log_name).read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (data_dir.parent / log_name).read_text()
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()  # a clean stop writes what is queued and removes its journal
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait(timeout=30)


def burst(
    url: str, round_: int, stop: threading.Event
) -> tuple[list[str], dict[int, int], list[BaseException]]:
    """Cache stores from four threads and knowledge updates from one, until ``stop``;
    the prompts acknowledged as stored and the last acknowledged version of each item."""
    stored: list[str] = []
    versions: dict[int, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def store(worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(10_000):
                if stop.is_set():
                    return
                prompt = f"Round {round_} worker {worker}: how many {i} moons orbit planet {i}?"
                try:
                    r = client.post(f"{url}/v1/chat/completions", json=chat(prompt))
                except httpx.HTTPError:
                    return  # the service was killed mid-request: not acknowledged
                if r.status_code != 200:
                    errors.append(AssertionError(f"{r.status_code}: {r.text[:300]}"))
                    return
                if r.headers.get("x-semcached-stored") == "true":
                    with lock:
                        stored.append(prompt)

    def update() -> None:
        with httpx.Client(timeout=60) as client:
            for step in range(10_000):
                if stop.is_set():
                    return
                item, version = step % ITEMS, round_ * 1000 + step
                try:
                    r = client.put(
                        f"{url}/v1/knowledge/notes/items/note-{item}",
                        json={"text": note(item, version)},
                    )
                except httpx.HTTPError:
                    return
                if r.status_code != 200:
                    errors.append(AssertionError(f"{r.status_code}: {r.text[:300]}"))
                    return
                with lock:
                    versions[item] = version

    threads = [threading.Thread(target=store, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=update))
    for t in threads:
        t.start()
    return stored, versions, errors


def test_acknowledged_stores_and_versions_survive_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(7)
    acknowledged: list[str] = []
    versions: dict[int, int] = {}
    for round_ in range(ROUNDS):
        with service(data_dir, f"serve-{round_}.log") as (url, process):
            stop = threading.Event()
            stored, updated, errors = burst(url, round_, stop)
            time.sleep(rng.uniform(2.0, 3.5))
            process.send_signal(signal.SIGKILL)  # mid-burst: requests are in flight
            process.wait(timeout=30)
            stop.set()
            time.sleep(0.5)  # let the clients see the dead connections
            assert not errors, errors
            assert stored, "no store was acknowledged before the kill"
            acknowledged += stored
            versions.update(updated)

        with (
            service(data_dir, f"check-{round_}.log") as (url, _),
            httpx.Client(timeout=30) as client,
        ):
            for prompt in acknowledged:
                r = client.post(f"{url}/v1/chat/completions", json=chat(prompt))
                assert r.status_code == 200
                # its own entry (found by id), never a neighbour's: the prompts differ only
                # in their numbers, so a semantic hit could hide a lost entry
                assert r.headers["x-semcached-cache"] == "exact", (
                    f"an acknowledged store was lost: {prompt!r} -> "
                    f"{r.headers['x-semcached-cache']}"
                )
            for item, version in versions.items():
                r = client.get(f"{url}/v1/knowledge/notes/items/note-{item}")
                assert r.status_code == 200, r.text
                got = r.json()["text"]
                # The acknowledged version, or a later one whose write was under way.
                got_version = int(got.split()[1])
                assert got_version >= version and got == note(item, got_version)
                found = client.post(
                    f"{url}/v1/search",
                    json={"query": f"part 1 of note {item}", "collection": "notes", "k": 10},
                )
                assert found.status_code == 200, found.text
                for hit in found.json()["hits"]:
                    if hit["id"] != f"note-{item}":
                        continue
                    for chunk in hit["chunks"]:
                        named = set(re.findall(r"(?:Kettle|Version) (\d+)", chunk["text"]))
                        assert named == {str(got_version)}, (
                            f"a chunk of another version was served: {named} "
                            f"while the item reads version {got_version}"
                        )

    # Every check above ended with a clean stop, so nothing is journaled any more: what the
    # last process serves comes from ChromaDB itself, not from a replayed queue.
    assert list((data_dir / "journal").glob("*/*.jsonl")) == []
    with service(data_dir, "final.log") as (url, _), httpx.Client(timeout=30) as client:
        for prompt in acknowledged:
            r = client.post(f"{url}/v1/chat/completions", json=chat(prompt))
            assert r.headers["x-semcached-cache"] == "exact", prompt
