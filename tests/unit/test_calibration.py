"""Calibration: the operating point meets the target with the most hits, never more hits for a
stricter target, and is written to the config file Settings read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.policy.decision import Candidate, Rejection
from semcached.policy.verifier import Verdict, Verifier
from semcached.quality.calibration import choose_operating_point, grid, read_config, write_threshold
from semcached.quality.metrics import Outcome, Replay, metrics_at, served_at, wilson
from semcached.settings import Settings, config_file_path
from tests.strategies import labelled_outcomes


class ConstantScorer:
    """Stands in for the pair model in replays built by hand (the scores are in the verdicts)."""

    name = "verifier"

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [0.0] * len(pairs)


def _outcome(i: int, sim: float, label: int, passed: bool, score: float | None) -> Outcome:
    candidate = Candidate(f"{i:032x}", sim, "cached text")
    veto = None if passed else Rejection(candidate.id, sim, "numbers", "numbers differ")
    verdict = Verdict(candidate, veto=veto, judged=("cached text", "query"), score=score)
    return Outcome(
        label=label,
        top_similarity=sim,
        top_correct=label == 1,
        verdicts=(verdict,),
        closest=candidate,
    )


def make_replay(rows: list[tuple[float, int, bool]], floor: float = 0.0) -> Replay:
    """A pairs replay without a pair model: (similarity, label, passed the rules)."""
    outcomes = [
        _outcome(i, sim, label, passed, None) for i, (sim, label, passed) in enumerate(rows)
    ]
    return Replay(
        mode="pairs", outcomes=outcomes, floor=floor, policy_threshold=0.9, verifier=Verifier()
    )


def test_wilson_interval_known_values() -> None:
    low, high = wilson(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-3)
    assert high == pytest.approx(0.9785, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(10, 10)[1] == 1.0


def test_picks_the_lowest_threshold_meeting_the_target() -> None:
    rows = [(0.99, 1, True), (0.97, 1, True), (0.95, 0, True), (0.93, 1, True), (0.91, 0, True)]
    point = choose_operating_point(make_replay(rows), 0.75, thresholds=[0.9, 0.92, 0.94, 0.96])
    assert point is not None
    assert point.threshold == 0.92  # 3 right of 4 hits; 0.90 would be 3 of 5
    assert point.metrics.precision == 0.75
    low, high = point.precision_interval
    assert low < 0.75 < high
    assert "Wilson" in point.describe()


def test_conservative_requires_the_interval_to_meet_the_target() -> None:
    rows = [(0.99, 1, True)] * 5
    replay = make_replay(rows)
    assert choose_operating_point(replay, 0.9, thresholds=[0.95]) is not None
    assert choose_operating_point(replay, 0.9, thresholds=[0.95], conservative=True) is None


def test_unreachable_target_is_none() -> None:
    replay = make_replay([(0.99, 0, True), (0.95, 1, True)])
    assert choose_operating_point(replay, 0.99, thresholds=[0.9, 0.96]) is None


@settings(max_examples=150, deadline=None)
@given(labelled_outcomes(), st.floats(0.05, 1.0), st.floats(0.05, 1.0), st.booleans())
def test_a_higher_target_never_yields_more_hits(
    rows: list[tuple[float, int, bool]], p1: float, p2: float, conservative: bool
) -> None:
    """Monotone by construction: a stricter target chooses among fewer points."""
    low, high = sorted((p1, p2))
    replay = make_replay(rows)
    thresholds = grid(0.0, 0.05)
    loose = choose_operating_point(replay, low, thresholds=thresholds, conservative=conservative)
    strict = choose_operating_point(replay, high, thresholds=thresholds, conservative=conservative)
    if strict is not None:
        assert loose is not None
        assert strict.metrics.hits <= loose.metrics.hits
        assert strict.metrics.precision + 1e-12 >= high or conservative
    for point, target in ((loose, low), (strict, high)):
        if point is not None and not conservative:
            assert point.metrics.precision + 1e-12 >= target


@settings(max_examples=100, deadline=None)
@given(labelled_outcomes(), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_raising_the_threshold_never_adds_hits(
    rows: list[tuple[float, int, bool]], t1: float, t2: float
) -> None:
    replay = make_replay(rows)
    low, high = sorted((t1, t2))
    for verified in (True, False):
        assert (
            metrics_at(replay, high, verified=verified).hits
            <= metrics_at(replay, low, verified=verified).hits
        )
    # the guards only remove hits
    assert metrics_at(replay, low).hits <= metrics_at(replay, low, verified=False).hits


def test_write_threshold_keeps_other_settings(tmp_path: Path) -> None:
    path = tmp_path / "semcached.json"
    path.write_text(json.dumps({"top_k": 7, "namespace_thresholds": {"a": 0.9}}))
    write_threshold(path, 0.93)
    write_threshold(path, 0.97, namespace="support")
    config = read_config(path)
    assert config == {
        "top_k": 7,
        "threshold": 0.93,
        "namespace_thresholds": {"a": 0.9, "support": 0.97},
    }


def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "semcached.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        read_config(path)
    path.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_threshold(path, 0.9)


def test_settings_read_the_config_file_and_env_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calibrated threshold is picked up by Settings; SEMCACHED_* variables still win."""
    path = tmp_path / "conf.json"
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", str(path))
    monkeypatch.delenv("SEMCACHED_THRESHOLD", raising=False)
    write_threshold(path, 0.91, namespace="support")
    write_threshold(path, 0.88)
    settings = Settings()
    assert settings.threshold == 0.88
    assert settings.namespace_thresholds == {"support": 0.91}
    monkeypatch.setenv("SEMCACHED_THRESHOLD", "0.97")
    assert Settings().threshold == 0.97


