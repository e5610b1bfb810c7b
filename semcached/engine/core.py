"""The lookup core: a lookup as explicit states whose transitions are pure functions.

No IO happens here (in the spirit of hishel's state machine). A driver (sync:
:mod:`semcached.engine.cache`, async: :mod:`semcached.engine.acache`) runs the IO a state asks
for and feeds the outcome to the state's ``next``, until :class:`Finished`::

    state = begin(plan)
    while not isinstance(state, Finished):
        match state:
            case ProbeExact():  state = state.next(exact_store.get(...))
            case Embed():       state = state.next(embedder.embed([...]))
            case Search():      state = state.next(semantic.search(...))
            case Decide():      state = state.next(policy(...))

    ProbeExact ──hit──────────────────────────────────────────────► Finished (exact)
        │ miss (or exact_only / no text ─────────────────────────► Finished (miss))
        ▼
      Embed ──failed──────────────────────────────────────────────► Finished (miss)
        ▼
      Search ──failed / the same request found ───────────────────► Finished
        ▼
      Decide ─────────────────────────────────────────────────────► Finished (hit or miss)

A failed step is an outcome like any other (``failed`` names the backend): the lookup fails
open to the provider, never to a wrong answer. What a miss then stores is built here too
(:func:`store_plan`): the answer is serialised once and the lookup's vector is reused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semcached import jsonio
from semcached.engine.entries import CacheEntry
from semcached.engine.results import LookupResult
from semcached.policy.decision import Candidate, Decision, HitKind, MissReason, Rejection
from semcached.policy.segments import retrieval_text
from semcached.request import CanonicalRequest
from semcached.settings import NondeterministicPolicy

__all__ = [
    "AskJudge",
    "Decide",
    "Embed",
    "Failure",
    "Finished",
    "Plan",
    "ProbeExact",
    "Search",
    "State",
    "StoreWrite",
    "Vector",
    "begin",
    "exact_payload",
    "read_exact_payload",
    "store_plan",
]

Vector = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Plan:
    """What one call asks: the canonical request (made once) and the policy in force."""

    canon: CanonicalRequest
    threshold: float
    policy: NondeterministicPolicy  # for this request: "cache" when it is deterministic
    top_k: int
    skip_lookup: bool = False
    judge: bool = False  # a judge may settle a candidate the verifier is unsure about
    # An entry created before this (epoch seconds) is too old for this call (Cache-Control
    # max-age): the driver computes it from its clock, so the core stays pure.
    min_created_at: float | None = None

    def fresh(self, created_at: float | None) -> bool:
        """Whether an entry created at ``created_at`` may serve this call."""
        if self.min_created_at is None:
            return True
        return created_at is not None and created_at >= self.min_created_at

    def result(self, *, hit: bool = False, **changes: Any) -> LookupResult:
        return LookupResult(
            hit=hit,
            namespace=self.canon.namespace,
            exact_key=self.canon.exact_key,
            scope_key=self.canon.scope_key,
            threshold=self.threshold,
            **changes,
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A backend step that failed: which backend, and what it said (for the log line)."""

    backend: str
    message: str


@dataclass(frozen=True, slots=True)
class Finished:
    """The end of a lookup. ``vector`` is the query's embedding when one was made (a miss
    stores it, so a miss embeds once); ``warm`` is a candidate to copy into the exact layer."""

    lookup: LookupResult
    vector: Vector | None = None
    warm: Candidate | None = None


def _finish(
    plan: Plan, failed: tuple[str, ...], reason: MissReason, vector: Vector | None = None
) -> Finished:
    return Finished(plan.result(reason=reason, failed_backends=failed), vector)


