"""What :class:`~semcached.clients.Client` and :class:`~semcached.clients.AsyncClient` share.

Everything but the IO: the endpoints and their bodies, the headers (API key, namespace), the
retry policy, and the mapping of the service's JSON errors to semcached's exceptions. Both
clients take ``transport=``, httpx's seam: pass ``httpx.MockTransport(handler)`` in your tests
to answer without a server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from semcached import jsonio
from semcached.engine.flights import Flights
from semcached.errors import (
    AuthenticationError,
    ServiceError,
    ServiceRequestError,
    ServiceUnavailableError,
    ServiceUnreachableError,
)

__all__ = ["DEFAULT_TIMEOUT_S", "BaseClient", "Call", "RetryPolicy", "error_from_response"]

DEFAULT_TIMEOUT_S = 10.0
M = TypeVar("M", bound=BaseModel)

# Errors where the request cannot have reached the service: always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries on connection errors: ``retries`` more attempts, exponential backoff.

    Only failures where the request never reached the service are retried (connection refused,
    connect timeout), so a store or a feedback report is never sent twice.
    """

    retries: int = 2
    backoff_s: float = 0.05
    max_backoff_s: float = 1.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * (2**attempt)))

    def should_retry(self, exc: Exception, attempt: int) -> bool:
        return attempt < self.retries and isinstance(exc, _NOT_SENT)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call, before IO: method, path, JSON body, query parameters."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None


class BaseClient:
    """Configuration, calls and error mapping; subclasses add the IO (sync or async)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        namespace: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must be the service's http(s) URL such as http://127.0.0.1:8080, "
                f"got {base_url!r}"
            )
        self.base_url = base_url.rstrip("/")
        self.namespace = namespace
        self.flights = Flights()  # concurrent identical get_or_call()s share one call
        self.retry = retry or RetryPolicy()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._headers = {"User-Agent": "semcached-client"}
        if api_key:
            self._headers["X-Semcached-Key"] = api_key

    # -- the endpoints, as calls -----------------------------------------------------------

    def _ns(self, namespace: str | None) -> str | None:
        return namespace if namespace is not None else self.namespace

    def _lookup(
        self, request: Mapping[str, Any], namespace: str | None, threshold: float | None
    ) -> Call:
        body: dict[str, Any] = {"request": dict(request)}
        if self._ns(namespace) is not None:
            body["namespace"] = self._ns(namespace)
        if threshold is not None:
            body["threshold"] = threshold
        return Call("POST", "/v1/cache/lookup", json=body)

    def _store(
        self,
        request: Mapping[str, Any],
        response: Any,
        namespace: str | None,
        ttl_s: float | None,
    ) -> Call:
        jsonio.encode(response)  # not JSON: the same InvalidRequestError as in-process
        body: dict[str, Any] = {"request": dict(request), "response": response}
        if self._ns(namespace) is not None:
            body["namespace"] = self._ns(namespace)
        if ttl_s is not None:
            body["ttl_s"] = ttl_s
        return Call("POST", "/v1/cache/store", json=body)

    def _params(self, namespace: str | None) -> dict[str, str] | None:
        ns = self._ns(namespace)
        return None if ns is None else {"namespace": ns}

    def _delete(self, entry_id: str, namespace: str | None) -> Call:
        return Call("DELETE", f"/v1/cache/entries/{entry_id}", params=self._params(namespace))

    def _invalidate(self, namespace: str | None) -> Call:
        return Call("DELETE", "/v1/cache", params=self._params(namespace))

    def _feedback(self, entry_id: str, correct: bool, namespace: str | None) -> Call:
        body: dict[str, Any] = {"entry_id": entry_id, "correct": correct}
        if self._ns(namespace) is not None:
            body["namespace"] = self._ns(namespace)
        return Call("POST", "/v1/cache/feedback", json=body)

    # -- answers -----------------------------------------------------------------------------

    def _parse(self, response: httpx.Response, model: type[M]) -> M:
        self._raise_for_error(response)
        try:
            return model.model_validate(response.json())
        except ValueError as exc:
            raise ServiceError(
                f"expected a {model.__name__} JSON body from {response.request.url}, got "
                f"{response.text[:200]!r}; is base_url a semcached service?",
                status=response.status_code,
                type="bad_response",
            ) from exc

    def _raise_for_error(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        raise error_from_response(response)

    def _unreachable(self, exc: httpx.HTTPError, attempts: int) -> ServiceUnreachableError:
        what = "did not answer in time" if isinstance(exc, httpx.TimeoutException) else "failed"
        return ServiceUnreachableError(
            f"the semcached service at {self.base_url} {what} after {attempts} attempt(s): "
            f"{type(exc).__name__}: {exc}",
            type="unreachable",
            fix="check that `semcached serve` runs there, or raise the client's timeout",
        )


def error_from_response(response: httpx.Response) -> ServiceError:
    """Map a 4xx/5xx answer of the service to the matching semcached exception."""
    status = response.status_code
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or f"HTTP {status}")
        kind, field, fix = error.get("type"), error.get("field"), error.get("fix")
    else:
        message, kind, field, fix = f"HTTP {status}: {response.text[:200]}", None, None, None
    full = f"{message} (fix: {fix})" if fix else message
    args: dict[str, Any] = {"status": status, "type": kind, "field": field, "fix": fix}
    if status in (401, 403):
        return AuthenticationError(full, **args)
    if status in (400, 413, 422):
        return ServiceRequestError(full, **args)
    if status == 503:
        return ServiceUnavailableError(full, **args)
    return ServiceError(full, **args)
