"""What the clients return: the service's replies (:mod:`semcached.wire`, the one definition
the service answers with) and :class:`CacheAnswer`, the outcome of ``get_or_call``.

Unknown fields from a newer service are ignored, so an old client keeps working.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from semcached.wire import (
    BackendStatus,
    DeleteReply,
    FeedbackReply,
    LookupReply,
    Readiness,
    StoreReply,
)

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
