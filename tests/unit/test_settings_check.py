"""Typos in settings are refused with a suggestion; nothing valid is refused."""

from __future__ import annotations

from semcached.settings_check import NOT_SETTINGS, unknown_settings


def test_every_real_setting_and_tool_variable_is_accepted() -> None:
    environ = {
        "SEMCACHED_THRESHOLD": "0.9",
        "SEMCACHED_VERIFIER__MIN_SCORE": "0.7",
        "SEMCACHED_SERVICE__STRICT_READINESS": "true",
        "SEMCACHED_CHROMA__HTTP_TIMEOUT_S": "3",
        "SEMCACHED_VERIFIER": "{}",  # a whole nested model as JSON
        "OTHER_THING": "x",
        **dict.fromkeys(NOT_SETTINGS, "x"),
    }
    config = {
        "threshold": 0.9,
        "namespace_thresholds": {"any-name": 0.8},
        "verifier": {"min_score": 0.6},
    }
    assert unknown_settings(environ, config) == []


def test_typos_are_named_with_the_nearest_setting() -> None:
    problems = unknown_settings(
        {"SEMCACHED_TRESHOLD": "0.9", "SEMCACHED_REDIS__TIMEOUT": "1", "SEMCACHED_ZZZ": "1"},
        {"verifier": {"min_scor": 0.5}, "thresold": 0.9},
    )
    assert (
        "SEMCACHED_TRESHOLD is not a semcached setting (did you mean SEMCACHED_THRESHOLD?)"
        in problems
    )
    assert any(
        p.startswith("SEMCACHED_REDIS__TIMEOUT ") and "SEMCACHED_REDIS__TIMEOUT_S" in p
        for p in problems
    )
    assert "SEMCACHED_ZZZ is not a semcached setting" in problems
    assert (
        "config key 'verifier.min_scor' is not a semcached setting (did you mean min_score?)"
        in problems
    )
    assert "config key 'thresold' is not a semcached setting (did you mean threshold?)" in problems
