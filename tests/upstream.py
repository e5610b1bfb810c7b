"""A local OpenAI-compatible upstream for the service tests, and a uvicorn runner.

:class:`Upstream` answers ``POST /v1/chat/completions`` the way OpenAI does (JSON, or server-sent
events with ``stream: true``), counts every call, records the headers it received, and can be
told to fail: answer an HTTP error, send an error event mid-stream, or cut the stream (the
connection drops with no ``[DONE]``). :class:`UvicornThread` serves any ASGI app on a free port
of 127.0.0.1 in a background thread: a real server, real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.servers import free_port


@dataclass
class Call:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class Upstream:
    """The fake provider's state. Tests read ``calls`` and set ``fail_next``."""

    calls: list[Call] = field(default_factory=list)
    # Each queued failure is used by one call: ("status", 500) | ("error_event", 0) | ("cut", 0)
    failures: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While set, every call is received (and counted) but not answered until released.
    gate: threading.Event | None = None
    # Requests to any other route (the pass-through): method, path, query, body, headers.
    relayed: list[dict[str, Any]] = field(default_factory=list)
    # Every input POST /v1/embeddings was asked to embed, in order.
    embedded: list[Any] = field(default_factory=list)

    def hold(self) -> threading.Event:
        """Hold every call open until the returned event is set (bounded by 30 s)."""
        self.gate = threading.Event()
        return self.gate

    def fail_next(self, kind: str = "status", value: int = 500) -> None:
        with self.lock:
            self.failures.append((kind, value))

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.calls)

    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, tuple | None]:
        with self.lock:
            self.calls.append(Call(body, headers))
            failure = self.failures.pop(0) if self.failures else None
            return len(self.calls), failure


def answer_text(body: dict[str, Any], number: int) -> str:
    last = next(
        (m.get("content") for m in reversed(body.get("messages", [])) if m.get("role") == "user"),
        "",
    )
    return f"answer #{number} to: {last}"


def completion(body: dict[str, Any], number: int) -> dict[str, Any]:
    text = answer_text(body, number)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 1_700_000_000 + number,
        "model": body.get("model", "test-model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def chunks(body: dict[str, Any], number: int) -> list[dict[str, Any]]:
    """The chunks of a streamed answer: role, one per word, finish (and usage if asked)."""
    base = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000 + number,
        "model": body.get("model", "test-model"),
    }
    words = answer_text(body, number).split(" ")
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for i, word in enumerate(words):
        piece = word if i == 0 else " " + word
        out.append({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 10, "completion_tokens": len(words), "total_tokens": 10 + 7}
        out.append({**base, "choices": [], "usage": usage})
    return out


def build_upstream_app(state: Upstream) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    @app.post("/openai/deployments/{deployment}/chat/completions")  # Azure's URL scheme
    async def chat(request: Request) -> Response:
        body = await request.json()
        seen = {**dict(request.headers), "x-query": request.url.query, "x-path": request.url.path}
        number, failure = state._take(body, seen)
        gate = state.gate
        if gate is not None:
            await asyncio.to_thread(gate.wait, 30)
        if failure is not None and failure[0] == "status":
            return JSONResponse(
                {"error": {"message": "upstream exploded", "type": "server_error", "code": None}},
                status_code=failure[1],
                headers={"Retry-After": "7", "X-Request-Id": "req-123", "X-Internal": "no"},
            )
        answered = {"x-request-id": f"req-chat-{number}", "openai-processing-ms": "5",
                    "x-ratelimit-remaining-requests": "99", "x-internal": "no"}  # fmt: skip
        if not body.get("stream"):
            return JSONResponse(completion(body, number), headers=answered)
        events = chunks(body, number)

        async def sse() -> AsyncIterator[bytes]:
            for i, chunk in enumerate(events):
                if failure is not None and i == 2:
                    if failure[0] == "cut":
                        raise RuntimeError("upstream connection dropped (on purpose)")
                    error = {"error": {"message": "overloaded mid-stream", "type": "server_error"}}
                    yield f"data: {json.dumps(error)}\n\n".encode()
                    return
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                await asyncio.sleep(0)
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream", headers=answered)

    _add_legacy_and_embeddings(app, state)
    _add_anthropic(app, state)
    _add_responses(app, state)
    _add_anything(app, state)
    return app


def _anthropic_events(body: dict[str, Any], number: int) -> list[dict[str, Any]]:
    text = anthropic_text(body, number)
    message = {"id": f"msg_{number}", "type": "message", "role": "assistant", "content": [],
               "model": body.get("model"), "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": 9, "output_tokens": 1}}  # fmt: skip
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    for i, word in enumerate(text.split(" ")):
        piece = word if i == 0 else " " + word
        delta = {"type": "text_delta", "text": piece}
        events.append({"type": "content_block_delta", "index": 0, "delta": delta})
    events += [
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 7},
        },
        {"type": "message_stop"},
    ]
    return events


