"""``semcached ingest``, ``search`` and ``eval-search`` end to end, with the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from semcached.service.cli.main import main

pytestmark = [pytest.mark.model]

SAMPLE = Path(__file__).resolve().parents[2] / "semcached" / "data" / "knowledge_sample.jsonl"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SEMCACHED_CHROMA_URL", raising=False)
    return CliRunner()


def test_ingest_then_search(runner: CliRunner, tmp_path: Path) -> None:
    first = runner.invoke(main, ["ingest", str(SAMPLE), "--collection", "docs"])
    assert first.exit_code == 0, first.output
    assert "31 items (31 written, 0 unchanged" in first.output
    assert "items/s" in first.output

    again = runner.invoke(main, ["ingest", str(SAMPLE), "--collection", "docs", "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert (summary["items"], summary["unchanged"], summary["chunks"]) == (31, 31, 0)

    table = runner.invoke(main, ["search", "forgot my password", "--collection", "docs", "-k", "2"])
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["#", "score", "cosine", "bm25", "id"]
    assert lines[1].split()[-1] == "acct-reset-password"
    assert "To reset your password" in table.stdout

    as_json = runner.invoke(
        main,
        [
            "search",
            "yeast dough",
            "--collection",
            "docs",
            "--mode",
            "lexical",
            "--where",
            '{"topic": "cooking"}',
            "--json",
        ],
    )
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["hits"][0]["id"] == "cook-bread"


def test_ingest_a_folder_of_text_files(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.md").write_text("# Cats\n\nCats sleep most of the day.", encoding="utf-8")
    (folder / "sub" / "b.txt").write_text("Dogs need daily walks.", encoding="utf-8")
    (folder / "skip.bin").write_bytes(b"\x00\x01")
    result = runner.invoke(main, ["ingest", str(folder), "--collection", "notes"])
    assert result.exit_code == 0, result.output
    assert "2 items (2 written" in result.output
    found = runner.invoke(main, ["search", "walking the dog", "--collection", "notes", "--json"])
    assert json.loads(found.stdout)["hits"][0]["id"] == "sub/b.txt"


def test_bad_input_says_what_to_fix(runner: CliRunner, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "text": "ok"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(main, ["ingest", str(broken)])
    assert result.exit_code == 1
    assert "broken.jsonl:2" in result.output and "JSON" in result.output

    runner.invoke(main, ["ingest", str(SAMPLE), "--collection", "docs"])
    bad_where = runner.invoke(
        main, ["search", "x", "--collection", "docs", "--where", '{"year": {"$gtx": 1}}']
    )
    assert bad_where.exit_code == 1
    assert "where.year.$gtx" in bad_where.output
    missing = runner.invoke(main, ["search", "x", "--collection", "nothing"])
    assert missing.exit_code == 1 and "no knowledge collection" in missing.output


def test_eval_search_on_a_tiny_beir_folder(runner: CliRunner, tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    with (beir / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:12]:
            item = json.loads(line)
            corpus.write(json.dumps({"_id": item["id"], "title": "", "text": item["text"]}) + "\n")
    queries = {"q1": "forgot my password", "q2": "error E1045 upload too big", "q3": "bake bread"}
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()),
        encoding="utf-8",
    )
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tacct-reset-password\t1\nq2\terr-e1045\t1\n"
        "q3\tcook-bread\t1\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["eval-search", str(beir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["queries"] == 3 and report["documents"] == 12
    for mode in ("dense", "lexical", "hybrid"):
        figures = report["modes"][mode]
        assert figures["ndcg@10"] > 0.8 and figures["recall@100"] == 1.0
        assert figures["latency_ms_p95"] >= figures["latency_ms_median"] > 0

    table = runner.invoke(
        main,
        [
            "eval-search",
            str(beir),
            "--modes",
            "lexical",
            "--no-warm-up",
            "--data-dir",
            str(tmp_path / "e"),
        ],
    )
    assert table.exit_code == 0, table.output
    assert "nDCG@10" in table.output and "lexical" in table.output
    bad = runner.invoke(main, ["eval-search", str(beir), "--modes", "fuzzy"])
    assert bad.exit_code == 2 and "dense, lexical, hybrid" in bad.output
