"""One entry for a streamed and a non-streamed call: a recorded stream assembled into the API's
answer, and a stored answer turned into the API's stream events.

The cached provider routes key a request without ``stream`` and ``stream_options``, so the
answer stored by either kind of call serves both: a streamed call is replayed event for event
when the entry is a recording, and gets events synthesised from the answer otherwise; a plain
call gets the answer, or the recording assembled into one. Per API (``endpoint``):

* ``chat``: ``chat.completion.chunk`` events <-> a ``chat.completion`` (content, refusal,
  tool calls by index, finish reason, usage when the stream carried it);
* ``completions``: ``text_completion`` chunks <-> a ``text_completion``;
* ``messages`` (Anthropic): ``message_start`` ... ``message_stop`` <-> a ``message`` (text and
  tool-use blocks);
* ``responses``: ``response.created`` ... ``response.completed`` <-> the ``response`` (the
  completed event carries the whole response).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["assemble", "synthesize"]


def assemble(endpoint: str, events: list[Any]) -> dict[str, Any] | None:
    """The non-streamed answer a recorded stream amounts to (``None``: it cannot be told)."""
    parsed = [json.loads(e) if isinstance(e, str) else e for e in events]
    parsed = [e for e in parsed if isinstance(e, dict)]
    if not parsed:
        return None
    match endpoint:
        case "chat":
            return _chat(parsed)
        case "completions":
            return _completion(parsed)
        case "messages":
            return _message(parsed)
        case "responses":
            done = [e for e in parsed if e.get("type") == "response.completed"]
            response = done[-1].get("response") if done else None
            return response if isinstance(response, dict) else None
        case _:
            return None


def _choices(
    chunks: list[dict[str, Any]],
    new: Callable[[int], dict[str, Any]],
    merge: Callable[[dict[str, Any], dict[str, Any]], None],
) -> tuple[list[dict[str, Any]], Any]:
    """Fold an OpenAI stream's chunks into its choices (by index, ``merge`` adding each part
    to its choice) and the last usage seen."""
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for part in chunk.get("choices") or ():
            index = int(part.get("index", 0))
            choice = choices.setdefault(index, new(index))
            merge(choice, part)
            if part.get("finish_reason"):
                choice["finish_reason"] = part["finish_reason"]
    return [choices[i] for i in sorted(choices)], usage


def _answer(
    first: dict[str, Any],
    kind: str,
    choices: list[dict[str, Any]],
    usage: Any,
    *,
    fingerprint: bool = False,
) -> dict[str, Any]:
    answer = {
        "id": first.get("id"),
        "object": kind,
        "created": first.get("created"),
        "model": first.get("model"),
        "choices": choices,
    }
    if fingerprint and first.get("system_fingerprint"):
        answer["system_fingerprint"] = first["system_fingerprint"]
    if usage is not None:
        answer["usage"] = usage
    return answer


def _merge_delta(choice: dict[str, Any], part: dict[str, Any]) -> None:
    """A chat chunk's ``delta`` added to its choice's message (text, refusal, tool calls)."""
    delta = part.get("delta") or {}
    message = choice["message"]
    if delta.get("role"):
        message["role"] = delta["role"]
    for key in ("content", "refusal"):
        if delta.get(key) is not None:
            message[key] = (message.get(key) or "") + delta[key]
    for call in delta.get("tool_calls") or ():
        calls = message.setdefault("tool_calls", [])
        at = int(call.get("index", len(calls)))
        while len(calls) <= at:
            calls.append(
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
            )
        target = calls[at]
        if call.get("id"):
            target["id"] = call["id"]
        function = call.get("function") or {}
        if function.get("name"):
            target["function"]["name"] += function["name"]
        if function.get("arguments"):
            target["function"]["arguments"] += function["arguments"]


def _chat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    choices, usage = _choices(
        chunks,
        lambda index: {
            "index": index,
            "message": {"role": "assistant", "content": None},
            "finish_reason": None,
            "logprobs": None,
        },
        _merge_delta,
    )
    return _answer(chunks[0], "chat.completion", choices, usage, fingerprint=True)


def _completion(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    def merge(choice: dict[str, Any], part: dict[str, Any]) -> None:
        choice["text"] += part.get("text") or ""

    choices, usage = _choices(
        chunks,
        lambda index: {"index": index, "text": "", "finish_reason": None, "logprobs": None},
        merge,
    )
    return _answer(chunks[0], "text_completion", choices, usage)


def _message(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    start = next((e for e in events if e.get("type") == "message_start"), None)
    if start is None or not isinstance(start.get("message"), dict):
        return None
    message = dict(start["message"])
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    for event in events:
        kind, index = event.get("type"), int(event.get("index", 0))
        if kind == "content_block_start":
            blocks[index] = dict(event.get("content_block") or {})
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            block = blocks.setdefault(index, {"type": "text", "text": ""})
            if delta.get("type") == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif delta.get("type") == "input_json_delta":
                partial[index] = partial.get(index, "") + delta.get("partial_json", "")
        elif kind == "message_delta":
            message.update(event.get("delta") or {})
            usage = {**(message.get("usage") or {}), **(event.get("usage") or {})}
            message["usage"] = usage
    for index, text in partial.items():
        try:
            blocks[index]["input"] = json.loads(text) if text else {}
        except ValueError:
            return None
    message["content"] = [blocks[i] for i in sorted(blocks)]
    return message


def synthesize(endpoint: str, answer: Any) -> list[Any]:
    """The stream events that say what ``answer`` (a stored non-streamed answer) says."""
    if not isinstance(answer, dict):
        return [answer]
    match endpoint:
        case "chat":
            return _chat_events(answer)
        case "completions":
            base = {k: answer.get(k) for k in ("id", "created", "model")}
            chunks = [
                {
                    **base,
                    "object": "text_completion",
                    "choices": [
                        {
                            "index": c.get("index", 0),
                            "text": c.get("text", ""),
                            "finish_reason": c.get("finish_reason"),
                            "logprobs": None,
                        }
                    ],
                }
                for c in answer.get("choices") or ()
            ]
            if answer.get("usage"):
                chunks.append(
                    {**base, "object": "text_completion", "choices": [], "usage": answer["usage"]}
                )
            return chunks
        case "messages":
            return _message_events(answer)
        case "responses":
            created = {**answer, "status": "in_progress", "output": []}
            events: list[dict[str, Any]] = [{"type": "response.created", "response": created}]
            for n, item in enumerate(answer.get("output") or ()):
                for c, part in enumerate(item.get("content") or ()):
                    if part.get("type") == "output_text":
                        events.append(
                            {
                                "type": "response.output_text.delta",
                                "item_id": item.get("id"),
                                "output_index": n,
                                "content_index": c,
                                "delta": part.get("text", ""),
                            }
                        )
            events.append({"type": "response.completed", "response": answer})
            for seq, event in enumerate(events):
                event["sequence_number"] = seq
            return events
        case _:
            return [answer]


def _chat_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    base = {
        "id": answer.get("id"),
        "object": "chat.completion.chunk",
        "created": answer.get("created"),
        "model": answer.get("model"),
    }
    chunks: list[dict[str, Any]] = []
    for choice in answer.get("choices") or ():
        index, message = choice.get("index", 0), choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        for key in ("content", "refusal"):
            if message.get(key) is not None:
                delta[key] = message[key]
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": i} for i, call in enumerate(message["tool_calls"])
            ]
        chunks.append({**base, "choices": [{"index": index, "delta": delta}]})
        chunks.append(
            {
                **base,
                "choices": [
                    {"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")}
                ],
            }
        )
    if answer.get("usage"):
        chunks.append({**base, "choices": [], "usage": answer["usage"]})
    return chunks


def _message_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    start = {**answer, "content": [], "stop_reason": None, "stop_sequence": None}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(answer.get("content") or ()):
        if block.get("type") == "text":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                }
            )
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "text_delta", "text": block.get("text", "")},
                }
            )
        elif block.get("type") == "tool_use":
            events.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "input": {}},
                }
            )
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps(block.get("input") or {}),
                    },
                }
            )
        else:
            events.append({"type": "content_block_start", "index": index, "content_block": block})
        events.append({"type": "content_block_stop", "index": index})
    events.append(
        {
            "type": "message_delta",
            "delta": {
                "stop_reason": answer.get("stop_reason"),
                "stop_sequence": answer.get("stop_sequence"),
            },
            "usage": {"output_tokens": (answer.get("usage") or {}).get("output_tokens", 0)},
        }
    )
    events.append({"type": "message_stop"})
    return events
