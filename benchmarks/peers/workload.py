"""The workload: stored prompts with a paraphrase each, fresh prompts for misses and bulk inserts,
and the plan of rounds that hands every text to every system exactly once.

Every text is used once per system (each paraphrase is asked once, each miss prompt stored
once, each bulk round inserts prompts never seen before), so no embedding cache, memo or
earlier store can make a later measurement cheaper than the first time a user asks it.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "data"
DATASETS = ("auto", "qqp", "gptcache", "samples")


@dataclass(frozen=True)
class Sizes:
    stored: int
    rounds: int
    exact: int
    paraphrase: int
    miss: int
    bulk_rounds: int
    bulk_size: int
    warmup: int = 5


FULL = Sizes(
    stored=1000, rounds=10, exact=50, paraphrase=80, miss=50, bulk_rounds=3, bulk_size=1000
)
QUICK = Sizes(stored=200, rounds=3, exact=10, paraphrase=20, miss=10, bulk_rounds=1, bulk_size=200)


@dataclass
class Round:
    """What one system does in one round; the same texts for every system."""

    index: int
    exact: list[str]
    paraphrase: list[str]
    miss: list[str]
    bulk: list[str] | None = None


@dataclass
class Workload:
    dataset: str
    source: str
    stored: list[tuple[str, str]]  # (prompt, answer)
    warmup: list[str]
    rounds: list[Round] = field(default_factory=list)

    def describe(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "stored_prompts": len(self.stored),
            "rounds": len(self.rounds),
            "per_round": {
                "exact": len(self.rounds[0].exact),
                "paraphrase": len(self.rounds[0].paraphrase),
                "miss": len(self.rounds[0].miss),
            },
            "bulk_rounds": sum(1 for r in self.rounds if r.bulk is not None),
            "bulk_size": next((len(r.bulk) for r in self.rounds if r.bulk), 0),
        }


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as rows:
        for line in rows:
            if line.strip():
                yield json.loads(line)


def _clean(text: object) -> str:
    return " ".join(str(text).split())


def _pairs_and_pool(
    rows: Iterable[tuple[str, str, bool]],
) -> tuple[list[tuple[str, str]], list[str]]:
    """Paraphrase pairs (both texts distinct and in no other pair) and every other text."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    rest: list[str] = []
    for raw_a, raw_b, same in rows:
        a, b = _clean(raw_a), _clean(raw_b)
        if not a or not b:
            continue
        if same and a != b and a not in seen and b not in seen:
            pairs.append((a, b))
            seen.update((a, b))
        else:
            rest.extend((a, b))
    pool = list(dict.fromkeys(t for t in rest if t not in seen))
    return pairs, pool


def _qqp(data: Path) -> tuple[list[tuple[str, str]], list[str]] | None:
    path = data / "qqp" / "pairs.jsonl.gz"
    if not path.is_file():
        return None
    rows = ((str(r["a"]), str(r["b"]), r.get("label") == 1) for r in _jsonl(path))
    return _pairs_and_pool(rows)


def _gptcache(data: Path) -> list[tuple[str, str]] | None:
    path = data / "gptcache_mock" / "mock_data.json"
    if not path.is_file():
        return None
    rows = json.loads(path.read_text(encoding="utf-8"))
    pairs, _ = _pairs_and_pool((str(r["origin"]), str(r["similar"]), True) for r in rows)
    return pairs


def _samples() -> tuple[list[tuple[str, str]], list[str]]:
    rows: list[tuple[str, str, bool]] = []
    for path in sorted(SAMPLES.glob("short_*.jsonl")):
        rows += [(str(r["a"]), str(r["b"]), r.get("label") == 1) for r in _jsonl(path)]
    return _pairs_and_pool(rows)


