"""``POST /v1/messages``: Anthropic's Messages API, cached like chat completions.

Point the ``anthropic`` SDK's ``base_url`` at the sidecar (``http://127.0.0.1:8080``): a miss
goes to ``SEMCACHED_UPSTREAM_URL`` + ``/messages`` with the caller's ``x-api-key``,
``anthropic-version`` and ``anthropic-beta`` headers; an answer is stored and served again,
exactly or (the last user message reworded) semantically, in its own scope (an Anthropic
message never serves an OpenAI chat). Streams are recorded and replayed in Anthropic's own
event format (``event: message_start`` ... ``event: message_stop``). Errors on this route are
in Anthropic's shape (``{"type": "error", "error": {"type", "message"}}``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from semcached.service.cache_controls import CACHED_RESPONSES, CallContext, call_context
from semcached.service.routes.openai import serve_cached
from semcached.service.sse import ANTHROPIC_STREAM

__all__ = ["MessagesBody", "chat_form", "router"]

router = APIRouter(tags=["anthropic"])
API_MARKER = "anthropic.messages"  # in the key: never shared with another API's requests


class AnthropicMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str = Field(pattern=r"^(user|assistant)$")
    content: str | list[dict[str, Any]]


class MessagesBody(BaseModel):
    """An Anthropic Messages request. Unknown parameters pass through to the upstream."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "claude-sonnet-4-5",
                    "max_tokens": 256,
                    "messages": [{"role": "user", "content": "How do I reset my password?"}],
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=256)
    messages: list[AnthropicMessage] = Field(min_length=1, max_length=10_000)
    max_tokens: int = Field(ge=1)
    system: str | list[dict[str, Any]] | None = None
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)


def chat_form(payload: dict[str, Any]) -> dict[str, Any]:
    """The request in semcached's chat form, for keys and comparison: ``system`` as the first
    message, every other parameter kept (so it is part of the key), and the API marked."""
    body = dict(payload)
    messages = list(body.pop("messages"))
    system = body.pop("system", None)
    if system:
        messages.insert(0, {"role": "system", "content": system})
    body.pop("stream", None)  # not keyed: a streamed and a plain call share one entry
    return {**body, "messages": messages, "semcached_api": API_MARKER}


@router.post(
    "/v1/messages",
    summary="Anthropic Messages, cached",
    response_model=None,
    responses=CACHED_RESPONSES,
)
async def messages(
    body: MessagesBody,
    request: Request,
    context: Annotated[CallContext, Depends(call_context)],
) -> Response:
    payload = body.model_dump(exclude_unset=True)
    return await serve_cached(
        request, context, payload, model=body.model, stream=bool(body.stream),
        path="/messages", endpoint="messages",
        key_payload=chat_form(payload), dialect=ANTHROPIC_STREAM,
    )  # fmt: skip
