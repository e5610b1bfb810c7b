"""Training the cross-encoder verifier on labelled pairs, and measuring and calibrating the cache
with it: the split never leaks a held-out text into training, the trained model plugs into the
verifier, and the minimum score swept from one replay matches real lookups."""

from __future__ import annotations

import gzip
import itertools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached import factory
from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.embeddings.pair_scorer import OnnxPairScorer
from semcached.errors import ModelLoadError
from semcached.policy.decision import Candidate
from semcached.policy.guards import CrossEncoderGuard
from semcached.quality.pairs import Pair, load_pairs, sample_pairs_path
from semcached.quality.training import (
    METADATA_FILE,
    TrainingOptions,
    ranking_quality,
    split_by_question,
    train_cross_encoder,
)
from semcached.service.cli.main import main
from semcached.settings import Settings

# -- the split --------------------------------------------------------------------------------

texts = st.sampled_from([f"question {i}" for i in range(12)] + ["Question  1", "QUESTION 2"])
pair_lists = st.lists(
    st.builds(Pair, a=texts, b=texts, label=st.integers(0, 1)), min_size=0, max_size=40
)


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


@settings(max_examples=200, deadline=None)
@given(pair_lists, st.floats(0.0, 0.99), st.integers(0, 3))
def test_split_by_question_never_shares_a_text(
    pairs: list[Pair], fraction: float, seed: int
) -> None:
    train, holdout = split_by_question(pairs, fraction, seed)
    assert sorted(map(repr, train + holdout)) == sorted(map(repr, pairs))  # nothing lost
    seen = {_fold(t) for p in train for t in (p.a, p.b)}
    assert not any(_fold(t) in seen for p in holdout for t in (p.a, p.b))
    # reproducible, and independent of the order of the file
    assert split_by_question(list(reversed(pairs)), fraction, seed)[1] == list(reversed(holdout))


def test_split_by_question_keeps_roughly_the_fraction() -> None:
    pairs = [Pair(f"q{i}", f"p{i}", i % 2) for i in range(2000)]
    assert split_by_question(pairs, 0.0)[1] == []
    _, holdout = split_by_question(pairs, 0.25)
    assert 400 <= len(holdout) <= 600
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_by_question(pairs, 1.0)