def load(dataset: str, data: Path) -> tuple[str, str, list[tuple[str, str]], list[str]]:
    """(dataset, source, pairs, pool) for ``dataset`` (auto: QQP if ``data`` holds it)."""
    if dataset in ("auto", "qqp"):
        found = _qqp(data)
        if found is not None:
            return "qqp", str(data / "qqp" / "pairs.jsonl.gz"), *found
        if dataset == "qqp":
            raise SystemExit(
                f"no Quora pairs at {data}/qqp/pairs.jsonl.gz; pass --data or --dataset"
            )
    if dataset == "gptcache":
        pairs = _gptcache(data)
        if pairs is None:
            raise SystemExit(f"no GPTCache mock data at {data}/gptcache_mock/mock_data.json")
        # Fresh prompts for misses and bulk inserts come from QQP, else from the samples.
        other = _qqp(data) or _samples()
        used = {t for pair in pairs for t in pair}
        pool = [t for t in other[1] if t not in used]
        return "gptcache", str(data / "gptcache_mock" / "mock_data.json"), pairs, pool
    return "samples", str(SAMPLES / "short_*.jsonl"), *_samples()


def build(dataset: str, data: Path, sizes: Sizes, *, seed: int = 7) -> Workload:
    """Pick the texts of every round; fail with the counts when the data are too small."""
    name, source, pairs, pool = load(dataset, data)
    rng = random.Random(seed)
    rng.shuffle(pairs)
    rng.shuffle(pool)
    if len(pairs) < sizes.stored:
        print(f"[peers] only {len(pairs)} pairs in {source}; storing all", file=sys.stderr)
    pairs = pairs[: sizes.stored]
    paraphrases = sizes.rounds * sizes.paraphrase
    exacts = sizes.rounds * sizes.exact
    if paraphrases > len(pairs) or exacts > len(pairs):
        raise SystemExit(
            f"{len(pairs)} stored pairs cannot give {sizes.rounds} rounds of {sizes.paraphrase} "
            f"paraphrases and {sizes.exact} exact repeats, each asked once; lower --rounds"
        )
    stored = [(a, f"answer {i}: {a[::-1]}") for i, (a, _) in enumerate(pairs)]
    exact_order = list(range(len(pairs)))
    rng.shuffle(exact_order)  # exact repeats and paraphrases of different pairs per round
    warm_n, miss_n = sizes.warmup * 3, sizes.rounds * sizes.miss
    if len(pool) < warm_n + miss_n:
        raise SystemExit(
            f"{len(pool)} fresh texts in {source} cannot give {warm_n} warm-up and {miss_n} miss "
            "prompts, each stored once; lower --rounds or pick another --dataset"
        )
    warmup, misses = pool[:warm_n], pool[warm_n : warm_n + miss_n]
    bulk_at = sorted(_spread(sizes.bulk_rounds, sizes.rounds))
    bulk_texts = pool[warm_n + miss_n :][: len(bulk_at) * sizes.bulk_size]
    if len(bulk_texts) < len(bulk_at) * sizes.bulk_size:
        # Too few fresh texts: tagged copies of stored prompts (distinct texts, so still new).
        short = len(bulk_at) * sizes.bulk_size - len(bulk_texts)
        print(f"[peers] {short} bulk prompts are tagged copies of stored ones", file=sys.stderr)
        bulk_texts += [f"{stored[i % len(stored)][0]} (bulk copy {i})" for i in range(short)]
    rounds: list[Round] = []
    for r in range(sizes.rounds):
        exact = exact_order[r * sizes.exact : (r + 1) * sizes.exact]
        para = range(r * sizes.paraphrase, (r + 1) * sizes.paraphrase)
        bulk: list[str] | None = None
        if r in bulk_at:
            at = bulk_at.index(r) * sizes.bulk_size
            bulk = bulk_texts[at : at + sizes.bulk_size]
        rounds.append(
            Round(
                index=r,
                exact=[pairs[i][0] for i in exact],
                paraphrase=[pairs[i][1] for i in para],
                miss=misses[r * sizes.miss : (r + 1) * sizes.miss],
                bulk=bulk,
            )
        )
    return Workload(dataset=name, source=source, stored=stored, warmup=warmup, rounds=rounds)


def _spread(count: int, rounds: int) -> set[int]:
    """``count`` round indexes spread evenly over ``rounds`` (the bulk rounds)."""
    count = max(0, min(count, rounds))
    return {round((i + 0.5) * rounds / count - 0.5) for i in range(count)} if count else set()


def as_message(r: Round) -> dict[str, object]:
    return {"op": "round", **asdict(r)}
