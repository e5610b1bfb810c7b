"""Single-flight: concurrent calls with the same key share one execution.

The first caller (the leader) runs the function; callers arriving while it runs wait and get
its result, or its exception. Nothing is remembered once the call ends: caching is the
engine's job, and a failure must never be served to a later caller.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

__all__ = ["AsyncSingleFlight", "SingleFlight"]

T = TypeVar("T")


class _Flight:
    __slots__ = ("done", "error", "result")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Thread-based single-flight. ``run`` returns ``(result, shared)``."""

    def __init__(self) -> None:
        self._flights: dict[str, _Flight] = {}
        self._lock = threading.Lock()

    def run(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.result, True
        try:
            flight.result = fn()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return flight.result, False


class AsyncSingleFlight(Generic[T]):
    """asyncio single-flight. ``run`` returns ``(result, shared)``."""

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Future[T]] = {}

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        existing = self._flights.get(key)
        if existing is not None:
            # shield: a waiter being cancelled must not cancel the leader's call.
            return await asyncio.shield(existing), True
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._flights[key] = future
        try:
            result = await fn()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved so a flight with no waiters logs nothing.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result, False
        finally:
            del self._flights[key]
