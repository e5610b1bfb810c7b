"""``semcached eval-cache`` and ``semcached calibrate`` end to end on the bundled sample, through
the real cache and the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from semcached import factory
from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.policy.guards import GUARD_NAMES
from semcached.quality.metrics import metrics_at
from semcached.quality.pairs import sample_pairs_path
from semcached.quality.replay import build_replay_cache, evaluate_path
from semcached.service.cli.main import main
from semcached.settings import Settings

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def shared_vectors(st_embedder: SentenceTransformerEmbedder) -> CachedEmbedder:
    """One text-to-vector cache for the module: the sample is embedded once."""
    return CachedEmbedder(st_embedder, max_entries=10_000)


@pytest.fixture
def cli_env(
    shared_vectors: CachedEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The CLI on the session's model, with a config file of its own."""
    monkeypatch.setattr(factory, "build_embedder", lambda settings: shared_vectors)
    config = tmp_path / "semcached.json"
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", str(config))
    for name in ("SEMCACHED_THRESHOLD", "SEMCACHED_NAMESPACE_THRESHOLDS"):
        monkeypatch.delenv(name, raising=False)
    return config


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_eval_cache_prints_every_table(cli_env: Path) -> None:
    out = run("eval-cache", str(sample_pairs_path()))
    assert "60 lookups (pairs; 30 should hit)" in out
    assert "false-hit rate" in out and "precision" in out and "F1" in out
    assert "configured policy (threshold 0.9000" in out and "verifier on)" in out
    assert "reliability" in out


def test_eval_cache_json_is_consistent(cli_env: Path) -> None:
    """The policy row, measured by its own lookups, equals the row derived at its threshold."""
    body = json.loads(run("eval-cache", str(sample_pairs_path()), "--json"))
    assert body["mode"] == "pairs" and body["lookups"] == 60 and body["positives"] == 30
    by_threshold = {row["threshold"]: row for row in body["verified"]}
    policy = body["policy"]["threshold"]
    assert policy == 0.9
    assert body["policy"]["hits"] == by_threshold[policy]["hits"]
    assert body["policy"]["correct_hits"] == by_threshold[policy]["correct_hits"]
    for verified, cosine in zip(body["verified"], body["cosine_only"], strict=True):
        assert verified["hits"] <= cosine["hits"]
        assert 0 <= verified["precision"] <= 1 and 0 <= verified["f1"] <= 1
    assert set(body["rejections"]) <= {*GUARD_NAMES, "segments", "pair_model"}


def test_no_verify_equals_cosine_only(cli_env: Path) -> None:
    body = json.loads(run("eval-cache", str(sample_pairs_path()), "--json", "--no-verify"))
    assert body["guards"] == []
    assert body["verified"] == body["cosine_only"]


def test_derived_thresholds_match_real_lookups(shared_vectors: CachedEmbedder) -> None:
    """A replay at the floor predicts exactly what a lookup at a higher threshold does."""
    settings = Settings(threshold=0.9)
    cache = build_replay_cache(settings, embedder=shared_vectors)
    replay = evaluate_path(sample_pairs_path(), settings, cache=cache, floor=0.5)
    derived = metrics_at(replay, 0.9)
    assert sum(o.policy_hit for o in replay.outcomes) == derived.hits
    assert sum(o.policy_hit and o.policy_correct for o in replay.outcomes) == derived.correct_hits


