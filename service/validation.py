"""Input checks shared by the cache API and the proxy: empty and oversized prompts.

The engine already rejects requests it cannot key (wrong shapes, non-finite numbers); these
checks add what only a service needs: a bound on prompt size, and a clear 422 for a prompt
with nothing in it instead of a silently uncacheable request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semcached.errors import InvalidRequestError
from semcached.service.errors import ApiError

__all__ = ["check_prompt", "prefixed"]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _has_non_text_part(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") not in (None, "text") for part in content
    )


def check_prompt(request: Mapping[str, Any], *, max_chars: int, prefix: str = "") -> None:
    """Raise a 422 :class:`ApiError` for an empty or oversized prompt; ``prefix`` dots fields.

    Example::

        check_prompt({"model": "m", "messages": [{"role": "user", "content": ""}]},
                     max_chars=100_000)    # ApiError 422, field "messages.0.content"
    """
    messages = request.get("messages")
    if isinstance(messages, list):
        total = 0
        last_user: int | None = None
        for index, message in enumerate(messages):
            if not isinstance(message, Mapping):
                continue  # the engine names the field and the fix for wrong shapes
            total += len(_text_of(message.get("content")))
            if message.get("role") == "user":
                last_user = index
        if total > max_chars:
            raise ApiError(
                422,
                "prompt_too_large",
                f"the messages hold {total} characters of text; at most {max_chars} are accepted",
                field=f"{prefix}messages",
                fix="shorten the conversation, or raise SEMCACHED_SERVICE__MAX_PROMPT_CHARS",
            )
        if last_user is not None:
            content = messages[last_user].get("content")
            if not _text_of(content).strip() and not _has_non_text_part(content):
                raise ApiError(
                    422,
                    "empty_prompt",
                    f"the last user message (index {last_user}) has no text",
                    field=f"{prefix}messages.{last_user}.content",
                    fix="send the user's question as non-empty `content`",
                )
        return
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ApiError(
                422,
                "empty_prompt",
                "the prompt is empty",
                field=f"{prefix}prompt",
                fix="send a non-empty prompt",
            )
        if len(prompt) > max_chars:
            raise ApiError(
                422,
                "prompt_too_large",
                f"the prompt is {len(prompt)} characters; at most {max_chars} are accepted",
                field=f"{prefix}prompt",
                fix="shorten the prompt, or raise SEMCACHED_SERVICE__MAX_PROMPT_CHARS",
            )


def prefixed(exc: InvalidRequestError, prefix: str) -> InvalidRequestError:
    """The same error with its field under ``prefix`` (``request.`` in the cache API)."""
    if not prefix or exc.field.startswith(prefix):
        return exc
    field = prefix + exc.field if exc.field != "request" else prefix.rstrip(".")
    clone = InvalidRequestError(str(exc), field=field)
    clone.__cause__ = exc.__cause__
    return clone
