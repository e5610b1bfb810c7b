"""A recorded OpenAI stream assembled into the API's answer: text, refusals, tool calls split
over chunks, several choices, usage from the last chunk that has it."""

from __future__ import annotations

import json
from typing import Any

from semcached.service.stream_forms import assemble


def _events(chunks: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(c) for c in chunks]


def test_chat_chunks_become_one_completion_with_tool_calls_and_usage() -> None:
    head = {"id": "c1", "created": 7, "model": "m", "system_fingerprint": "fp"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
        {**head, "choices": [{"index": 0, "delta": {"content": "lo"}},
                             {"index": 1, "delta": {"refusal": "no"}}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "t1", "function": {"name": "get_", "arguments": '{"a"'}}]}}]},
        {**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"name": "weather", "arguments": ": 1}"}}]}}]},
        {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"},
                             {"index": 1, "delta": {}, "finish_reason": "stop"}]},
        {**head, "choices": [], "usage": {"total_tokens": 5}},
    ]  # fmt: skip
    answer = assemble("chat", _events(chunks))
    assert answer is not None
    assert answer["object"] == "chat.completion" and answer["system_fingerprint"] == "fp"
    first, second = answer["choices"]
    assert first["message"]["content"] == "Hello" and first["finish_reason"] == "tool_calls"
    assert first["message"]["tool_calls"] == [
        {
            "id": "t1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"a": 1}'},
        }
    ]
    assert second["message"] == {"role": "assistant", "content": None, "refusal": "no"}
    assert answer["usage"] == {"total_tokens": 5}


def test_completion_chunks_become_one_text_completion() -> None:
    head = {"id": "x", "created": 1, "model": "m", "system_fingerprint": "fp"}
    chunks = [
        {**head, "choices": [{"index": 0, "text": "a"}]},
        {**head, "choices": [{"index": 0, "text": "b", "finish_reason": "length"}]},
    ]
    answer = assemble("completions", _events(chunks))
    assert answer == {
        "id": "x", "object": "text_completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "text": "ab", "finish_reason": "length", "logprobs": None}],
    }  # fmt: skip