@dataclass(frozen=True, slots=True)
class ProbeExact:
    """Ask the exact store for the request's key."""

    plan: Plan

    def next(self, outcome: bytes | Failure | None) -> State:
        plan = self.plan
        failed: tuple[str, ...] = ()
        if isinstance(outcome, Failure):
            failed = (outcome.backend,)
        elif outcome is not None:
            payload = read_exact_payload(outcome)
            if payload is None:
                failed = ("exact_store",)  # an unreadable payload: treat as a failed read
            elif plan.fresh(_float(payload.get("created_at"))):
                lookup = plan.result(
                    hit=True,
                    kind=HitKind.EXACT,
                    response=payload["response"],
                    entry_id=plan.canon.exact_key,
                    similarity=1.0,
                    created_at=payload.get("created_at"),
                )
                return Finished(lookup)
            # else: too old for this caller (max-age); look further, the provider answers anew
        if plan.policy == "exact_only":
            return _finish(plan, failed, MissReason.EXACT_ONLY)
        if not plan.canon.text:
            return _finish(plan, failed, MissReason.NO_TEXT)
        return Embed(plan, failed)


@dataclass(frozen=True, slots=True)
class Embed:
    """Embed the request's text."""

    plan: Plan
    failed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """What is embedded: the prompt, or for a long one its start and end, where tasks and
        questions sit (the model would read only the first 256 tokens)."""
        return retrieval_text(self.plan.canon.text)

    def next(self, outcome: Vector | Failure) -> State:
        if isinstance(outcome, Failure):
            return _finish(self.plan, (*self.failed, outcome.backend), MissReason.BACKEND_ERROR)
        return Search(self.plan, outcome, self.failed)


@dataclass(frozen=True, slots=True)
class Search:
    """Find the nearest live entries in the request's scope."""

    plan: Plan
    vector: Vector
    failed: tuple[str, ...] = ()

    def next(self, outcome: Sequence[Candidate] | Failure) -> State:
        plan = self.plan
        if isinstance(outcome, Failure):
            failed = (*self.failed, outcome.backend)
            return _finish(plan, failed, MissReason.BACKEND_ERROR, self.vector)
        if plan.min_created_at is not None:
            fresh = [c for c in outcome if plan.fresh(_float(c.metadata.get("created_at")))]
            if outcome and not fresh:
                return _finish(plan, self.failed, MissReason.STALE, self.vector)
            outcome = fresh
        same = next((c for c in outcome if c.id == plan.canon.exact_key), None)
        if same is not None:
            # The identical request, persisted in the vector index (e.g. after a restart with
            # the in-process exact store): served as exact, and copied to the exact layer.
            try:
                response = same.answer()
            except ValueError:
                return _finish(plan, (*self.failed, "vector_index"), MissReason.BACKEND_ERROR)
            lookup = plan.result(
                hit=True,
                kind=HitKind.EXACT,
                response=response,
                entry_id=same.id,
                similarity=same.similarity,
                candidate_text=same.text,
                failed_backends=self.failed,
                created_at=_float(same.metadata.get("created_at")),
            )
            return Finished(lookup, self.vector, warm=same)
        return Decide(plan, self.vector, tuple(outcome), self.failed)


@dataclass(frozen=True, slots=True)
class Decide:
    """Judge the candidates (threshold, verifier): pure, but it may be CPU work (a model), so
    the driver chooses where it runs."""

    plan: Plan
    vector: Vector
    candidates: tuple[Candidate, ...]
    failed: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.plan.canon.text

    def next(self, decision: Decision) -> State:
        if not decision.hit and decision.uncertain is not None and self.plan.judge:
            return AskJudge(self.plan, self.vector, decision, self.failed)
        return _decided(self.plan, self.vector, decision, self.failed)


@dataclass(frozen=True, slots=True)
class AskJudge:
    """Ask the optional judge about the candidate the verifier was unsure of (IO: an LLM)."""

    plan: Plan
    vector: Vector
    decision: Decision
    failed: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, str]:
        """(the cached request's text, the query's text), as the judge reads them."""
        assert self.decision.uncertain is not None
        return self.decision.uncertain.text, self.plan.canon.text

    def next(self, verdict: bool | Failure | None) -> State:
        decision, candidate = self.decision, self.decision.uncertain
        if verdict is True and candidate is not None:
            note = Rejection(candidate.id, candidate.similarity, "judge", "the judge said yes")
            served = replace(
                decision,
                hit=True,
                kind=HitKind.SEMANTIC,
                reason=None,
                candidate=candidate,
                rejections=(*decision.rejections, note),
                uncertain=None,
            )
            return _decided(self.plan, self.vector, served, self.failed)
        failed = (*self.failed, "judge") if isinstance(verdict, Failure) else self.failed
        why = "the judge said no" if verdict is False else "the judge gave no verdict"
        if candidate is not None:
            note = Rejection(candidate.id, candidate.similarity, "judge", why)
            decision = replace(decision, rejections=(*decision.rejections, note))
        return _decided(self.plan, self.vector, replace(decision, uncertain=None), failed)


