"""Credentials masked in URLs, log lines and JSON logs; logging configured in one place."""

from __future__ import annotations

import json
import logging

from hypothesis import given
from hypothesis import strategies as st

from semcached.redaction import RedactingFilter, redact_text, redact_url
from semcached.service.logs import JsonFormatter

secrets_ = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.~!$&'()*+,;=%", min_size=4
)


def test_known_urls() -> None:
    assert redact_url("http://admin:s3cret@chroma:8000") == "http://admin:***@chroma:8000"
    assert redact_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url("https://token@h/x") == "https://***@h/x"
    assert redact_url("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert redact_url("http://h:1/a@b?q=c@d") == "http://h:1/a@b?q=c@d"  # no userinfo


@given(user=st.from_regex(r"[a-z]{1,8}", fullmatch=True), password=secrets_)
def test_a_password_never_survives(user: str, password: str) -> None:
    url = f"redis://{user}:{password}@cache.internal:6379/0"
    assert redact_url(url) == f"redis://{user}:***@cache.internal:6379/0"
    line = redact_text(f"connect to {url} failed; retrying {url}")
    assert line.count("***") == 2


def test_the_filter_masks_messages_and_arguments() -> None:
    record = logging.LogRecord(
        "semcached", logging.WARNING, __file__, 1, "cannot reach %s: %s", ("http://u:pw@h:1", "x"),
        None,
    )  # fmt: skip
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "cannot reach http://u:***@h:1: x"
    body = json.loads(JsonFormatter().format(record))
    assert body["level"] == "warning" and body["logger"] == "semcached"
    assert body["message"] == "cannot reach http://u:***@h:1: x" and body["ts"].endswith("Z")
