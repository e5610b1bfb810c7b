"""Each API's streams end their own way: a recording knows which, so only its own end counts."""

from __future__ import annotations

import json

from semcached.service.sse import (
    ANTHROPIC_STREAM,
    OPENAI_STREAM,
    RESPONSES_STREAM,
    StreamDialect,
    StreamRecording,
)


def _record(dialect: StreamDialect, *events: object) -> StreamRecording:
    recording = dialect.recording()
    for event in events:
        recording.add(event if isinstance(event, str) else json.dumps(event))
    return recording


def test_openai_ends_at_done_only() -> None:
    chunk = {"object": "chat.completion.chunk", "choices": []}
    assert not _record(OPENAI_STREAM, chunk, {"type": "message_stop"}).complete
    assert _record(OPENAI_STREAM, chunk, "[DONE]").complete


def test_anthropic_ends_at_message_stop() -> None:
    start = {"type": "message_start", "message": {}}
    assert not _record(ANTHROPIC_STREAM, start).complete
    assert _record(ANTHROPIC_STREAM, start, {"type": "message_stop"}).complete


def test_a_failed_response_is_never_stored() -> None:
    created = {"type": "response.created", "response": {}}
    failed = _record(
        RESPONSES_STREAM, created, {"type": "response.failed"}, {"type": "response.completed"}
    )
    assert not failed.complete and "response.failed" in (failed.error or "")
    assert _record(RESPONSES_STREAM, created, {"type": "response.completed"}).complete