def anthropic_text(body: dict[str, Any], number: int) -> str:
    last = body["messages"][-1]["content"]
    if isinstance(last, list):
        last = " ".join(part.get("text", "") for part in last)
    return f"answer #{number} to: {last}"


def _add_anthropic(app: FastAPI, state: Upstream) -> None:
    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        """Anthropic's Messages API: JSON, or its named SSE events (no [DONE])."""
        body = await request.json()
        number, _ = state._take(body, dict(request.headers))
        if not body.get("stream"):
            return JSONResponse(
                {"id": f"msg_{number}", "type": "message", "role": "assistant",
                 "content": [{"type": "text", "text": anthropic_text(body, number)}],
                 "model": body.get("model"), "stop_reason": "end_turn", "stop_sequence": None,
                 "usage": {"input_tokens": 9, "output_tokens": 7}},
                headers={"request-id": f"req_{number}"},
            )  # fmt: skip

        async def sse() -> AsyncIterator[bytes]:
            for event in _anthropic_events(body, number):
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(sse(), media_type="text/event-stream")


def _response_object(body: dict[str, Any], number: int, text: str | None) -> dict[str, Any]:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": []}]
    output = [{"type": "message", "id": f"msg_{number}", "role": "assistant",
               "status": "completed", "content": content}]  # fmt: skip
    return {
        "id": f"resp_{number}", "object": "response", "created_at": 1_700_000_000,
        "model": body.get("model"), "status": "completed" if text is not None else "in_progress",
        "output": output if text is not None else [], "parallel_tool_calls": True,
        "tool_choice": "auto", "tools": [],
        "usage": {"input_tokens": 8, "output_tokens": 6, "total_tokens": 14},
    }  # fmt: skip


def _add_responses(app: FastAPI, state: Upstream) -> None:
    @app.post("/v1/responses")
    async def responses(request: Request) -> Response:
        """OpenAI's Responses API: JSON, or its named SSE events ending at response.completed."""
        body = await request.json()
        number, _ = state._take(body, dict(request.headers))
        asked = body["input"] if isinstance(body["input"], str) else "items"
        text = f"answer #{number} to: {asked}"
        if not body.get("stream"):
            return JSONResponse(_response_object(body, number, text))

        async def sse() -> AsyncIterator[bytes]:
            events: list[dict[str, Any]] = [
                {"type": "response.created", "response": _response_object(body, number, None)}
            ]
            for i, word in enumerate(text.split(" ")):
                events.append({"type": "response.output_text.delta", "item_id": f"msg_{number}",
                               "output_index": 0, "content_index": 0,
                               "delta": word if i == 0 else " " + word})  # fmt: skip
            events.append(
                {"type": "response.completed", "response": _response_object(body, number, text)}
            )
            for seq, event in enumerate(events):
                event["sequence_number"] = seq
                yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()

        return StreamingResponse(sse(), media_type="text/event-stream")


