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
from pydantic import BaseModel, ConfigDict, Field

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
    prompt_chars: int = 0  # characters of text (and names) across the messages or prompt
    empty_field: str | None = None  # where the prompt has no text at all, if it has none
    form: str = "chat"  # "chat" (messages) or "prompt" (a legacy completion prompt)

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
    given (no model, messages of the wrong shape, a non-finite number, text that is not valid
    Unicode...).
    """
    if not isinstance(namespace, str) or not namespace:
        raise InvalidRequestError(
            f"namespace must be a non-empty string, got {namespace!r}", field="namespace"
        )
    model, messages, prompt, raw_params = _parts(request)
    params = _canonical_params(raw_params)
    empty: str | None = None
    if messages is not None:
        canonical = [_canonical_message(m, i) for i, m in enumerate(messages)]
        if not canonical:
            raise InvalidRequestError("messages must hold at least one message", field="messages")
        body: dict[str, Any] = {"messages": canonical}
        text, scoped_messages, last_user = _split_last_user_text(canonical)
        scope_body: dict[str, Any] = {"messages": scoped_messages}
        chars = sum(_message_chars(m) for m in canonical)
        no_text = last_user is not None and not text.strip()
        if no_text and last_user is not None and not _has_non_text_part(canonical[last_user]):
            empty = f"messages.{last_user}.content"
    elif prompt is not None:
        body = {"prompt": prompt}
        text, scope_body = prompt, {"prompt": _MARKER}
        chars = len(prompt)
        if not prompt.strip():
            empty = "prompt"
    else:
        raise InvalidRequestError(
            "a request needs `messages` (chat) or `prompt` (completion); neither was given",
            field="messages",
        )
    head = {"v": KEY_VERSION, "namespace": namespace, "model": model, "params": params}
    exact_key = _hash_checked({**head, **body})
    scope_key = _hash_checked({**head, **scope_body, "scope": True})
    temperature = float(params.get("temperature", _PARAM_DEFAULTS["temperature"]))
    return CanonicalRequest(
        namespace=namespace,
        model=model,
        exact_key=exact_key,
        scope_key=scope_key,
        text=text,
        temperature=temperature,
        params=params,
        prompt_chars=chars,
        empty_field=empty,
        form="chat" if messages is not None else "prompt",
    )


def _hash_checked(value: dict[str, Any]) -> str:
    text = canonical_json(value)
    try:
        return hash_key(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        where = _surrogate_field(value, "") or "request"
        raise InvalidRequestError(
            f"`{where}` holds a lone surrogate ({text[exc.start : exc.end]!r}), which is not "
            "valid Unicode. Fix: send UTF-8 text",
            field=where,
        ) from exc


def _surrogate_field(value: Any, where: str) -> str | None:
    """The dotted path of the first string holding a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "request"
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in ("v", "scope"):
                continue
            path = key if where in ("", "params") else f"{where}.{key}"
            found = _surrogate_field(key, path) or _surrogate_field(item, path)
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _surrogate_field(item, f"{where}.{i}")
            if found:
                return found
    return None


def _parts(
    request: ChatRequest | Mapping[str, Any],
) -> tuple[str, list[Any] | None, str | None, dict[str, Any]]:
    """(model, messages, prompt, other parameters), checked for their basic shape."""
    if isinstance(request, ChatRequest):
        return request.model, request.messages, request.prompt, request.params
    if not isinstance(request, Mapping):
        raise InvalidRequestError(
            "a request must be a mapping (an OpenAI-style chat request dict) or a ChatRequest, "
            f"got {type(request).__name__}",
            field="request",
        )
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError(
            f"invalid request field `model`: expected the model's name as a non-empty string, "
            f"got {model!r}",
            field="model",
        )
    messages = request.get("messages")
    if messages is not None and (
        isinstance(messages, str | bytes | Mapping) or not isinstance(messages, Sequence)
    ):
        raise InvalidRequestError(
            f"invalid request field `messages`: expected a list of messages, got "
            f"{type(messages).__name__}",
            field="messages",
        )
    prompt = request.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise InvalidRequestError(
            f"invalid request field `prompt`: expected a string, got {type(prompt).__name__}",
            field="prompt",
        )
    params = {k: v for k, v in request.items() if k not in ("model", "messages", "prompt")}
    return model, None if messages is None else list(messages), prompt, params


def _message_chars(message: Mapping[str, Any]) -> int:
    name = message.get("name")
    chars = len(name) if isinstance(name, str) else 0
    content = message.get("content")
    if isinstance(content, str):
        return chars + len(content)
    if isinstance(content, list):
        chars += sum(
            len(p["text"])
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return chars


def _has_non_text_part(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") not in (None, "text") for part in content
    )


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


def _split_last_user_text(
    messages: list[dict[str, Any]],
) -> tuple[str, list[dict[str, Any]], int | None]:
    """The last user message's text, the messages with that text replaced by a marker, and
    that message's index."""
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
        return text, [*messages[:index], scoped, *messages[index + 1 :]], index
    return "", messages, None


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
