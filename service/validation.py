"""Input checks only a service needs, made on the canonical request (built once per call).

The engine already rejects requests it cannot key (wrong shapes, non-finite numbers, invalid
Unicode); these add a bound on prompt size and a clear 422 for a prompt with nothing in it
instead of a silently uncacheable request.
"""

from __future__ import annotations

from semcached.errors import InvalidRequestError
from semcached.request import CanonicalRequest
from semcached.service.errors import ApiError

__all__ = ["check_prompt", "prefixed"]


def check_prompt(canon: CanonicalRequest, *, max_chars: int, prefix: str = "") -> None:
    """Raise a 422 :class:`ApiError` for an empty or oversized prompt; ``prefix`` dots fields.

    Example::

        canon = canonicalize({"model": "m", "messages": [{"role": "user", "content": ""}]}, "ns")
        check_prompt(canon, max_chars=100_000)    # ApiError 422, field "messages.0.content"
    """
    chat = canon.form == "chat"
    where = "messages" if chat else "prompt"
    if canon.prompt_chars > max_chars:
        raise ApiError(
            422,
            "prompt_too_large",
            f"the {where} hold{'s' if where == 'prompt' else ''} {canon.prompt_chars} characters "
            f"of text; at most {max_chars} are accepted",
            field=f"{prefix}{where}",
            fix=f"shorten the {'conversation' if chat else 'prompt'}, or raise "
            "SEMCACHED_SERVICE__MAX_PROMPT_CHARS",
        )
    if canon.empty_field is not None:
        what = (
            "the prompt is empty"
            if canon.empty_field == "prompt"
            else (
                f"the last user message ({canon.empty_field.removesuffix('.content')}) has no text"
            )
        )
        raise ApiError(
            422,
            "empty_prompt",
            what,
            field=f"{prefix}{canon.empty_field}",
            fix="send the user's question as non-empty `content`"
            if chat
            else "send a non-empty prompt",
        )


def prefixed(exc: InvalidRequestError, prefix: str) -> InvalidRequestError:
    """The same error with its field under ``prefix`` (``request.`` in the cache API)."""
    if not prefix or exc.field.startswith(prefix):
        return exc
    field = prefix + exc.field if exc.field != "request" else prefix.rstrip(".")
    clone = InvalidRequestError(str(exc), field=field)
    clone.__cause__ = exc.__cause__
    return clone
