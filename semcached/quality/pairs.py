"""Labelled text pairs for measuring hit quality.

Formats read by :func:`load_pairs`:

* JSON Lines (optionally ``.gz``): ``{"a": ..., "b": ..., "label": 0|1}`` per line;
* TSV as PAWS ships it: ``id, sentence1, sentence2, label`` (tab-separated, header optional);
* CSV with a header holding ``a,b,label`` or ``question1,question2,is_duplicate``;
* GPTCache's ``mock_data.json``: a list of ``{"origin", "similar"}`` paraphrase pairs
  (all positives; use it as a retrieval test, see :func:`load_paraphrase_sets`).

``label`` 1 means the two texts ask the same thing (serving one's answer for the other is
right); 0 means they do not (serving it would be a false hit).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["Pair", "load_pairs", "load_paraphrase_sets", "sample_pairs_path"]


@dataclass(frozen=True, slots=True)
class Pair:
    a: str
    b: str
    label: int


def sample_pairs_path() -> Path:
    """The small hand-written sample that ships with semcached (used when no data is given)."""
    return Path(str(resources.files("semcached") / "data" / "sample_pairs.jsonl"))


def load_pairs(path: str | Path, *, limit: int | None = None) -> list[Pair]:
    """Read labelled pairs from any supported format; raises ``ValueError`` naming the line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no pairs file at {str(path)!r}")
    pairs: list[Pair] = []
    for pair in _iter_pairs(path):
        pairs.append(pair)
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise ValueError(f"{str(path)!r} holds no labelled pairs")
    return pairs


def load_paraphrase_sets(path: str | Path) -> list[tuple[str, str]]:
    """GPTCache-style ``[{"origin", "similar"}]``: (stored text, paraphrase that should hit)."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{str(path)!r}: expected a JSON list of {{origin, similar}} objects")
    return [(str(r["origin"]), str(r["similar"])) for r in rows]


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return io.TextIOWrapper(path.open("rb"), encoding="utf-8")


def _iter_pairs(path: Path) -> Iterator[Pair]:
    name = path.name.removesuffix(".gz")
    if name.endswith(".json") and not name.endswith(".jsonl"):
        for origin, similar in load_paraphrase_sets(path):
            yield Pair(origin, similar, 1)
        return
    with _open_text(path) as handle:
        if name.endswith(".jsonl"):
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield _from_json(line, path, number)
        elif name.endswith(".tsv"):
            yield from _from_tsv(handle, path)
        elif name.endswith(".csv"):
            yield from _from_csv(handle, path)
        else:
            raise ValueError(
                f"{str(path)!r}: unknown pairs format; use .jsonl(.gz), .tsv, .csv or a "
                "GPTCache-style .json"
            )


def _from_json(line: str, path: Path, number: int) -> Pair:
    try:
        row = json.loads(line)
        return Pair(str(row["a"]), str(row["b"]), _label(row["label"]))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f'{path}:{number}: expected {{"a": str, "b": str, "label": 0|1}}: {exc}'
        ) from exc


def _from_tsv(handle: io.TextIOBase, path: Path) -> Iterator[Pair]:
    for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
        if len(row) < 4:
            raise ValueError(f"{path}:{number}: expected id, sentence1, sentence2, label")
        if number == 1 and not row[3].strip().isdigit():
            continue  # header
        yield Pair(row[1], row[2], _label(row[3]))


def _from_csv(handle: io.TextIOBase, path: Path) -> Iterator[Pair]:
    reader = csv.DictReader(handle)
    fields = set(reader.fieldnames or [])
    for a, b, label in (("a", "b", "label"), ("question1", "question2", "is_duplicate")):
        if {a, b, label} <= fields:
            for row in reader:
                yield Pair(row[a], row[b], _label(row[label]))
            return
    raise ValueError(f"{path}: a CSV needs columns a,b,label or question1,question2,is_duplicate")


def _label(raw: object) -> int:
    value = int(str(raw).strip())
    if value not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {raw!r}")
    return value
