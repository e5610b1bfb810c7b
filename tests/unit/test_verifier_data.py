"""The verifier's training data: the held-out halves of the public sets stay unseen, whole."""

from __future__ import annotations

import json
from pathlib import Path

from semcached.quality.pairs import load_pairs
from semcached.quality.verifier_data import (
    _gptcache,
    _paws,
    assemble,
    gptcache_held_out,
    held_out,
    judged_pair,
    paws_held_out,
)


def _shared(tmp_path: Path, families: int = 60) -> Path:
    """A PAWS-shaped TSV (families: one sentence, its word swap, its paraphrase) and a
    GPTCache-shaped JSON list."""
    rows = ["id\tsentence1\tsentence2\tlabel"]
    for i in range(families):
        a = f"The river {i} flows from town {i} to the sea near city {i} ."
        rows.append(
            f"{3 * i}\t{a}\tThe river {i} flows to town {i} from the sea near city {i} .\t0"
        )
        rows.append(
            f"{3 * i + 1}\t{a}\tFrom town {i} the river {i} flows to the sea near city {i} .\t1"
        )
    (tmp_path / "paws").mkdir()
    (tmp_path / "paws" / "dev.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    mock = [
        {"origin": f"How do I fix error {i}?", "similar": f"Fixing error {i}?"} for i in range(80)
    ]
    (tmp_path / "gptcache_mock").mkdir()
    (tmp_path / "gptcache_mock" / "mock_data.json").write_text(json.dumps(mock), encoding="utf-8")
    return tmp_path


def test_paws_halves_are_disjoint_cover_everything_and_keep_families_whole(tmp_path: Path) -> None:
    shared = _shared(tmp_path)
    everything = load_pairs(shared / "paws" / "dev.tsv")
    trained, measured = _paws(shared), paws_held_out(shared)
    assert trained and measured
    assert sorted(map(repr, trained + measured)) == sorted(map(repr, everything))
    trained_sentences = {p.a for p in trained}
    assert not any(p.a in trained_sentences for p in measured)  # a family stays on one side


def test_gptcache_halves_split_by_origin(tmp_path: Path) -> None:
    import numpy as np

    shared = _shared(tmp_path)
    measured = gptcache_held_out(shared)
    assert measured and all(held_out(origin) for origin, _ in measured)

    def embed(texts: object) -> np.ndarray:
        rows = list(texts)  # type: ignore[call-overload]
        rng = np.random.default_rng(0)
        vectors = rng.normal(size=(len(rows), 8))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    trained = _gptcache(shared, embed)
    held = {origin for origin, _ in measured}
    assert trained and not any(p.a in held or p.b in held for p in trained)


def test_assemble_reads_no_held_out_half(tmp_path: Path) -> None:
    shared = _shared(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    pairs = assemble(data, shared=shared, paws=True)
    read = {(p.a, p.b) for p in pairs}
    for pair in paws_held_out(shared):
        judged = judged_pair(pair.a, pair.b)
        assert judged is None or judged not in read
    assert {p.source for p in pairs} == {"paws"}
