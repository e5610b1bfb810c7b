"""The training data of the shipped pair verifier, assembled from sources that allow shipping.

Every pair is turned into what the verifier will read at lookup time
(:func:`semcached.policy.segments.compare`: a short prompt whole, a long one by the parts that
differ), so training and serving see the same inputs. Sources, each tagged in ``source``:

* ``handwritten``: semcached's own labelled prompts, ``benchmarks/data/short_train_*.jsonl``
  (the ``short_dev_*`` files are held out and never read here);
* ``long``: long-prompt pairs built from ``benchmarks/data/long_sources_train.json`` (document
  tasks and RAG templates: the same document with another task, the same task on a document
  that differs late);
* ``synthetic``: template pairs and perturbations of the hand-written prompts
  (:mod:`semcached.quality.synthetic`);
* ``mined``: hard negatives, pairs of *different* hand-written prompts that the embedding model
  nevertheless finds close;
* ``meancache``: MeanCache's multi-turn sets (MIT): a main question and its follow-up are
  different requests;
* optionally ``paws`` and ``gptcache`` (free for any use / MIT), split by sentence or origin so a
  held-out half stays unseen and measures what was not trained on.

Quora pairs are non-commercial: they are never read here.

Example::

    pairs = assemble(Path("benchmarks/data"), shared=Path("../shared/data"), synthetic=40_000)
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from semcached.policy.segments import compare
from semcached.quality.pairs import Pair, load_pairs

__all__ = [
    "TrainPair",
    "assemble",
    "gptcache_held_out",
    "held_out",
    "judged_pair",
    "mined_negatives",
    "paws_held_out",
]

log = logging.getLogger("semcached.quality")


@dataclass(frozen=True, slots=True)
class TrainPair:
    """One training example: what the verifier reads (cached part, query part) and the label."""

    a: str
    b: str
    label: int
    source: str

    def as_pair(self) -> Pair:
        return Pair(self.a, self.b, self.label)


def judged_pair(a: str, b: str) -> tuple[str, str] | None:
    """What the verifier reads for the prompts ``a`` (cached) and ``b`` (query), or ``None``
    when it reads nothing (the same request, or a difference the cache never serves)."""
    return compare(a, b).judged


def held_out(key: str, fraction: float = 0.5, salt: str = "semcached-holdout") -> bool:
    """Whether ``key`` falls in the held-out part of a deterministic split."""
    value = xxhash.xxh3_64_intdigest(f"{salt}\0{key}".encode("utf-8", "surrogatepass"))
    return (value % 10_000) < fraction * 10_000


def _judged(pairs: Iterable[Pair], source: str) -> list[TrainPair]:
    out: list[TrainPair] = []
    for pair in pairs:
        judged = judged_pair(pair.a, pair.b)
        if judged is not None:
            out.append(TrainPair(judged[0], judged[1], pair.label, source))
    return out


def _handwritten(data: Path) -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted(data.glob("short_train_*.jsonl")):
        pairs.extend(load_pairs(path))
    return pairs


def _long(data: Path, seed: int) -> list[Pair]:
    sources = data / "long_sources_train.json"
    if not sources.is_file():
        return []
    import importlib.util

    builder = data.parent / "long_pairs.py"
    spec = importlib.util.spec_from_file_location("semcached_long_pairs", builder)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load the long-pair builder {builder}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.build_pairs(json.loads(sources.read_text(encoding="utf-8")), seed=seed)
    return [Pair(r["a"], r["b"], int(r["label"])) for r in rows]


def _meancache(shared: Path) -> list[Pair]:
    pairs: list[Pair] = []
    folder = shared / "multiturn"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        for row in json.loads(path.read_text(encoding="utf-8")):
            if not isinstance(row, dict):
                continue
            main, follow = row.get("Main Query"), row.get("Follow-Up Query")
            if isinstance(main, str) and isinstance(follow, str) and main != follow:
                pairs.append(Pair(main, follow, 0))  # a follow-up is another question
            for first, second in (("u0", "u0_duplicate"), ("u1", "u1_duplicate")):
                x, y = row.get(first), row.get(second)
                if isinstance(x, str) and isinstance(y, str) and x != y:
                    pairs.append(Pair(x, y, 1))  # MeanCache's own paraphrases
            u0, u1 = row.get("u0"), row.get("u1")
            if isinstance(u0, str) and isinstance(u1, str) and u0 != u1:
                pairs.append(Pair(u0, u1, 0))
    return pairs


def _paws(shared: Path, *, half: bool = False) -> list[Pair]:
    path = shared / "paws" / "dev.tsv"
    if not path.is_file():
        return []
    return [p for p in load_pairs(path) if held_out(_paws_key(p)) == half]


def paws_held_out(shared: Path) -> list[Pair]:
    """The half of PAWS dev that ``build-verifier --paws`` never trains on (for measuring)."""
    return _paws(shared, half=True)


def gptcache_held_out(shared: Path) -> list[tuple[str, str]]:
    """The (origin, paraphrase) rows of GPTCache's set that ``--gptcache`` never trains on."""
    path = shared / "gptcache_mock" / "mock_data.json"
    if not path.is_file():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    return [(r["origin"], r["similar"]) for r in rows if held_out(r["origin"])]