def test_ranking_quality_known_values() -> None:
    auc, points = ranking_quality([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    assert auc == 1.0
    assert points["0.95"] == {"min_score": 0.8, "recall": 1.0}
    # a cut-off at 0.5 keeps both pairs scored 0.5 (precision 2/3), so 0.95 needs 0.9
    _, tied = ranking_quality([0.9, 0.5, 0.5], [1, 1, 0])
    assert tied["0.95"] == {"min_score": 0.9, "recall": 0.5}
    assert ranking_quality([0.1, 0.2], [1, 0])[0] == 0.0
    assert ranking_quality([0.5, 0.5], [1, 0])[0] == 0.5  # ties share their rank
    assert ranking_quality([0.5], [1]) == (None, {})


def test_training_options_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainingOptions(epochs=0)
    with pytest.raises(ValueError, match="max_length"):
        TrainingOptions(max_length=4)
    with pytest.raises(ValueError, match="holdout_fraction"):
        TrainingOptions(holdout_fraction=1.5)


# -- training with the real model -------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A verifier trained by the CLI on the bundled sample (tiny: it tests plumbing, not skill)."""
    out = tmp_path_factory.mktemp("verifier") / "model"
    result = CliRunner().invoke(
        main,
        ["train-verifier", str(sample_pairs_path()), "--out", str(out), "--holdout", "0.3",
         "--epochs", "2", "--max-length", "64", "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["train_pairs"] + report["holdout_pairs"] == 60
    assert report["holdout_pairs"] > 0 and report["holdout_auc"] is not None
    return out


@pytest.mark.model
def test_training_writes_a_model_its_report_and_the_unseen_pairs(trained: Path) -> None:
    assert (trained / "config.json").is_file() and (trained / "model.safetensors").is_file()
    assert (trained / "onnx" / "model.onnx").is_file()  # the int8 export the verifier runs
    report = json.loads((trained / METADATA_FILE).read_text())
    with gzip.open(trained / "holdout.jsonl.gz", "rt") as handle:
        holdout = [json.loads(line) for line in handle]
    assert len(holdout) == report["holdout_pairs"]
    trained_on = {
        _fold(t)
        for p in load_pairs(sample_pairs_path())
        if {"a": p.a, "b": p.b, "label": p.label} not in holdout
        for t in (p.a, p.b)
    }
    assert not any(_fold(row[k]) in trained_on for row in holdout for k in ("a", "b"))


@pytest.mark.model
def test_the_trained_model_plugs_into_the_verifier(trained: Path) -> None:
    guard = CrossEncoderGuard(trained, min_score=0.0)
    assert guard._max_length == 64  # as trained (read from its report)
    query, stored = "How do I reset my password?", "How can I reset my password?"
    score = guard.score(query, stored)
    assert 0.0 <= score <= 1.0
    assert guard.score(query, stored) == score  # memoized
    # scored in a padded batch or alone: the same value (a guard without memo computes both)
    fresh = CrossEncoderGuard(trained, min_score=0.0, memo_size=0)
    batch = fresh.score_many([(query, stored), ("a much longer question about something", "b")])
    assert batch[0] == pytest.approx(score, abs=1e-5)
    candidate = Candidate(id="1", similarity=0.95, text=stored, response={})
    assert guard.check(query, candidate) is None
    strict = CrossEncoderGuard(trained, min_score=1.0)
    assert "cross-encoder score" in (strict.check(query, candidate) or "")


@pytest.mark.model
def test_the_cross_encoder_is_safe_from_many_threads(trained: Path) -> None:
    """Lookups run in worker threads: scores computed concurrently equal the sequential ones,
    and no check fails (a failure would show as a veto)."""
    guard = CrossEncoderGuard(trained, min_score=0.0, memo_size=0)
    pairs = [
        (f"How do I reset password number {i}?", f"Reset password {i} how?") for i in range(48)
    ]
    expected = [guard.score(q, t) for q, t in pairs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda pair: guard.score(*pair), pairs * 3))
    assert got == pytest.approx(expected * 3, abs=1e-5)
    assert all(guard.check(q, Candidate("1", 0.9, t, {})) is None for q, t in pairs[:4])


def test_training_needs_both_labels(tmp_path: Path) -> None:
    pairs = [Pair(f"q{i}", f"p{i}", 1) for i in range(40)]
    with pytest.raises(ValueError, match="both labels"):
        train_cross_encoder(pairs, tmp_path / "m", TrainingOptions(holdout_fraction=0.0))
    assert not (tmp_path / "m").exists()


@pytest.mark.model
def test_train_verifier_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y"}\n')
    result = CliRunner().invoke(main, ["train-verifier", str(bad), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0
    assert "bad.jsonl:1" in result.output and "label" in result.output


@pytest.mark.model
def test_a_model_with_three_labels_is_refused(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, num_labels=3,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError):
        CrossEncoderGuard(tmp_path)


# -- the ONNX pair model, eval-cache and calibrate with it --------------------------------------


@pytest.mark.model
def test_the_onnx_export_scores_like_the_trained_model(trained: Path) -> None:
    """The int8 export the verifier runs agrees with the PyTorch model it came from, and scores
    a pair the same alone or among others (each is run alone: dynamic quantization would
    otherwise make a score depend on its batch)."""
    guard = CrossEncoderGuard(trained, min_score=0.0, memo_size=0)
    scorer = OnnxPairScorer(trained, memo_size=0)  # finds OUT/onnx
    assert scorer.path == trained / "onnx" and scorer.max_length == 64
    pairs = [
        ("How can I reset my password?", "How do I reset my password?"),
        ("What is the capital of France?", "What is the capital of Spain?"),
        ("a much longer question about something else entirely, with more words", "b"),
    ]
    onnx = scorer.score_many(pairs)
    torch_scores = guard.score_many(pairs)  # the same token order
    assert onnx == pytest.approx(torch_scores, abs=0.05)  # int8 weights drift a little
    assert [scorer.score(a, b) for a, b in pairs] == pytest.approx(onnx, abs=1e-5)
    assert all(0.0 <= v <= 1.0 for v in onnx)
    with pytest.raises(ModelLoadError, match="onnx/ folder"):
        OnnxPairScorer(trained.parent)


@pytest.fixture
def cli_env(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    vectors = CachedEmbedder(st_embedder, max_entries=10_000)
    monkeypatch.setattr(factory, "build_embedder", lambda settings: vectors)
    config = tmp_path / "semcached.json"
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", str(config))
    for name in (
        "SEMCACHED_THRESHOLD",
        "SEMCACHED_VERIFIER__MODEL_PATH",
        "SEMCACHED_VERIFIER__MIN_SCORE",
    ):
        monkeypatch.delenv(name, raising=False)
    return config


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.model
def test_eval_cache_sweeps_the_minimum_score_exactly(cli_env: Path, trained: Path) -> None:
    """One replay measures every minimum score; at the configured one, the derived row equals
    the policy's own lookups (the pair model judging for real)."""
    body = json.loads(
        run("eval-cache", str(sample_pairs_path()), "--model", str(trained), "--json")
    )
    model = body["pair_model"]
    assert model is not None and model["policy_min_score"] == Settings().verifier.min_score
    policy = body["policy"]
    key = f"{model['policy_min_score']:g}"
    if key in model["by_min_score"]:
        at_policy = {r["threshold"]: r for r in model["by_min_score"][key]}
        assert policy["hits"] == at_policy[policy["threshold"]]["hits"]
        assert policy["correct_hits"] == at_policy[policy["threshold"]]["correct_hits"]
    by_threshold = {r["threshold"]: r for r in body["verified"]}
    assert policy["hits"] == by_threshold[policy["threshold"]]["hits"]
    # a higher minimum score never serves more
    rows = model["by_min_score"]
    scores = sorted(rows, key=float)
    for low, high in itertools.pairwise(scores):
        for a, b in zip(rows[low], rows[high], strict=True):
            assert b["hits"] <= a["hits"]
    out = run("eval-cache", str(sample_pairs_path()), "--model", str(trained))
    assert "with the pair model" in out


@pytest.mark.model
def test_calibrate_writes_threshold_minimum_score_and_model(cli_env: Path, trained: Path) -> None:
    body = json.loads(
        run("calibrate", str(sample_pairs_path()), "--model", str(trained),
            "--target-precision", "0.8", "--json")
    )  # fmt: skip
    assert body["ok"] and body["min_score"] is not None and body["precision"] >= 0.8
    config = json.loads(cli_env.read_text())
    assert config["threshold"] == body["threshold"]
    assert config["verifier"] == {
        "min_score": body["min_score"],
        "model_path": str(trained.resolve()),
    }
    loaded = Settings()
    assert loaded.verifier.model_path == trained.resolve()
    assert loaded.verifier.min_score == body["min_score"]
    # the configured policy now measures what calibration promised
    policy = json.loads(run("eval-cache", str(sample_pairs_path()), "--json"))["policy"]
    assert policy["hits"] == body["hits"] and policy["precision"] >= 0.8


@pytest.mark.model
def test_calibrate_with_a_model_refuses_a_namespace(cli_env: Path, trained: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["calibrate", str(sample_pairs_path()), "--model", str(trained),
         "--target-precision", "0.8", "--namespace", "support"],
    )  # fmt: skip
    assert result.exit_code != 0 and "without --namespace" in result.output
    result = CliRunner().invoke(
        main, ["eval-cache", str(sample_pairs_path()), "--model", str(trained), "--no-verify"]
    )
    assert result.exit_code != 0 and "drop --no-verify" in result.output
    result = CliRunner().invoke(
        main, ["eval-cache", str(sample_pairs_path()), "--model", str(trained.parent)]
    )
    assert result.exit_code != 0 and "no pair model" in result.output
