"""The error answers every operation documents in the OpenAPI schema, with their body schema.

Every 4xx and 5xx the service sends has the shape of :mod:`semcached.service.errors`:
``{"error": {"type", "message", "field", "fix"}}``; on the provider routes OpenAI's SDK fields
(``param``, ``code``) are added, and Anthropic's Messages route wraps it as ``{"type": "error",
"error": {...}}``. One schema, open to those additions, documents all three, so generated
clients and schema fuzzers can check every error body.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ERROR_RESPONSES", "ErrorBody", "ErrorDetail", "documented_errors"]


class ErrorDetail(BaseModel):
    """What went wrong, where, and what to do."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A stable machine-readable code (Anthropic's error type on "
                      "/v1/messages, semcached's code then in `code`).")  # fmt: skip
    message: str = Field(description="What was expected and what came.")
    field: str | None = Field(default=None, description="The offending part of the request.")
    fix: str | None = Field(default=None, description="What to do about it.")


class ErrorBody(BaseModel):
    """An error answer (OpenAI's SDKs read ``error.message``; Anthropic's also ``type``)."""

    model_config = ConfigDict(extra="allow")

    error: ErrorDetail


_DESCRIPTIONS: dict[int, str] = {
    400: "The body is not valid JSON, or not what the API expects.",
    401: "An API key is required (X-Semcached-Key, Authorization: Bearer or x-api-key), or "
    "the key given is unknown.",
    403: "The key may not use the namespace asked for.",
    404: "No such item, entry or route.",
    405: "The method is not allowed on this path.",
    413: "The body, an item or its metadata is over a configured limit.",
    415: "The body must be JSON.",
    422: "The request is invalid; the body names the field and the fix.",
    429: "A per-namespace quota is reached.",
    500: "An unexpected error (a bug): the body says so, and the log has the details.",
    502: "The upstream could not be reached or answered badly.",
    503: "A backend this request needs is down, or no upstream is configured for a miss.",
    504: "The upstream did not answer in time.",
}

# Documented on every operation (the app's default responses).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in _DESCRIPTIONS.items()
}


def documented_errors(
    responses: dict[int | str, dict[str, Any]],
) -> dict[int | str, dict[str, Any]]:
    """A route's own responses, each error status given the error body's schema (a route's
    entry replaces the app's default for its status, so the schema is added back here)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status, entry in responses.items():
        is_error = isinstance(status, int) and status >= 400
        documented = is_error and "model" not in entry and "content" not in entry
        out[status] = {**entry, "model": ErrorBody} if documented else entry
    return out
