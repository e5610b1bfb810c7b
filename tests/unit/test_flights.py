"""Single-flight: one call or one stream per key, shared by threads and coroutines alike."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from semcached.engine.flights import (
    FlightAbandonedError,
    Flights,
    alead_or_follow,
    lead_or_follow,
)


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def test_concurrent_threads_share_one_call() -> None:
    """Callers arriving while the leader runs get its result; only the leader ran the call."""
    flights, calls = Flights(), []
    release = threading.Event()

    def call() -> str:
        calls.append(1)
        assert release.wait(10)
        return "answer"

    results: list[tuple[str, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(lead_or_follow(flights, "k", call)))
        for _ in range(5)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: (f := flights.get("k")) is not None and f.followers == 4)
    release.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert sorted(shared for _, shared in results) == [False, True, True, True, True]
    assert {answer for answer, _ in results} == {"answer"}
    assert len(flights) == 0


def test_an_error_reaches_every_waiter_and_is_forgotten() -> None:
    flights = Flights()
    started, release = threading.Event(), threading.Event()

    def failing() -> None:
        started.set()
        assert release.wait(10)
        raise RuntimeError("provider down")

    errors: list[BaseException] = []

    def follower() -> None:
        try:
            lead_or_follow(flights, "k", lambda: None)
        except RuntimeError as exc:
            errors.append(exc)

    leader_error: list[BaseException] = []

    def lead() -> None:
        try:
            lead_or_follow(flights, "k", failing)
        except RuntimeError as exc:
            leader_error.append(exc)

    leader = threading.Thread(target=lead)
    leader.start()
    assert started.wait(10)
    followers = [threading.Thread(target=follower) for _ in range(3)]
    for t in followers:
        t.start()
    wait_until(lambda: (f := flights.get("k")) is not None and f.followers == 3)
    release.set()
    for t in [leader, *followers]:
        t.join(10)
    assert len(leader_error) == 1 and len(errors) == 3
    assert lead_or_follow(flights, "k", lambda: "fresh") == ("fresh", False)


def test_sync_and_async_callers_of_one_table_coalesce() -> None:
    """A thread leads; coroutines on an event loop follow it and get its answer."""
    flights, calls = Flights(), []
    started, release = threading.Event(), threading.Event()

    def call() -> str:
        calls.append(1)
        started.set()
        assert release.wait(10)
        return "from the thread"

    leader = threading.Thread(target=lambda: lead_or_follow(flights, "k", call))
    leader.start()
    assert started.wait(10)

    async def follow() -> list[tuple[str, bool]]:
        async def never() -> str:
            raise AssertionError("a follower must not call")

        tasks = [asyncio.create_task(alead_or_follow(flights, "k", never)) for _ in range(3)]
        while (flight := flights.get("k")) is None or flight.followers < 3:
            await asyncio.sleep(0.005)
        release.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(follow()) == [("from the thread", True)] * 3
    leader.join(10)
    assert len(calls) == 1


def test_a_cancelled_async_leader_hands_the_call_to_a_follower() -> None:
    """A leader cancelled (its client went away) does not fail its followers: one of them
    calls again."""

    async def scenario() -> tuple[Any, int]:
        flights, calls = Flights(), []
        gate = asyncio.Event()

        async def slow() -> str:
            calls.append(1)
            await gate.wait()
            return f"answer {len(calls)}"

        leader = asyncio.create_task(alead_or_follow(flights, "k", slow))
        await asyncio.sleep(0.01)
        follower = asyncio.create_task(alead_or_follow(flights, "k", slow))
        await asyncio.sleep(0.01)
        leader.cancel()
        await asyncio.sleep(0.01)
        gate.set()
        return await follower, len(calls)

    (answer, shared), calls = asyncio.run(scenario())
    assert calls == 2 and answer == "answer 2" and shared is False


def test_stream_followers_get_every_event_live_or_replayed() -> None:
    """A follower joining mid-stream first receives what came so far, then the rest live, and
    sees the stream end as the leader's did."""
    flights = Flights()
    flight, leader = flights.join("s")
    assert leader
    flight.push("e1")
    late, leads = flights.join("s")
    assert late is flight and not leads
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.extend(flight.iter_events()))
    reader.start()
    flight.push("e2")
    flight.finish(True)
    reader.join(10)
    assert got == ["e1", "e2"]

    async def read_async() -> list[Any]:
        return [event async for event in flight.aiter_events()]

    assert asyncio.run(read_async()) == ["e1", "e2"]


def test_a_failed_stream_raises_after_its_events() -> None:
    flights = Flights()
    flight, _ = flights.join("s")
    flight.push("partial")
    flight.fail(RuntimeError("cut"))
    seen: list[Any] = []
    with pytest.raises(RuntimeError, match="cut"):
        seen.extend(flight.iter_events())
    assert seen == ["partial"]
    abandoned, _ = flights.join("t")
    abandoned.abandon()
    with pytest.raises(FlightAbandonedError):
        list(abandoned.iter_events())
