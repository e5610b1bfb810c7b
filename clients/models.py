"""Typed results of the HTTP API, as the clients return them.

Unknown fields from a newer service are ignored, so an old client keeps working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BackendStatus",
    "CacheAnswer",
    "DeleteReply",
    "FeedbackReply",
    "LookupReply",
    "Readiness",
    "StoreReply",
]


class _Reply(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class LookupReply(_Reply):
    """What a lookup found, and why.

    Example::

        reply = client.lookup(request)
        if reply.hit:
            print(reply.kind, reply.similarity, reply.response)
        else:
            print(reply.explanation)   # e.g. "miss: best similarity 0.8123 < threshold 0.9500"
    """

    hit: bool
    kind: Literal["exact", "semantic"] | None = None
    similarity: float | None = None
    threshold: float
    entry_id: str | None = None
    namespace: str
    reason: str | None = None
    explanation: str = ""
    candidate_text: str | None = None
    failed_backends: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    response: Any = None


class StoreReply(_Reply):
    stored: bool
    entry_id: str
    namespace: str


class FeedbackReply(_Reply):
    entry_id: str
    namespace: str
    correct: bool
    removed: bool


class DeleteReply(_Reply):
    namespace: str
    entry_id: str | None = None
    deleted: bool


class BackendStatus(_Reply):
    ok: bool
    detail: str
    ms: float


class Readiness(_Reply):
    status: str
    backends: dict[str, BackendStatus]
    upstream: str | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class CacheAnswer(_Reply):
    """The outcome of ``get_or_call``: the answer and where it came from.

    ``source`` is ``exact`` or ``semantic`` for a cached answer, ``provider`` when ``call()``
    ran (``coalesced`` in-process when a concurrent twin's call answered).
    """

    response: Any
    source: Literal["exact", "semantic", "provider", "coalesced"]
    similarity: float | None = None
    entry_id: str | None = None
    stored: bool = False

    @property
    def cached(self) -> bool:
        return self.source in ("exact", "semantic")