def test_config_file_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEMCACHED_CONFIG_FILE", raising=False)
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path))
    assert config_file_path() == tmp_path / "semcached.json"
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", "")
    assert config_file_path() is None
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", str(tmp_path / "x.json"))
    assert config_file_path() == tmp_path / "x.json"


def make_scored_replay(rows: list[tuple[float, int, bool, float]], min_score: float) -> Replay:
    """A pairs replay with a pair model: (similarity, label, passed the rules, its score)."""
    outcomes = [
        _outcome(i, sim, label, passed, score if passed else None)
        for i, (sim, label, passed, score) in enumerate(rows)
    ]
    verifier = Verifier(scorer=ConstantScorer(), min_score=min_score)
    return Replay(
        mode="pairs", outcomes=outcomes, floor=0.0, policy_threshold=0.9, verifier=verifier
    )


scored_rows = st.lists(
    st.tuples(st.floats(0.0, 1.0), st.integers(0, 1), st.booleans(), st.floats(0.0, 1.0)),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(scored_rows, st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_raising_the_minimum_score_never_adds_hits(
    rows: list[tuple[float, int, bool, float]], s1: float, s2: float, threshold: float
) -> None:
    replay = make_scored_replay(rows, 0.5)
    low, high = sorted((s1, s2))
    assert (
        metrics_at(replay, threshold, min_score=high).hits
        <= metrics_at(replay, threshold, min_score=low).hits
        <= metrics_at(replay, threshold, min_score=0.0).hits
    )
    # by default the configured minimum applies; cosine alone ignores the pair model
    assert metrics_at(replay, threshold) == metrics_at(replay, threshold, min_score=0.5)
    unscored = metrics_at(replay, threshold, verified=False, min_score=1.0)
    assert unscored.hits == sum(1 for r in rows if r[0] >= threshold)


@settings(max_examples=100, deadline=None)
@given(scored_rows, st.floats(0.05, 1.0), st.floats(0.05, 1.0))
def test_with_a_pair_model_a_higher_target_never_yields_more_hits(
    rows: list[tuple[float, int, bool, float]], p1: float, p2: float
) -> None:
    low, high = sorted((p1, p2))
    replay = make_scored_replay(rows, 0.5)
    thresholds = grid(0.0, 0.1)
    loose = choose_operating_point(replay, low, thresholds=thresholds)
    strict = choose_operating_point(replay, high, thresholds=thresholds)
    if strict is not None:
        assert loose is not None and strict.metrics.hits <= loose.metrics.hits
        assert strict.min_score is not None
        again = metrics_at(replay, strict.threshold, min_score=strict.min_score)
        assert again == strict.metrics and again.precision + 1e-12 >= high


def test_write_threshold_with_a_minimum_score_keeps_other_verifier_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "semcached.json"
    path.write_text(json.dumps({"verifier": {"checks": ["negation"]}, "redis_url": None}))
    write_threshold(path, 0.9, min_score=0.97, model_path=tmp_path / "model")
    assert json.loads(path.read_text()) == {
        "redis_url": None,
        "threshold": 0.9,
        "verifier": {
            "checks": ["negation"],
            "min_score": 0.97,
            "model_path": str((tmp_path / "model").resolve()),
        },
    }
    with pytest.raises(ValueError, match="min_score"):
        write_threshold(path, 0.9, min_score=1.5)


@settings(max_examples=100, deadline=None)
@given(scored_rows, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_fast_pairs_metrics_equal_the_verifier_selection(
    rows: list[tuple[float, int, bool, float]], threshold: float, min_score: float
) -> None:
    """The vectorised metrics of a pairs replay give what Verifier.select decides, lookup by
    lookup (the same rule, run two ways)."""
    replay = make_scored_replay(rows, 0.5)
    fast = metrics_at(replay, threshold, min_score=min_score)
    served = [served_at(replay, o, threshold, min_score) for o in replay.outcomes]
    hits = [o for o, (entry, _) in zip(replay.outcomes, served, strict=True) if entry is not None]
    assert fast.hits == len(hits)
    assert fast.correct_hits == sum(o.label == 1 for o in hits)
