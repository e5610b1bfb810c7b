"""Single-flight: concurrent callers of one key share one provider call, or one stream.

One table per cache serves threads and coroutines alike, so sync and async callers of the same
cache coalesce. The first caller of a key leads; callers arriving while it runs follow:

* a **call** flight ends with the leader's result or exception, which every follower gets
  (failures are never remembered: the flight is gone once it ends);
* a **stream** flight is a growing list of events: a follower replays what came so far and then
  receives the rest live, ending as the leader's stream ends (or with its exception).

A leader that goes away before its call ends (an async task cancelled because its client
disconnected) *abandons* the flight: a waiting follower then takes the lead and calls again,
instead of failing because another caller left.

Example::

    flights = Flights()
    answer, shared = lead_or_follow(flights, key, lambda: provider(request))
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from typing import Any, TypeVar

__all__ = ["Flight", "FlightAbandonedError", "Flights", "alead_or_follow", "lead_or_follow"]

T = TypeVar("T")


class FlightAbandonedError(Exception):
    """The leading caller went away before its stream ended (followers cannot restart one)."""


class Flight:
    """One in-flight call or stream, shared by everyone who asked for its key."""

    __slots__ = (
        "_cond",
        "_waiters",
        "abandoned",
        "done",
        "error",
        "events",
        "followers",
        "key",
        "result",
    )

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self._cond = threading.Condition(threading.Lock())
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self.events: list[Any] = []
        self.done = False
        self.abandoned = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.followers = 0  # callers that joined it after the leader

    # -- the leader -----------------------------------------------------------------------------

    def push(self, event: Any) -> None:
        """Add one event of a stream (followers see it at once)."""
        with self._cond:
            self.events.append(event)
            self._wake()

    def finish(self, result: Any = None) -> None:
        with self._cond:
            self.result, self.done = result, True
            self._wake()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            self.error, self.done = error, True
            self._wake()

    def abandon(self) -> None:
        with self._cond:
            self.abandoned = self.done = True
            self._wake()

    def _wake(self) -> None:  # with the lock held
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    # -- followers ------------------------------------------------------------------------------

    def wait(self) -> None:
        """Block until the flight ends."""
        with self._cond:
            while not self.done:
                self._cond.wait()

    async def await_change(self, seen: int = 0) -> None:
        """Return once more than ``seen`` events exist or the flight has ended."""
        with self._cond:
            if self.done or len(self.events) > seen:
                return
            event = asyncio.Event()
            self._waiters.append((asyncio.get_running_loop(), event))
        await event.wait()

    async def await_done(self) -> None:
        while not self.done:
            await self.await_change(len(self.events))

    def outcome(self) -> Any:
        """The result, or the leader's exception raised (after the flight ended)."""
        if self.error is not None:
            raise self.error
        return self.result

    def iter_events(self) -> Iterator[Any]:
        """Every event from the first, live, blocking between them (threads)."""
        seen = 0
        while True:
            with self._cond:
                while seen >= len(self.events) and not self.done:
                    self._cond.wait()
                batch = self.events[seen:]
                ended = self.done
            seen += len(batch)
            yield from batch
            if ended and seen >= len(self.events):
                self._end_of_stream()
                return

    async def aiter_events(self) -> AsyncIterator[Any]:
        """Every event from the first, live (coroutines)."""
        seen = 0
        while True:
            await self.await_change(seen)
            with self._cond:
                batch = self.events[seen:]
                ended = self.done
            seen += len(batch)
            for event in batch:
                yield event
            if ended and seen >= len(self.events):
                self._end_of_stream()
                return

    def _end_of_stream(self) -> None:
        if self.error is not None:
            raise self.error
        if self.abandoned:
            raise FlightAbandonedError("the stream's leading request went away before it ended")


class Flights:
    """The table of flights of one cache, keyed by anything hashable."""

    def __init__(self) -> None:
        self._table: dict[Hashable, Flight] = {}
        self._lock = threading.Lock()

    def join(self, key: Hashable) -> tuple[Flight, bool]:
        """The flight of ``key`` and whether the caller leads it (it did not exist)."""
        with self._lock:
            flight = self._table.get(key)
            if flight is not None and not flight.done:
                flight.followers += 1
                return flight, False
            flight = self._table[key] = Flight(key)
            return flight, True

    def release(self, flight: Flight) -> None:
        """Forget an ended flight (later callers start a new one)."""
        with self._lock:
            if self._table.get(flight.key) is flight:
                del self._table[flight.key]

    def get(self, key: Hashable) -> Flight | None:
        """The flight of ``key`` in progress, if any (to observe it, e.g. in tests)."""
        with self._lock:
            return self._table.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._table)


def lead_or_follow(flights: Flights, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
    """Run ``fn`` once for every concurrent caller of ``key`` (threads); ``(result, shared)``."""
    while True:
        flight, leader = flights.join(key)
        if leader:
            try:
                result = fn()
            except BaseException as exc:
                flight.fail(exc)
                raise
            else:
                flight.finish(result)
                return result, False
            finally:
                flights.release(flight)
        flight.wait()
        if not flight.abandoned:
            value: T = flight.outcome()
            return value, True


async def alead_or_follow(
    flights: Flights, key: Hashable, fn: Callable[[], Awaitable[T]]
) -> tuple[T, bool]:
    """The coroutine twin of :func:`lead_or_follow`; a cancelled leader abandons the flight
    (a follower then leads) instead of cancelling its followers."""
    while True:
        flight, leader = flights.join(key)
        if leader:
            try:
                result = await fn()
            except asyncio.CancelledError:
                flight.abandon()
                raise
            except BaseException as exc:
                flight.fail(exc)
                raise
            else:
                flight.finish(result)
                return result, False
            finally:
                flights.release(flight)
        await flight.await_done()
        if not flight.abandoned:
            value: T = flight.outcome()
            return value, True