def _paws_key(pair: Pair) -> str:
    # PAWS pairs come in families made from one sentence: split by its sorted words, so a
    # family stays on one side.
    return " ".join(sorted(set(pair.a.lower().split()) | set(pair.b.lower().split()))[:12])


def _gptcache(shared: Path, embed: Callable[[Sequence[str]], np.ndarray]) -> list[Pair]:
    """The training half of GPTCache's set: each origin with its paraphrase (1) and with the
    other origins the model finds closest (0: another origin's answer is the wrong one)."""
    path = shared / "gptcache_mock" / "mock_data.json"
    if not path.is_file():
        return []
    rows = json.loads(path.read_text(encoding="utf-8"))
    kept = [r for r in rows if not held_out(r["origin"])]
    origins = [r["origin"] for r in kept]
    pairs = [Pair(r["origin"], r["similar"], 1) for r in kept]
    vectors = embed([r["similar"] for r in kept])
    stored = embed(origins)
    sims = vectors @ stored.T
    for i in range(len(kept)):
        for j in np.argsort(-sims[i])[:3]:
            if int(j) != i and origins[int(j)] != origins[i]:
                pairs.append(Pair(origins[int(j)], kept[i]["similar"], 0))
    return pairs


def _families(pairs: Sequence[Pair]) -> dict[str, int]:
    """Texts joined by any labelled pair (and texts equal but for case and punctuation) form a
    family: prompts of one family are never mined as negatives of each other."""
    from semcached.policy.segments import normalise

    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        for text in (pair.a, pair.b):
            parent.setdefault(text, text)
            folded = "\0" + normalise(text)
            parent[find(text)] = find(folded)
        parent[find(pair.a)] = find(pair.b)
    roots: dict[str, int] = {}
    return {t: roots.setdefault(find(t), len(roots)) for t in list(parent) if t[:1] != "\0"}


def mined_negatives(
    prompts: Sequence[str],
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    low: float = 0.6,
    high: float = 0.93,
    per_prompt: int = 2,
    groups: Sequence[int] | None = None,
) -> list[Pair]:
    """Pairs of prompts from different labelled pairs (``groups``) that the embedding model
    puts within ``[low, high]``: topically close, asking different things (label 0)."""
    unique = list(dict.fromkeys(prompts))
    group_of = dict(zip(prompts, groups, strict=True)) if groups is not None else {}
    vectors = embed(unique)
    pairs: list[Pair] = []
    for start in range(0, len(unique), 1024):
        sims = vectors[start : start + 1024] @ vectors.T
        for row, i in enumerate(range(start, min(start + 1024, len(unique)))):
            order = np.argsort(-sims[row])
            taken = 0
            for found in order[1:50]:
                j = int(found)
                sim = float(sims[row, j])
                if sim > high:
                    continue
                if sim < low or taken >= per_prompt:
                    break
                if group_of and group_of.get(unique[i]) == group_of.get(unique[j]):
                    continue
                if _near_copy(unique[i], unique[j]):
                    continue  # a reworded copy written for another pair, not a negative
                pairs.append(Pair(unique[j], unique[i], 0))
                taken += 1
    return pairs


def _near_copy(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() > 0.9


def assemble(
    data: Path,
    *,
    shared: Path | None = None,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    synthetic: int = 0,
    perturbations: bool = True,
    perturbed_rewordings: int = 12_000,
    paws: bool = False,
    gptcache: bool = False,
    seed: int = 0,
) -> list[TrainPair]:
    """Every training pair, as the verifier will read it, shuffled deterministically.

    ``synthetic`` template pairs (half of each label); with ``perturbations``, every near miss
    :func:`~semcached.quality.synthetic.perturb` makes of the hand-written prompts and at most
    ``perturbed_rewordings`` of its rewordings (they outnumber the near misses five to one).
    """
    rng = random.Random(seed)
    handwritten = _handwritten(data)
    out = _judged(handwritten, "handwritten")
    out += _judged(_long(data, seed), "long")
    if synthetic or perturbations:
        from semcached.quality import synthetic as synth

        if synthetic:
            generated = synth.generate(synthetic, seed=seed + 1)
            out += _judged((Pair(p.a, p.b, p.label) for p in generated), "synthetic")
        if perturbations:
            prompts = list(dict.fromkeys(t for p in handwritten for t in (p.a, p.b)))
            perturbed = [p for text in prompts for p in synth.perturb(text, rng)]
            rewordings = [p for p in perturbed if p.label == 1]
            rng.shuffle(rewordings)
            kept = [p for p in perturbed if p.label == 0] + rewordings[:perturbed_rewordings]
            out += _judged((Pair(p.a, p.b, p.label) for p in kept), "perturb")
    if embed is not None:
        texts = [t for p in handwritten for t in (p.a, p.b)]
        family = _families(handwritten)
        groups = [family[t] for t in texts]
        out += _judged(mined_negatives(texts, embed, groups=groups, per_prompt=1), "mined")
    if shared is not None:
        out += _judged(_meancache(shared), "meancache")
        if paws:
            out += _judged(_paws(shared), "paws")
        if gptcache and embed is not None:
            out += _judged(_gptcache(shared, embed), "gptcache")
    unique = list({(p.a, p.b): p for p in out}.values())
    rng.shuffle(unique)
    log.info("assembled %d training pairs", len(unique))
    return unique
