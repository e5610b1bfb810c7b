"""Calibration: pick the operating point that meets a target precision with the most hits.

From a replay of labelled pairs (:mod:`semcached.quality.evaluation`), every threshold on a fine
grid is an operating point. The one chosen meets the target precision (or, ``conservative``, the
lower end of its 95% Wilson interval does) and serves the most right answers; among equals, the
fewest wrong ones. A higher target precision can therefore never choose more hits on the same data.
The result is written to the JSON config file Settings read (``semcached calibrate``).

Example::

    replay = evaluate_path("my_pairs.jsonl", Settings())
    point = choose_operating_point(replay, target_precision=0.95)
    if point is not None:
        write_threshold(config_file_path(), point.threshold, namespace="support")
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcached.quality.metrics import Metrics, Replay, metrics_at

__all__ = [
    "SCORE_GRID",
    "OperatingPoint",
    "choose_operating_point",
    "grid",
    "read_config",
    "write_threshold",
]


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """A chosen threshold and what it measured."""

    threshold: float
    metrics: Metrics
    target_precision: float
    conservative: bool
    verified: bool
    min_score: float | None = None  # the pair model's minimum score, when one was replayed

    @property
    def precision_interval(self) -> tuple[float, float]:
        return self.metrics.precision_interval()

    def describe(self) -> str:
        low, high = self.precision_interval
        m = self.metrics
        score = "" if self.min_score is None else f", pair model score >= {self.min_score:g}"
        return (
            f"threshold {self.threshold:.3f}{score}: precision {m.precision:.3f} "
            f"(95% Wilson interval {low:.3f}-{high:.3f}, from {m.correct_hits} right of "
            f"{m.hits} hits), hit rate {m.hit_rate:.1%}, false-hit rate {m.false_hit_rate:.1%}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold,
            "target_precision": self.target_precision,
            "conservative": self.conservative,
            "verified": self.verified,
            "min_score": self.min_score,
            **{k: v for k, v in self.metrics.to_dict().items() if k != "threshold"},
        }


def grid(floor: float, step: float = 0.005) -> list[float]:
    """Thresholds from ``floor`` to 1.0 inclusive."""
    count = round((1.0 - floor) / step)
    return [round(floor + i * step, 4) for i in range(count + 1)]


# Pair-model minimum scores tried (its probabilities crowd near 0 and 1).
SCORE_GRID: tuple[float, ...] = (
    0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99,
    0.995, 0.998, 0.999,
)  # fmt: skip


def choose_operating_point(
    replay: Replay,
    target_precision: float,
    *,
    thresholds: Sequence[float] | None = None,
    conservative: bool = False,
    verified: bool = True,
    sweep_min_score: bool = True,
) -> OperatingPoint | None:
    """The threshold meeting ``target_precision`` with the most right hits, or ``None``.

    With a pair model in the replay, its minimum score is chosen together with the threshold
    (``sweep_min_score``; otherwise the configured one is kept and ``min_score`` is ``None``).

    Example::

        point = choose_operating_point(replay, 0.95)
        print(point.describe() if point else "no threshold reaches 0.95 on this data")
    """
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target precision must be within (0, 1], got {target_precision}")
    sweep = verified and sweep_min_score and replay.scored
    scores: Sequence[float | None] = SCORE_GRID if sweep else (None,)
    best: tuple[Metrics, float | None] | None = None
    for t in thresholds if thresholds is not None else grid(replay.floor):
        for score in scores:
            m = metrics_at(replay, t, verified=verified, min_score=score)
            if m.hits == 0:
                continue
            measured = m.precision_interval()[0] if conservative else m.precision
            if measured + 1e-12 < target_precision:
                continue
            if best is None or (m.correct_hits, -m.hits) > (best[0].correct_hits, -best[0].hits):
                best = (m, score)
    if best is None or best[0].threshold is None:
        return None
    return OperatingPoint(
        threshold=best[0].threshold,
        metrics=best[0],
        target_precision=target_precision,
        conservative=conservative,
        verified=verified,
        min_score=best[1],
    )


def read_config(path: Path) -> dict[str, Any]:
    """The JSON config file as a dict (empty when it does not exist)."""
    if not path.exists() or path.stat().st_size == 0:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: the config file is not valid JSON ({exc}); fix or remove it"
        ) from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of settings, got {type(data).__name__}")
    return data


def write_threshold(
    path: Path,
    threshold: float,
    *,
    namespace: str | None = None,
    min_score: float | None = None,
    model_path: Path | None = None,
) -> Path:
    """Set the global threshold (or one namespace's) in the JSON config file, keeping every
    other setting; written atomically. ``min_score`` also sets the pair model's minimum score
    (one setting for every namespace), and ``model_path`` the pair model it was measured with
    (``None``: the packaged one)."""
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    config = read_config(path)
    if min_score is not None or model_path is not None:
        if min_score is not None and not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        verifier = config.get("verifier") or {}
        if not isinstance(verifier, dict):
            raise ValueError(f"{path}: verifier must be a JSON object")
        if min_score is not None:
            verifier["min_score"] = min_score
        if model_path is not None:
            verifier["model_path"] = str(Path(model_path).resolve())
        config["verifier"] = verifier
    if namespace is None:
        config["threshold"] = threshold
    else:
        per_namespace = config.get("namespace_thresholds") or {}
        if not isinstance(per_namespace, dict):
            raise ValueError(f"{path}: namespace_thresholds must be a JSON object")
        per_namespace[namespace] = threshold
        config["namespace_thresholds"] = per_namespace
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
