"""Requests, their canonical form, the exact key and the semantic scope.

A request is an OpenAI-style chat request: ``model``, ``messages`` (or a legacy ``prompt``)
and parameters. :func:`canonicalize` turns one into a :class:`CanonicalRequest` holding

* ``exact_key``: xxh3-128 over a canonical JSON of namespace, model, messages and every
  parameter that changes the answer. Two requests that mean the same get the same key (key
  order, ``1`` vs ``1.0``, ``stop="x"`` vs ``stop=["x"]``, an absent parameter vs its
  documented default, ``None`` vs absent); any change of meaning changes it.
* ``scope_key``: the same hash with the text of the last user message blanked out. Semantic
  hits are only possible between requests with equal scope keys, so namespace, model,
  parameters, system prompt, earlier turns of a conversation, attachments and tool results must
  all match exactly; only the last user message is compared by meaning.
* ``text``: what gets embedded, the last user message's text.

The multi-turn rule, stated once: *everything before and after the last user message is part of
the scope and must match exactly*. It is strict on purpose: a follow-up such as "and in
French?" means something different after a different first question, and serving it from
another conversation is a wrong answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import xxhash
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from semcached.errors import InvalidRequestError

__all__ = [
    "ANSWER_NEUTRAL_PARAMS",
    "KEY_VERSION",
    "CanonicalRequest",
    "ChatRequest",
    "canonical_json",
    "canonicalize",
    "hash_key",
]

KEY_VERSION = "semcached/key/v1"

# Parameters that never change the answer: routing, accounting and storage hints. Anything not
# listed here (including parameters invented after this was written) is treated as
# answer-changing, because a spurious miss costs a provider call and a spurious hit costs a
# wrong answer.
ANSWER_NEUTRAL_PARAMS: frozenset[str] = frozenset(
    {"user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"}
)

# OpenAI's documented defaults: sending one of these values means the same as not sending it.
_PARAM_DEFAULTS: dict[str, Any] = {
    "temperature": 1,
    "top_p": 1,
    "n": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "stream": False,
    "logprobs": False,
    "parallel_tool_calls": True,
    "response_format": {"type": "text"},
    "logit_bias": {},
    "stop": [],
    "tools": [],
}

_MARKER = "\u0000semcached:last-user-text\u0000"


class ChatRequest(BaseModel):
    """A typed chat request. Unknown parameters are kept and take part in the key.

    Example::

        req = ChatRequest(model="gpt-4o-mini",
                          messages=[{"role": "user", "content": "Hi"}],
                          temperature=0)
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    model: str = Field(min_length=1, description="The model the provider is asked for.")
    messages: list[dict[str, Any]] | None = Field(
        default=None, description="OpenAI-style chat messages; the last user one is embedded."
    )
    prompt: str | None = Field(default=None, description="A legacy completion prompt.")

    @property
    def params(self) -> dict[str, Any]:
        """Every field other than model, messages and prompt."""
        return dict(self.model_extra or {})


@dataclass(frozen=True, slots=True)
class CanonicalRequest:
    """A request reduced to what the cache needs. Built by :func:`canonicalize`."""

    namespace: str
    model: str
    exact_key: str
    scope_key: str
    text: str
    temperature: float
    params: Mapping[str, Any]

    @property
    def is_deterministic(self) -> bool:
        """True when the provider is asked for a greedy answer (temperature 0)."""
        return self.temperature == 0


