"""What the knowledge tests share: the sample corpus and the stores they run against."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "semcached" / "data" / "knowledge_sample.jsonl"
LONG = " ".join(
    f"Paragraph {n} explains a different detail of the onboarding process in several words."
    for n in range(60)
)


def sample_items() -> list[dict[str, Any]]:
    """The hand-written sample corpus (31 items with topic, lang and year metadata)."""
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
