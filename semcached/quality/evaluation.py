"""Measure the cache's hit quality on labelled pairs: the replays
(:mod:`~semcached.quality.replay`), the metrics at any operating point
(:mod:`~semcached.quality.metrics`) and the report (:mod:`~semcached.quality.report`), in one
place for the CLI, the notebook and the benchmarks.

Example::

    replay = evaluate_path("pairs.jsonl", Settings())
    print(format_report(replay))
    print(metrics_at(replay, 0.85, min_score=0.9).precision)
"""

from __future__ import annotations

from semcached.quality.metrics import (
    Metrics,
    Outcome,
    Replay,
    metrics_at,
    policy_metrics,
    reliability,
    served_at,
    wilson,
)
from semcached.quality.replay import (
    EVAL_MODEL,
    build_replay_cache,
    evaluate_path,
    replay_feedback_stream,
    replay_pairs,
    replay_retrieval,
)
from semcached.quality.report import DEFAULT_THRESHOLDS, MIN_SCORES, format_report, report_dict

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EVAL_MODEL",
    "MIN_SCORES",
    "Metrics",
    "Outcome",
    "Replay",
    "build_replay_cache",
    "evaluate_path",
    "format_report",
    "metrics_at",
    "policy_metrics",
    "reliability",
    "replay_feedback_stream",
    "replay_pairs",
    "replay_retrieval",
    "report_dict",
    "served_at",
    "wilson",
]
