"""What ``semcached eval-cache`` prints: tables of hit quality per threshold, the configured
policy, the verifier's vetoes, the pair model's minimum scores and a reliability table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from semcached.quality.metrics import Replay, metrics_at, policy_metrics, reliability

__all__ = ["DEFAULT_THRESHOLDS", "MIN_SCORES", "format_report", "report_dict"]

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.50 + 0.025 * i, 3) for i in range(21))
MIN_SCORES: tuple[float, ...] = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)  # shown by the report


def report_dict(replay: Replay, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """Everything ``eval-cache --json`` prints (the rows include the policy's own threshold)."""
    usable = _usable(replay, thresholds)
    return {
        "mode": replay.mode,
        "lookups": len(replay.outcomes),
        "positives": replay.positives,
        "negatives": replay.negatives if replay.mode == "pairs" else None,
        "guards": list(replay.guards),
        "seconds": round(replay.seconds, 2),
        "policy": policy_metrics(replay).to_dict(),
        "verified": [metrics_at(replay, t).to_dict() for t in usable],
        "cosine_only": [metrics_at(replay, t, verified=False).to_dict() for t in usable],
        "rejections": dict(sorted(replay.rejections.items())),
        "reliability": reliability(replay),
        "pair_model": {
            "model": getattr(replay.verifier.scorer, "name", None),
            "policy_min_score": replay.policy_min_score,
            "by_min_score": {
                f"{score:g}": [metrics_at(replay, t, min_score=score).to_dict() for t in usable]
                for score in MIN_SCORES
            },
        }
        if replay.scored
        else None,
    }


def _usable(replay: Replay, thresholds: Sequence[float]) -> list[float]:
    grid = {round(t, 4) for t in thresholds} | {round(replay.policy_threshold, 4)}
    return sorted(t for t in grid if t >= replay.floor - 1e-9)


def format_report(replay: Replay, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> str:
    """The human-readable tables of ``eval-cache``."""
    body = report_dict(replay, thresholds)
    rate_name = "false-hit rate" if replay.mode == "pairs" else "wrong-hit rate"
    hit_name = "dup hit rate" if replay.mode == "pairs" else "right-hit rate"
    lines = [
        f"{body['lookups']} lookups ({replay.mode}; {body['positives']} should hit), "
        f"verifier: {', '.join(replay.guards) or 'none'}, {body['seconds']} s",
        "",
        f"{'threshold':>9} | {'verified: ' + hit_name:>24} {rate_name:>15} {'precision':>9} "
        f"{'F1':>6} | {'cosine only: ' + hit_name:>27} {rate_name:>15} {'precision':>9}",
    ]
    for verified, cosine in zip(body["verified"], body["cosine_only"], strict=True):
        lines.append(
            f"{verified['threshold']:>9.3f} | {verified['hit_rate']:>24.1%} "
            f"{verified['false_hit_rate']:>15.1%} {verified['precision']:>9.3f} "
            f"{verified['f1']:>6.3f} | {cosine['hit_rate']:>27.1%} "
            f"{cosine['false_hit_rate']:>15.1%} {cosine['precision']:>9.3f}"
        )
    policy = body["policy"]
    low, high = policy["precision_ci95"]
    score = "" if policy["min_score"] is None else f", pair model score >= {policy['min_score']:g}"
    lines += [
        "",
        f"configured policy (threshold {policy['threshold']:.4f}{score}, verifier "
        f"{'on' if replay.guards else 'off'}): {hit_name} {policy['hit_rate']:.1%}, "
        f"{rate_name} {policy['false_hit_rate']:.1%}, precision {policy['precision']:.3f} "
        f"(95% CI {low:.3f}-{high:.3f}), recall {policy['recall']:.1%}, F1 {policy['f1']:.3f}",
    ]
    if body["rejections"]:
        lines.append(
            "vetoes at the floor (first step to say no): "
            + ", ".join(
                f"{k} {v}" for k, v in sorted(body["rejections"].items(), key=lambda kv: -kv[1])
            )
        )
    if body["pair_model"] is not None:
        lines += ["", _score_table(body["pair_model"]["by_min_score"], hit_name, rate_name)]
    lines += ["", "reliability (how often the best candidate is right, by similarity):"]
    lines.append(f"{'similarity':>14} | {'cosine n':>8} {'precision':>9} {'95% CI':>13} | "
                 f"{'verified n':>10} {'precision':>9} {'95% CI':>13}")  # fmt: skip
    for row in body["reliability"]:
        cells = []
        for name in ("cosine", "verified"):
            n, p, ci = row[f"{name}_n"], row[f"{name}_precision"], row[f"{name}_ci95"]
            width = 8 if name == "cosine" else 10
            prec = "-" if p is None else f"{p:.3f}"
            cells.append(f"{n:>{width}} {prec:>9} {ci[0]:>6.3f}-{ci[1]:<6.3f}")
        lines.append(f"{row['bin']:>14} | {cells[0]} | {cells[1]}")
    return "\n".join(lines)


def _score_table(by_score: dict[str, list[dict[str, Any]]], hit_name: str, rate_name: str) -> str:
    """Per threshold (rows) and minimum score (columns): hit rate / false-hit rate."""
    scores = list(by_score)
    lines = [
        f"with the pair model: {hit_name} / {rate_name}, by minimum score",
        f"{'threshold':>9} | " + " ".join(f"{'score >= ' + s:>17}" for s in scores),
    ]
    for row in range(len(by_score[scores[0]])):
        cells = [by_score[s][row] for s in scores]
        lines.append(
            f"{cells[0]['threshold']:>9.3f} | "
            + " ".join(f"{c['hit_rate']:>8.1%} / {c['false_hit_rate']:<6.1%}" for c in cells)
        )
    return "\n".join(lines)
