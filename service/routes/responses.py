"""``POST /v1/responses``: OpenAI's Responses API, cached when it is stateless.

A request that depends on server-side state is passed through, never served from the cache:
``previous_response_id`` (a continuation of a stored conversation), ``conversation``, and any
request OpenAI stores (``store`` defaults to true: the caller may later fetch the response by
its id, which a cached copy would not have). With ``"store": false`` and none of those, the
request is cached like a chat completion: ``instructions`` as the system message, ``input``
as the user's text (or its message items), every other parameter (tools, ``text.format``,
reasoning...) in the key; streams are recorded and replayed in the Responses event format
(``event: response.created`` ... ``event: response.completed``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from semcached.service.cache_controls import CACHED_RESPONSES, CallContext, call_context
from semcached.service.routes.openai import serve_cached
from semcached.service.routes.passthrough import relay
from semcached.service.sse import RESPONSES_STREAM

__all__ = ["ResponsesBody", "chat_form", "router", "stateful"]

router = APIRouter(tags=["openai"])
API_MARKER = "openai.responses"


class ResponsesBody(BaseModel):
    """An OpenAI Responses request. Unknown parameters pass through to the upstream."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {"model": "gpt-4o-mini", "input": "How do I reset my password?", "store": False}
            ]
        },
    )

    model: str = Field(min_length=1, max_length=256)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool | None = None
    store: bool | None = None
    previous_response_id: str | None = None


def stateful(payload: dict[str, Any]) -> str | None:
    """Why the request depends on OpenAI's server-side state (``None``: it does not)."""
    if payload.get("previous_response_id"):
        return "previous_response_id"
    if payload.get("conversation"):
        return "conversation"
    if payload.get("store", True) is not False:
        return "store"
    return None


def _messages(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    out: list[dict[str, Any]] = []
    for item in value:
        role, content = item.get("role"), item.get("content")
        if item.get("type", "message") == "message" and isinstance(role, str):
            if isinstance(content, list):  # input_text parts as text parts
                content = [
                    {"type": "text", "text": part.get("text", "")}
                    if isinstance(part, dict) and part.get("type") in ("input_text", "output_text")
                    else part
                    for part in content
                ]
            out.append({"role": "user" if role == "developer" else role, "content": content})
        else:  # tool calls, tool outputs, files...: compared exactly, as a message of its own
            out.append({"role": "tool", "content": str(sorted(item.items()))})
    return out


def chat_form(payload: dict[str, Any]) -> dict[str, Any]:
    """The request in semcached's chat form, for keys and comparison."""
    body = {k: v for k, v in payload.items() if k not in ("input", "instructions", "stream")}
    messages = _messages(payload["input"])
    if payload.get("instructions"):
        messages.insert(0, {"role": "system", "content": payload["instructions"]})
    return {**body, "messages": messages, "semcached_api": API_MARKER}


@router.post(
    "/v1/responses",
    summary="OpenAI Responses, cached when stateless (store: false)",
    response_model=None,
    responses=CACHED_RESPONSES,
)
async def responses(
    body: ResponsesBody,
    request: Request,
    context: Annotated[CallContext, Depends(call_context)],
) -> Response:
    payload = body.model_dump(exclude_unset=True)
    if stateful(payload) is not None:
        return await relay("responses", request)  # server-side state: never from the cache
    return await serve_cached(
        request, context, payload, model=body.model, stream=bool(body.stream),
        path="/responses", endpoint="responses",
        key_payload=chat_form(payload), dialect=RESPONSES_STREAM,
    )  # fmt: skip
