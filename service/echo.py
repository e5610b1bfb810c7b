"""A built-in echo "provider", for trying the proxy without an LLM account.

``semcached serve --echo-upstream`` (what ``make run`` does when no upstream is given) answers
misses with an OpenAI-shaped completion that repeats the question, JSON or streamed, through the
ordinary upstream path: an ``httpx.MockTransport`` stands in for the network, so caching,
streaming and headers behave exactly as with a real provider.

Example::

    app = create_app(settings.model_copy(update={"upstream_url": ECHO_URL}),
                     upstream_transport=echo_transport())
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx

__all__ = ["ECHO_URL", "echo_completion", "echo_transport"]

ECHO_URL = "http://echo.semcached.invalid/v1"
ECHO_FINGERPRINT = "semcached-echo"


def _question(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                ).strip()
    return ""


def echo_completion(body: dict[str, Any]) -> dict[str, Any]:
    """The echo answer to a chat request, shaped like OpenAI's."""
    text = f"(echo) You asked: {_question(body)}"
    words = len(text.split())
    return {
        "id": f"chatcmpl-echo-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model", "echo")),
        "system_fingerprint": ECHO_FINGERPRINT,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": words, "completion_tokens": words, "total_tokens": 2 * words},
    }


def _stream(body: dict[str, Any]) -> bytes:
    full = echo_completion(body)
    base = {k: full[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"
    text = full["choices"][0]["message"]["content"]
    pieces = [{"role": "assistant", "content": ""}]
    pieces += [{"content": w if i == 0 else " " + w} for i, w in enumerate(text.split(" "))]
    events = [{**base, "choices": [{"index": 0, "delta": d}]} for d in pieces]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    lines = [f"data: {json.dumps(e)}\n\n" for e in events] + ["data: [DONE]\n\n"]
    return "".join(lines).encode()


async def _handle(request: httpx.Request) -> httpx.Response:
    if request.method == "GET" and request.url.path.endswith("/models"):
        models = [{"id": "echo", "object": "model", "created": 0, "owned_by": "semcached"}]
        return httpx.Response(200, json={"object": "list", "data": models})
    if request.method != "POST" or not request.url.path.endswith("/chat/completions"):
        error = {"error": {"message": "the echo upstream only answers chat completions"}}
        return httpx.Response(404, json=error)
    body = json.loads(request.content or b"{}")
    if body.get("stream"):
        return httpx.Response(
            200, content=_stream(body), headers={"content-type": "text/event-stream"}
        )
    return httpx.Response(200, json=echo_completion(body))


def echo_transport() -> httpx.MockTransport:
    """An httpx transport that answers like an OpenAI-compatible upstream, without a network."""
    return httpx.MockTransport(_handle)
