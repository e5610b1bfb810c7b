"""Server-sent events: parse an upstream stream and tell whether it is complete.

The engine records a stream's events (:mod:`semcached.engine.streams`): here they are the
``data`` payload of every event before ``data: [DONE]``, byte for byte, so a replay sends
exactly the chunks the upstream sent (same ids, same split of the text). A stream is only
stored when it ended with ``[DONE]`` and carried no error event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ANTHROPIC_STREAM",
    "DONE",
    "OPENAI_STREAM",
    "RESPONSES_STREAM",
    "SSEParser",
    "StreamDialect",
    "StreamRecording",
    "encode_event",
    "event_usage_tokens",
]

DONE = "[DONE]"


def encode_event(data: str) -> bytes:
    """One SSE event carrying ``data`` (multi-line data becomes several ``data:`` lines)."""
    return ("".join(f"data: {line}\n" for line in data.split("\n")) + "\n").encode()


class SSEParser:
    """Incremental SSE parser: feed lines, get the ``data`` of each completed event.

    Example::

        parser = SSEParser()
        parser.feed_line('data: {"a": 1}')   # -> []
        parser.feed_line("")                 # -> ['{"a": 1}']
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed_line(self, line: str) -> list[str]:
        line = line.rstrip("\r\n")
        if line == "":
            if not self._data:
                return []
            data, self._data = "\n".join(self._data), []
            return [data]
        if line.startswith(":"):  # a comment / keep-alive
            return []
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return []

    def flush(self) -> list[str]:
        """The pending event's data when a stream ends without its closing blank line."""
        return self.feed_line("")


@dataclass
class StreamRecording:
    """The events of one upstream stream, and whether it ended cleanly: with ``[DONE]``, or,
    for an API whose streams have no end marker, with one of its ``end_events`` (event
    ``type``s); a ``failure_events`` type marks the stream as failed."""

    events: list[str] = field(default_factory=list)
    done: bool = False
    error: str | None = None
    end_events: frozenset[str] = frozenset()
    failure_events: frozenset[str] = frozenset()

    def add(self, data: str) -> None:
        if data.strip() == DONE:
            self.done = True
            return
        self.events.append(data)
        if self.error is None:
            self.error = _error_of(data)
        if self.end_events or self.failure_events:
            kind = _type_of(data)
            if kind in self.end_events:
                self.done = True
            elif kind in self.failure_events and self.error is None:
                self.error = f"the upstream stream reported {kind}"

    @property
    def complete(self) -> bool:
        """Ended and carried no error event: safe to store."""
        return self.done and self.error is None and bool(self.events)


def _type_of(data: str) -> str | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


@dataclass(frozen=True, slots=True)
class StreamDialect:
    """How one API writes its server-sent events: OpenAI's ``data:`` lines ended by
    ``[DONE]``, or Anthropic's ``event: <type>`` before each ``data:`` and no end marker."""

    name: str
    named_events: bool = False
    done_marker: bool = True
    end_events: frozenset[str] = frozenset()  # without a done marker: the last event's type
    failure_events: frozenset[str] = frozenset()

    def recording(self) -> StreamRecording:
        """An empty recording that knows how this API's streams end."""
        return StreamRecording(end_events=self.end_events, failure_events=self.failure_events)

    def encode(self, data: str) -> bytes:
        if self.named_events:
            kind = _type_of(data) or "message"
            return f"event: {kind}\n".encode() + encode_event(data)
        return encode_event(data)

    def end(self) -> bytes:
        return encode_event(DONE) if self.done_marker else b""


OPENAI_STREAM = StreamDialect("openai")
ANTHROPIC_STREAM = StreamDialect(
    "anthropic", named_events=True, done_marker=False, end_events=frozenset({"message_stop"})
)
RESPONSES_STREAM = StreamDialect(
    "responses",
    named_events=True,
    done_marker=False,
    end_events=frozenset({"response.completed"}),
    failure_events=frozenset({"response.failed", "response.incomplete", "error"}),
)


def _error_of(data: str) -> str | None:
    try:
        value = json.loads(data)
    except ValueError:
        return "the upstream sent an event that is not JSON"
    if isinstance(value, dict) and value.get("error") is not None:
        error = value["error"]
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return None


def event_usage_tokens(events: Iterable[Any]) -> int:
    """``usage.total_tokens`` of the last chunk that carries usage (``stream_options``)."""
    total = 0
    for data in events:
        if not isinstance(data, str) or '"usage"' not in data:
            continue
        try:
            value = json.loads(data)
        except ValueError:
            continue
        usage = value.get("usage") if isinstance(value, dict) else None
        if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
            total = int(usage["total_tokens"])
    return total