def _add_legacy_and_embeddings(app: FastAPI, state: Upstream) -> None:
    @app.post("/v1/completions")
    async def legacy(request: Request) -> Response:
        """Legacy text completions, JSON or streamed (counted with the chat calls)."""
        body = await request.json()
        number, _ = state._take(body, dict(request.headers))
        text = f"answer #{number} to: {body.get('prompt')}"
        base = {"id": f"cmpl-{number}", "object": "text_completion", "created": 1_700_000_000,
                "model": body.get("model", "test-model")}  # fmt: skip
        if not body.get("stream"):
            return JSONResponse(
                {**base, "choices": [{"index": 0, "text": text, "finish_reason": "stop",
                                      "logprobs": None}],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}}
            )  # fmt: skip

        async def sse() -> AsyncIterator[bytes]:
            for i, word in enumerate(text.split(" ")):
                piece = word if i == 0 else " " + word
                choice = {"index": 0, "text": piece, "finish_reason": None, "logprobs": None}
                yield f"data: {json.dumps({**base, 'choices': [choice]})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        """Deterministic vectors (from the input's text), as floats or base64 like OpenAI."""
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if inputs and isinstance(inputs[0], int):
            inputs = [inputs]  # one token array
        with state.lock:
            state.embedded.extend(inputs)
        dims = int(body.get("dimensions") or 4)
        data = []
        for i, item in enumerate(inputs):
            seed = sum(ord(c) for c in str(item))
            vector = [((seed * (k + 1)) % 97) / 97.0 for k in range(dims)]
            if body.get("encoding_format") == "base64":
                packed: Any = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            else:
                packed = vector
            data.append({"object": "embedding", "index": i, "embedding": packed})
        tokens = sum(len(str(item).split()) for item in inputs)
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": body["model"] + "-v2",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers={"x-request-id": "req-emb"},
        )


def _add_anything(app: FastAPI, state: Upstream) -> None:
    @app.api_route("/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    @app.api_route("/openai/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def anything(rest: str, request: Request) -> Response:
        """Any other route: what a pass-through must relay unchanged."""
        seen = {
            "method": request.method,
            "path": rest,
            "query": request.url.query,
            "body": (await request.body()).decode("utf-8", "replace"),
            "headers": dict(request.headers),
        }
        with state.lock:
            state.relayed.append(seen)
        if rest == "models":
            return JSONResponse(
                {"object": "list", "data": [{"id": "gpt-test", "object": "model"}]},
                headers={"x-request-id": "req-models", "openai-processing-ms": "3"},
            )
        if rest == "login":  # a provider (or a gateway in front of it) setting a cookie
            return JSONResponse({"ok": True}, headers={"set-cookie": "session=tenant-a; Path=/"})
        if rest == "slow-stream":

            async def lines() -> AsyncIterator[bytes]:
                for i in range(3):
                    yield f"data: {i}\n\n".encode()
                    await asyncio.sleep(0.05)

            return StreamingResponse(lines(), media_type="text/event-stream")
        if rest == "limited":
            return JSONResponse(
                {"error": {"message": "slow down", "type": "rate_limit", "code": None}},
                status_code=429,
                headers={"retry-after": "3", "x-ratelimit-remaining-requests": "0"},
            )
        return JSONResponse({k: v for k, v in seen.items() if k != "headers"}, status_code=201)


class UvicornThread:
    """Serve an ASGI app with uvicorn on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> UvicornThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextmanager
def serving(app: Any) -> Iterator[UvicornThread]:
    server = UvicornThread(app).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def upstream_server() -> Iterator[tuple[Upstream, str]]:
    """A running fake provider; yields its state and its OpenAI base URL (``.../v1``)."""
    state = Upstream()
    with serving(build_upstream_app(state)) as server:
        yield state, f"{server.url}/v1"
