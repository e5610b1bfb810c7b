"""Streams in the cache: how a provider's stream is recorded, stored and replayed.

A stream's events (any JSON values: the ``data`` of server-sent events, SDK chunks as dicts)
are recorded as the provider sends them. Only a stream that ends normally is stored, as an
ordinary response::

    {"object": "semcached.stream", "events": [event, event, ...]}

and replayed event for event on a hit. A stored answer that is not a recording (a completion
stored by a non-streamed call) is turned into events by the caller's ``replay`` function, so
one entry can serve both kinds of call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from semcached.engine.flights import Flight
from semcached.engine.results import LookupResult, Source

__all__ = [
    "STREAM_OBJECT",
    "AsyncStreamResult",
    "Replay",
    "StreamResult",
    "aiterate",
    "is_recorded_stream",
    "iterate",
    "recorded_stream",
    "replayed_events",
]

STREAM_OBJECT = "semcached.stream"
Replay = Callable[[Any], Iterable[Any]]


def recorded_stream(events: Iterable[Any]) -> dict[str, Any]:
    """The stored form of a complete stream."""
    return {"object": STREAM_OBJECT, "events": list(events)}


def is_recorded_stream(response: Any) -> bool:
    return (
        isinstance(response, dict)
        and response.get("object") == STREAM_OBJECT
        and isinstance(response.get("events"), list)
    )


def replayed_events(response: Any, replay: Replay | None = None) -> list[Any]:
    """The events a hit sends: a recording's own, else ``replay(response)``, else the answer as
    one event."""
    if is_recorded_stream(response):
        return list(response["events"])
    if replay is not None:
        return list(replay(response))
    return [response]


@dataclass(frozen=True, slots=True)
class StreamResult:
    """The answer of :meth:`SemanticCache.get_or_stream`: where it comes from and its events.

    Iterate ``events`` to receive the stream: a hit replays the stored one, a miss relays the
    provider's as it arrives (``provider``), and a concurrent twin of a streamed miss receives
    the same events, from the first (``coalesced``). A provider failure is raised from the
    iteration, after the events that came before it.
    """

    source: Source
    lookup: LookupResult
    events: Iterator[Any]
    flight: Flight | None = None

    @property
    def cached(self) -> bool:
        return self.source in ("exact", "semantic")

    @property
    def stored(self) -> bool:
        """Whether the stream was stored (known once it has ended; the leader's flight only)."""
        return self.source == "provider" and self.flight is not None and self.flight.result is True


@dataclass(frozen=True, slots=True)
class AsyncStreamResult:
    """The answer of :meth:`AsyncSemanticCache.get_or_stream` (``async for`` its events)."""

    source: Source
    lookup: LookupResult
    events: AsyncIterator[Any]
    flight: Flight | None = None

    @property
    def cached(self) -> bool:
        return self.source in ("exact", "semantic")

    @property
    def stored(self) -> bool:
        return self.source == "provider" and self.flight is not None and self.flight.result is True


def iterate(values: Iterable[Any]) -> Iterator[Any]:
    yield from values


async def aiterate(values: Iterable[Any]) -> AsyncIterator[Any]:
    for value in values:
        yield value