def test_eval_cache_reads_tsv_csv_and_gptcache_json(cli_env: Path, tmp_path: Path) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "id\tsentence1\tsentence2\tlabel\n"
        "1\tAlice paid Bob .\tBob paid Alice .\t0\n"
        "2\tHow do I reset my password ?\tHow can I reset my password ?\t1\n"
    )
    body = json.loads(run("eval-cache", str(tsv), "--json"))
    assert body["lookups"] == 2 and body["positives"] == 1
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        "question1,question2,is_duplicate\nWhat is 2+2?,What is two plus two?,1\n"
        "Is Paris in France?,Is Lyon in France?,0\n"
    )
    assert json.loads(run("eval-cache", str(csv), "--json"))["lookups"] == 2
    mock = tmp_path / "mock.json"
    mock.write_text(
        json.dumps(
            [
                {
                    "origin": "How do I reset my password?",
                    "similar": "How can I reset my password?",
                },
                {
                    "origin": "What is the capital of France?",
                    "similar": "Which city is France's capital?",
                },
                {"origin": "How do I bake bread?", "similar": "What is a recipe for baking bread?"},
            ]
        )
    )
    body = json.loads(run("eval-cache", str(mock), "--json"))
    assert body["mode"] == "retrieval" and body["lookups"] == 3
    at_floor = body["verified"][0]
    assert at_floor["correct_hits"] >= 2 and at_floor["false_hits"] == 0


def test_eval_cache_bad_file_is_a_clear_error(cli_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y"}\n')
    result = CliRunner().invoke(main, ["eval-cache", str(bad)])
    assert result.exit_code != 0
    assert "bad.jsonl:1" in result.output and "label" in result.output


def test_calibrate_writes_the_threshold_with_its_interval(cli_env: Path) -> None:
    out = run("calibrate", str(sample_pairs_path()), "--target-precision", "0.9")
    assert "95% Wilson interval" in out
    config = json.loads(cli_env.read_text())
    threshold = config["threshold"]
    assert 0.8 <= threshold <= 1.0
    assert Settings().threshold == threshold  # picked up by every Settings() from now on
    # and measuring the configured policy now shows the calibrated precision
    body = json.loads(run("eval-cache", str(sample_pairs_path()), "--json"))
    assert body["policy"]["threshold"] == threshold
    assert body["policy"]["precision"] >= 0.9


def test_calibrate_per_namespace_and_dry_run(cli_env: Path) -> None:
    body = json.loads(
        run("calibrate", str(sample_pairs_path()), "--target-precision", "0.85",
            "--namespace", "support", "--json")
    )  # fmt: skip
    assert body["ok"] and body["namespace"] == "support"
    assert json.loads(cli_env.read_text()) == {
        "namespace_thresholds": {"support": body["threshold"]}
    }
    assert Settings().namespace_thresholds == {"support": body["threshold"]}
    before = cli_env.read_text()
    out = run("calibrate", str(sample_pairs_path()), "--target-precision", "0.8", "--dry-run")
    assert "nothing written" in out and cli_env.read_text() == before


def test_calibrate_unreachable_target_fails_clearly(cli_env: Path, tmp_path: Path) -> None:
    """Identical texts labelled different: every threshold serves them (exact hits), so no
    threshold reaches any precision."""
    pairs = tmp_path / "wrong.jsonl"
    pairs.write_text(
        "".join(json.dumps({"a": q, "b": q, "label": 0}) + "\n" for q in ("Is it open?", "Why?"))
    )
    result = CliRunner().invoke(main, ["calibrate", str(pairs), "--target-precision", "0.5"])
    assert result.exit_code != 0
    assert "lower the target" in result.output
    assert not cli_env.exists()  # nothing written


def test_import_stores_every_pair_in_batches(
    cli_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`semcached import FILE` on the configured (embedded) stores, then a lookup finds them."""
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path / "data"))
    rows = [
        {
            "request": {"model": "m", "messages": [{"role": "user", "content": f"Seed {i}?"}]},
            "response": {"answer": i},
        }
        for i in range(5)
    ]
    seed = tmp_path / "seed.jsonl"
    seed.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = run("import", str(seed), "--namespace", "seeded", "--batch-size", "2")
    assert "stored 5 of 5 answers in namespace 'seeded'" in out
    from semcached.engine.cache import SemanticCache

    with SemanticCache(Settings()) as cache:
        found = cache.lookup(rows[3]["request"], namespace="seeded")
    assert found.hit and found.response == {"answer": 3}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request": {"model": "m"}}\n')
    result = CliRunner().invoke(main, ["import", str(bad)])
    assert result.exit_code != 0 and "bad.jsonl:1" in result.output