def hash_key(data: bytes) -> str:
    """The one hash semcached uses for keys: xxh3-128 as 32 hex characters."""
    return xxhash.xxh3_128_hexdigest(data)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, integral floats as ints, no NaN."""
    return json.dumps(
        _canonical_value(value, "$"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def canonicalize(request: ChatRequest | Mapping[str, Any], namespace: str) -> CanonicalRequest:
    """Reduce ``request`` to its keys and the text to embed.

    Raises :class:`InvalidRequestError` naming the field when the request cannot be cached as
    given (no model, messages of the wrong shape, a non-finite number...).
    """
    if not isinstance(namespace, str) or not namespace:
        raise InvalidRequestError(
            f"namespace must be a non-empty string, got {namespace!r}", field="namespace"
        )
    chat = _as_chat_request(request)
    params = _canonical_params(chat.params)
    if chat.messages is not None:
        messages = [_canonical_message(m, i) for i, m in enumerate(chat.messages)]
        if not messages:
            raise InvalidRequestError("messages must hold at least one message", field="messages")
        body: dict[str, Any] = {"messages": messages}
        text, scoped_messages = _split_last_user_text(messages)
        scope_body: dict[str, Any] = {"messages": scoped_messages}
    elif chat.prompt is not None:
        body = {"prompt": chat.prompt}
        text, scope_body = chat.prompt, {"prompt": _MARKER}
    else:
        raise InvalidRequestError(
            "a request needs `messages` (chat) or `prompt` (completion); neither was given",
            field="messages",
        )
    head = {"v": KEY_VERSION, "namespace": namespace, "model": chat.model, "params": params}
    exact_key = hash_key(canonical_json({**head, **body}).encode())
    scope_key = hash_key(canonical_json({**head, **scope_body, "scope": True}).encode())
    temperature = float(params.get("temperature", _PARAM_DEFAULTS["temperature"]))
    return CanonicalRequest(
        namespace=namespace,
        model=chat.model,
        exact_key=exact_key,
        scope_key=scope_key,
        text=text,
        temperature=temperature,
        params=params,
    )


def _as_chat_request(request: ChatRequest | Mapping[str, Any]) -> ChatRequest:
    if isinstance(request, ChatRequest):
        return request
    if not isinstance(request, Mapping):
        raise InvalidRequestError(
            "a request must be a mapping (an OpenAI-style chat request dict) or a ChatRequest, "
            f"got {type(request).__name__}",
            field="request",
        )
    try:
        return ChatRequest.model_validate(dict(request))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "request"
        raise InvalidRequestError(
            f"invalid request field `{field}`: {first['msg']}", field=field
        ) from exc


def _canonical_params(raw: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if name in ANSWER_NEUTRAL_PARAMS or value is None:
            continue
        canonical = _canonical_value(value, name)
        if name == "stop" and isinstance(canonical, str):
            canonical = [canonical]
        if name in _PARAM_DEFAULTS and canonical == _canonical_value(_PARAM_DEFAULTS[name], name):
            continue
        params[name] = canonical
    temperature = params.get("temperature", _PARAM_DEFAULTS["temperature"])
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise InvalidRequestError(
            f"temperature must be a number, got {temperature!r}", field="temperature"
        )
    return params


def _canonical_message(message: Any, index: int) -> dict[str, Any]:
    where = f"messages.{index}"
    if not isinstance(message, Mapping):
        raise InvalidRequestError(
            f"each message must be an object with `role` and `content`, got "
            f"{type(message).__name__}",
            field=where,
        )
    role = message.get("role")
    if not isinstance(role, str) or not role:
        raise InvalidRequestError(
            f"message {index} needs a string `role` such as 'user'", field=f"{where}.role"
        )
    out: dict[str, Any] = {}
    for name, value in message.items():
        if value is None:
            continue
        if name == "content":
            out["content"] = _canonical_content(value, f"{where}.content")
        else:
            out[name] = _canonical_value(value, f"{where}.{name}")
    return out


def _canonical_content(content: Any, where: str) -> Any:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):
        parts = [_canonical_value(p, f"{where}.{i}") for i, p in enumerate(content)]
        # A single text part means exactly the same as a plain string.
        if len(parts) == 1 and _is_text_part(parts[0]):
            return parts[0]["text"]
        return parts
    raise InvalidRequestError(
        f"message content must be a string or a list of content parts, got "
        f"{type(content).__name__}",
        field=where,
    )


def _is_text_part(part: Any) -> bool:
    return (
        isinstance(part, dict)
        and part.get("type") == "text"
        and isinstance(part.get("text"), str)
        and set(part) == {"type", "text"}
    )


def _split_last_user_text(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The last user message's text, and the messages with that text replaced by a marker."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if message.get("role") != "user":
            continue
        content = message.get("content", "")
        scoped = dict(message)
        if isinstance(content, str):
            text, scoped["content"] = content, _MARKER
        else:
            texts = [p["text"] for p in content if _is_text_part(p)]
            text = "\n".join(texts)
            # Non-text parts (images, audio, files) stay in the scope: same words about a
            # different picture must not hit.
            scoped["content"] = [p if not _is_text_part(p) else _MARKER for p in content]
        return text, [*messages[:index], scoped, *messages[index + 1 :]]
    return "", messages


def _canonical_value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError(f"numbers must be finite, got {value!r}", field=where)
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidRequestError(f"object keys must be strings, got {key!r}", field=where)
            out[key] = _canonical_value(item, f"{where}.{key}")
        return out
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_canonical_value(item, f"{where}.{i}") for i, item in enumerate(value)]
    raise InvalidRequestError(
        f"values must be JSON (null, bool, number, string, list, object), got "
        f"{type(value).__name__}",
        field=where,
    )
