"""Credentials never shown: URLs with their password masked, and a logging filter that masks
any credentialed URL in a log line (``redis://user:s3cret@host`` becomes
``redis://user:***@host``).

Example::

    redact_url("http://admin:s3cret@chroma:8000")   # 'http://admin:***@chroma:8000'
    logging.getLogger().addFilter(RedactingFilter())
"""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "redact_text", "redact_url"]

# scheme://userinfo@ up to the authority's last "@" (a password may contain "@").
_CREDENTIALS = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s?#]*)@")


def redact_url(url: str) -> str:
    """``url`` with any password (or a bare token in the user part) shown as ``***``."""
    return redact_text(url)


def _mask(match: re.Match[str]) -> str:
    user, colon, _ = match.group("userinfo").partition(":")
    if not colon:  # scheme://token@host: the token is the secret
        return f"{match.group('scheme')}***@"
    return f"{match.group('scheme')}{user}:***@"


def redact_text(text: str) -> str:
    """Every credentialed URL in ``text`` masked."""
    return _CREDENTIALS.sub(_mask, text)


class RedactingFilter(logging.Filter):
    """Masks credentialed URLs in every record it sees (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = redact_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
