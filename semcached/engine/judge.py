"""An optional judge for candidates the verifier is unsure about: one short question to an LLM.

When the pair model scores a candidate just below its minimum (within the verifier's
``judge_band``), the engine may ask a configured cheap model, through the provider, whether the
cached answer to the stored request also answers the new one. :class:`BudgetedJudge` wraps
whatever asks (a function of ``(cached text, query) -> bool``: the service's upstream judge, or
your own client) with what production needs:

* a **timeout**: the question runs in a worker thread and a verdict later than ``timeout_s``
  counts as no verdict (a miss: the request goes to the provider as it would have);
* a **budget**: at most ``max_calls_per_minute`` questions; past it, no verdict;
* a **memo** of verdicts keyed by a 128-bit digest of the pair (no prompt text kept), so a
  repeated near miss costs one question;
* **counters** in the cache's stats: ``judge.calls``, ``judge.yes``, ``judge.no``,
  ``judge.timeouts``, ``judge.errors``, ``judge.over_budget``, ``judge.memo``.

A judge can only turn a near miss into a hit when it says yes; it never overrules a rule's veto
or a document that differs. Off by default.

Example::

    judge = BudgetedJudge(lambda cached, query: my_llm_says_same(cached, query), timeout_s=2)
    cache = SemanticCache(judge=judge, judge_band=0.3)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

import xxhash

from semcached.engine.stats import CacheStats

__all__ = ["JUDGE_PROMPT", "BudgetedJudge", "Judge", "parse_verdict"]

log = logging.getLogger("semcached.judge")

JUDGE_PROMPT = (
    "You check a cache of LLM answers. A user sent REQUEST B; the cache holds an answer written "
    "for REQUEST A. Is an answer that fully and correctly answers A also a fully correct answer "
    "to B, with nothing B asks for different (numbers, names, dates, direction, negation, "
    "format, language, audience, length)? Reply with one word: yes or no."
)


class Judge(Protocol):
    """Asks whether the cached answer to ``cached`` is right for ``query``; ``None`` when it
    could not tell (timeout, budget, failure): then the candidate is not served."""

    def ask(self, cached: str, query: str) -> bool | None: ...


def parse_verdict(text: str) -> bool | None:
    """``yes`` / ``no`` (first word, any case and punctuation) as a verdict, else ``None``."""
    words = text.strip().lower().split()
    first = words[0].strip(".,!:;\"'`*") if words else ""
    return True if first == "yes" else False if first == "no" else None


class BudgetedJudge:
    """A judge bounded by a timeout and a budget, memoized and counted (see the module doc)."""

    def __init__(
        self,
        ask: Callable[[str, str], bool | None],
        *,
        timeout_s: float = 2.0,
        max_calls_per_minute: int = 60,
        memo_size: int = 10_000,
        stats: CacheStats | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_calls_per_minute < 1:
            raise ValueError(f"max_calls_per_minute must be at least 1, got {max_calls_per_minute}")
        self._ask = ask
        self.timeout_s = timeout_s
        self.max_calls_per_minute = max_calls_per_minute
        self.stats = stats or CacheStats()
        self._clock = clock
        self._calls: deque[float] = deque()
        self._memo: OrderedDict[bytes, bool] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(4, thread_name_prefix="semcached-judge")

    def ask(self, cached: str, query: str) -> bool | None:
        key = xxhash.xxh3_128_digest(f"{len(cached)}:{cached}\0{query}".encode("utf-8", "replace"))
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                self.stats.incr("judge.memo")
                return self._memo[key]
            now = self._clock()
            while self._calls and now - self._calls[0] > 60.0:
                self._calls.popleft()
            if len(self._calls) >= self.max_calls_per_minute:
                self.stats.incr("judge.over_budget")
                return None
            self._calls.append(now)
        self.stats.incr("judge.calls")
        future = self._pool.submit(self._ask, cached, query)
        try:
            verdict = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            self.stats.incr("judge.timeouts")
            log.warning("the judge gave no verdict within %.1fs; not serving", self.timeout_s)
            return None
        except Exception as exc:  # a failing judge must never fail the request
            self.stats.incr("judge.errors")
            log.warning("the judge failed, not serving: %s", exc)
            return None
        if verdict is None:
            self.stats.incr("judge.errors")
            return None
        self.stats.incr("judge.yes" if verdict else "judge.no")
        with self._lock:
            self._memo[key] = verdict
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return verdict

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
