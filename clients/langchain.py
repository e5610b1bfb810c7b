"""A LangChain cache (``langchain_core.caches.BaseCache``) backed by semcached.

``pip install 'semcached[langchain]'``, then::

    from langchain_core.globals import set_llm_cache
    from semcached import SemanticCache
    from semcached.clients.langchain import SemcachedCache

    set_llm_cache(SemcachedCache(SemanticCache()))       # or per model: ChatX(cache=...)

Every chat model and LLM then asks semcached first: the identical call is an exact hit, a
reworded last message a semantic hit judged by the verifier (``semantic=False`` for exact
only). The model and every parameter LangChain puts in ``llm_string`` are part of the scope,
so another model, temperature or tool set never shares an answer. LangChain's serialised
messages are read as chat messages (system, user, assistant, tool), so the system prompt and
the conversation before the last user message must match exactly, as in the proxy.
Generations are stored as plain JSON (text, message dicts, generation info) and rebuilt with
``messages_from_dict``: nothing stored is ever unpickled or loaded as arbitrary objects.

``AsyncSemanticCache`` works too (``alookup``/``aupdate`` await it; the sync methods then run
it in a private event loop, for the sync LangChain API).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import xxhash

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import SemanticCache

try:
    from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
    from langchain_core.messages import messages_from_dict, messages_to_dict
    from langchain_core.outputs import ChatGeneration, Generation
except ImportError as exc:  # pragma: no cover - the optional extra is missing
    raise ImportError(
        "semcached.clients.langchain needs LangChain: pip install 'semcached[langchain]'"
    ) from exc

__all__ = ["SemcachedCache", "request_for"]

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def _messages(prompt: str) -> list[dict[str, Any]]:
    """LangChain's prompt string as chat messages: a chat model's serialised message list,
    or an LLM's plain prompt (one user message)."""
    try:
        data = json.loads(prompt)
    except ValueError:
        data = None
    if isinstance(data, list) and data and all(isinstance(m, dict) for m in data):
        out = []
        for item in data:
            kwargs = item.get("kwargs") or {}
            kind = kwargs.get("type") or (item.get("id") or [""])[-1].removesuffix("Message")
            role = _ROLES.get(str(kind).lower())
            content = kwargs.get("content")
            if role is None or not isinstance(content, str | list):
                return [{"role": "user", "content": prompt}]  # not messages: compare it whole
            message: dict[str, Any] = {"role": role, "content": content}
            for key in ("tool_calls", "tool_call_id", "name"):
                if kwargs.get(key):
                    message[key] = kwargs[key]
            out.append(message)
        return out
    return [{"role": "user", "content": prompt}]


def request_for(prompt: str, llm_string: str) -> dict[str, Any]:
    """The semcached request a LangChain call is cached as: its messages, and a model name
    that is the digest of ``llm_string`` (the model and all its parameters)."""
    return {
        "model": "langchain/" + xxhash.xxh3_128_hexdigest(llm_string.encode("utf-8", "replace")),
        "temperature": 0,  # llm_string carries the real sampling parameters
        "messages": _messages(prompt),
    }


def _dump(generations: Sequence[Generation]) -> list[dict[str, Any]]:
    out = []
    for g in generations:
        row: dict[str, Any] = {"text": g.text, "generation_info": g.generation_info}
        if isinstance(g, ChatGeneration):
            row["message"] = messages_to_dict([g.message])[0]
        out.append(row)
    return out


def _load(value: Any) -> list[Generation] | None:
    if not isinstance(value, list):
        return None
    out: list[Generation] = []
    for row in value:
        if not isinstance(row, dict):
            return None
        if "message" in row:
            message = messages_from_dict([row["message"]])[0]
            out.append(ChatGeneration(message=message, generation_info=row.get("generation_info")))
        else:
            out.append(
                Generation(text=row.get("text", ""), generation_info=row.get("generation_info"))
            )
    return out


class SemcachedCache(BaseCache):
    """LangChain's cache interface on a :class:`SemanticCache` or :class:`AsyncSemanticCache`."""

    def __init__(
        self,
        cache: SemanticCache | AsyncSemanticCache | None = None,
        *,
        namespace: str | None = None,
        semantic: bool = True,
        ttl_s: float | None = None,
    ) -> None:
        self.cache = cache if cache is not None else SemanticCache()
        self.namespace = namespace
        self.semantic = semantic
        self.ttl_s = ttl_s
        self.loop: asyncio.AbstractEventLoop | None = None

    def _threshold(self) -> float | None:
        return None if self.semantic else 1.0  # only an identical text reaches 1.0

    def _sync(self, coroutine: Any) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(coroutine)

    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The cached generations for this call, or ``None``."""
        request = request_for(prompt, llm_string)
        if isinstance(self.cache, AsyncSemanticCache):
            result = self._sync(
                self.cache.lookup(request, namespace=self.namespace, threshold=self._threshold())
            )
        else:
            result = self.cache.lookup(
                request, namespace=self.namespace, threshold=self._threshold()
            )
        return _load(result.response) if result.hit else None

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations of this call."""
        request = request_for(prompt, llm_string)
        if isinstance(self.cache, AsyncSemanticCache):
            self._sync(
                self.cache.store(
                    request, _dump(return_val), namespace=self.namespace, ttl_s=self.ttl_s
                )
            )
        else:
            self.cache.store(request, _dump(return_val), namespace=self.namespace, ttl_s=self.ttl_s)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        if not isinstance(self.cache, AsyncSemanticCache):
            return await asyncio.to_thread(self.lookup, prompt, llm_string)
        request = request_for(prompt, llm_string)
        result = await self.cache.lookup(
            request, namespace=self.namespace, threshold=self._threshold()
        )
        return _load(result.response) if result.hit else None

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        if not isinstance(self.cache, AsyncSemanticCache):
            await asyncio.to_thread(self.update, prompt, llm_string, return_val)
            return
        request = request_for(prompt, llm_string)
        await self.cache.store(
            request, _dump(return_val), namespace=self.namespace, ttl_s=self.ttl_s
        )

    def clear(self, **kwargs: Any) -> None:
        """Forget the namespace (``namespace=`` another one)."""
        namespace = kwargs.get("namespace", self.namespace)
        if isinstance(self.cache, AsyncSemanticCache):
            self._sync(self.cache.invalidate(namespace))
        else:
            self.cache.invalidate(namespace)

    async def aclear(self, **kwargs: Any) -> None:
        namespace = kwargs.get("namespace", self.namespace)
        if isinstance(self.cache, AsyncSemanticCache):
            await self.cache.invalidate(namespace)
        else:
            await asyncio.to_thread(self.cache.invalidate, namespace)
