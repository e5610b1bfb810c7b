"""The HTTP API's bodies and replies, one definition shared by the service and the clients.

Request bodies are strict (an unknown field is a 422 naming it, so a misspelt ``threshhold`` is
never silently ignored). Replies ignore fields they do not know, so an older client keeps
working against a newer service.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

__all__ = [
    "ENTRY_ID_PATTERN",
    "MAX_TTL_S",
    "NAMESPACE_PATTERN",
    "BackendStatus",
    "DeleteReply",
    "FeedbackBody",
    "FeedbackReply",
    "LookupBody",
    "LookupReply",
    "Readiness",
    "StoreBody",
    "StoreReply",
]

ENTRY_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_TTL_S = 10 * 365 * 24 * 3600.0
NAMESPACE_PATTERN = r"^[^\x00-\x1f]+$"

_EXAMPLE_REQUEST = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "How do I reset my password?"}],
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- bodies ---------------------------------------------------------------------------------------


class LookupBody(_Body):
    """Look a chat request up."""

    request: dict[str, Any] = Field(
        description="An OpenAI-style chat request.", examples=[_EXAMPLE_REQUEST]
    )
    namespace: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=NAMESPACE_PATTERN,
        description="Defaults to the key's own.",
    )
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        strict=True,
        description="Cosine similarity needed for this lookup.",
    )


class StoreBody(_Body):
    """Store an answer for a chat request."""

    request: dict[str, Any] = Field(examples=[_EXAMPLE_REQUEST])
    response: Any = Field(description="Any JSON; typically an OpenAI chat completion.")
    namespace: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=NAMESPACE_PATTERN
    )
    ttl_s: float | None = Field(
        default=None, gt=0, le=MAX_TTL_S, strict=True, description="Entry lifetime in seconds."
    )

    @field_validator("response")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("the response to store must not be null")
        return value


class FeedbackBody(_Body):
    """Report whether a served entry answered correctly; a wrong one stops being served."""

    entry_id: str = Field(pattern=ENTRY_ID_PATTERN, description="`entry_id` of the hit.")
    correct: StrictBool
    namespace: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=NAMESPACE_PATTERN
    )


# -- replies --------------------------------------------------------------------------------------


class LookupReply(_Reply):
    """What a lookup found, and why.

    Example::

        reply = client.lookup(request)
        if reply.hit:
            print(reply.kind, reply.similarity, reply.response)
        else:
            print(reply.explanation)   # e.g. "miss: best similarity 0.8123 < threshold 0.9000"
    """

    hit: bool
    kind: Literal["exact", "semantic"] | None = Field(
        default=None, description="`exact` or `semantic` on a hit."
    )
    similarity: float | None = None
    threshold: float
    entry_id: str | None = Field(
        default=None, description="The served entry, or the best candidate on a miss."
    )
    namespace: str
    reason: str | None = Field(default=None, description="Why it missed.")
    explanation: str = ""
    candidate_text: str | None = None
    failed_backends: list[str] = Field(
        default_factory=list, description="Backends that failed (the lookup failed open)."
    )
    timings_ms: dict[str, float] = Field(default_factory=dict)
    response: Any = Field(default=None, description="The cached answer on a hit.")


class StoreReply(_Reply):
    stored: bool = Field(description="False when a backend failed (nothing half-written).")
    entry_id: str
    namespace: str


class FeedbackReply(_Reply):
    entry_id: str
    namespace: str
    correct: bool
    action: Literal["deleted", "learned", "recorded"] = Field(
        default="recorded",
        description="`deleted`: the entry stops being served; `learned`: the adaptive policy "
        "moved its boundary and the entry stays; `recorded`: a right answer, counted.",
    )
    removed: bool = Field(description="True when the entry was deleted.")


class DeleteReply(_Reply):
    namespace: str
    entry_id: str | None = None
    deleted: bool


class BackendStatus(_Reply):
    """One backend's state in ``/readyz``."""

    ok: bool
    detail: str = Field(description="`ok`, or what failed.")
    ms: float = Field(description="How long the check took.")


class Readiness(_Reply):
    status: str = Field(
        description="`ready` (every backend answers), `degraded` (some backend is down: "
        "lookups fail open to the upstream, the service still answers every request; 200 "
        "unless SEMCACHED_SERVICE__STRICT_READINESS) or `not_ready` (503)."
    )
    backends: dict[str, BackendStatus]
    upstream: str | None = Field(
        default=None, description="The configured upstream base URL, if any."
    )
    upstreams: dict[str, str | None] = Field(
        default_factory=dict,
        description="Base URLs configured per API (openai, anthropic, azure), overriding "
        "`upstream` for that API.",
    )

    @property
    def ready(self) -> bool:
        """Whether the service answers requests (``degraded`` included)."""
        return self.status in ("ready", "degraded")