def _decided(plan: Plan, vector: Vector, decision: Decision, failed: tuple[str, ...]) -> Finished:
    """The lookup a decision makes: the served candidate's answer, or a miss and its reason."""
    candidate = decision.candidate
    if decision.hit and candidate is not None:
        try:
            response = candidate.answer()
        except ValueError:  # a corrupt stored answer: never served, fail open
            return _finish(plan, (*failed, "vector_index"), MissReason.BACKEND_ERROR)
        lookup = plan.result(
            hit=True,
            kind=HitKind.SEMANTIC,
            response=response,
            entry_id=candidate.id,
            similarity=candidate.similarity,
            candidate_text=candidate.text,
            decision=decision,
            failed_backends=failed,
            created_at=_float(candidate.metadata.get("created_at")),
        )
        return Finished(lookup, vector)
    lookup = plan.result(
        reason=decision.reason or MissReason.NO_CANDIDATES,
        decision=decision,
        similarity=decision.similarity,
        entry_id=None if candidate is None else candidate.id,
        candidate_text=None if candidate is None else candidate.text,
        failed_backends=failed,
    )
    return Finished(lookup, vector)


State = ProbeExact | Embed | Search | Decide | AskJudge | Finished


def begin(plan: Plan) -> State:
    """The first state of a lookup."""
    if plan.skip_lookup or plan.policy == "bypass":
        return Finished(plan.result(reason=MissReason.BYPASSED))
    return ProbeExact(plan)


# -- what a miss stores -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoreWrite:
    """Everything a store writes, computed once: the vector entry (when the request is
    semantically cacheable), and the exact layer's payload with its TTL."""

    namespace: str
    key: str
    payload: bytes
    ttl_s: float | None
    entry: CacheEntry | None = None
    vector: Vector | None = None
    needs_vector: bool = False  # an entry, but the lookup made no vector: embed entry.text

    def with_vector(self, vector: Vector) -> StoreWrite:
        return replace(self, vector=vector, needs_vector=False)


def store_plan(
    canon: CanonicalRequest,
    policy: NondeterministicPolicy,
    response: Any,
    *,
    ttl_s: float | None,
    now: float,
    vector: Vector | None = None,
) -> StoreWrite:
    """What storing ``response`` for ``canon`` writes (the answer serialised once).

    Raises :class:`~semcached.errors.InvalidRequestError` (field ``response``) when the answer
    is not JSON that reads back unchanged.
    """
    text = jsonio.encode_text(response, field="response")
    entry = None
    if canon.text and policy == "cache":
        entry = CacheEntry(
            id=canon.exact_key,
            namespace=canon.namespace,
            scope_key=canon.scope_key,
            model=canon.model,
            text=canon.text,
            response_json=text,
            created_at=now,
            expires_at=None if ttl_s is None else now + ttl_s,
        )
    return StoreWrite(
        namespace=canon.namespace,
        key=canon.exact_key,
        payload=exact_payload(canon.exact_key, text, now),
        ttl_s=ttl_s,
        entry=entry,
        vector=vector if entry is not None else None,
        needs_vector=entry is not None and vector is None,
    )


def exact_payload(entry_id: str, response_json: str, created_at: float) -> bytes:
    """The exact layer's value: the entry id, when it was made, and the answer (as stored)."""
    head = jsonio.encode({"id": entry_id, "created_at": created_at})
    return head[:-1] + b',"response":' + response_json.encode("utf-8") + b"}"


def read_exact_payload(raw: bytes) -> Mapping[str, Any] | None:
    """The exact layer's value parsed, or ``None`` when it is not one (never served)."""
    try:
        payload = jsonio.decode(raw)
    except ValueError:
        return None
    if isinstance(payload, dict) and "response" in payload:
        return payload
    return None


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
