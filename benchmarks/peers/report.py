"""Summaries of the samples (median, p95), ratios against semcached, and the Markdown tables."""

from __future__ import annotations

import math
import statistics
from typing import Any

OPS: tuple[tuple[str, str, str], ...] = (
    # (key, label, unit)
    ("exact", "exact repeat (hit)", "ms"),
    ("paraphrase", "paraphrase lookup", "ms"),
    ("miss_store", "miss + store (get-or-call): the caller waits", "ms"),
    ("miss_store_written", "miss + store: until in the vector index", "ms"),
    ("bulk", "bulk insert", "s"),
)
TITLES = {"semcached": "semcached", "gptcache": "GPTCache", "redisvl": "RedisVL"}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted samples (p95 of 20 samples is the 19th)."""
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(samples: list[float], rounds: list[list[float]]) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 4),
        "p95_ms": round(percentile(ordered, 0.95), 4),
        "mean_ms": round(statistics.fmean(ordered), 4),
        "min_ms": round(ordered[0], 4),
        "round_medians_ms": [round(statistics.median(r), 4) for r in rounds if r],
    }


def ratios(
    systems: dict[str, dict[str, Any]], base: str = "semcached"
) -> dict[str, dict[str, float]]:
    """Peer median / semcached median per operation (above 1: semcached is faster)."""
    ops = systems.get(base, {}).get("ops", {})
    out: dict[str, dict[str, float]] = {}
    for name, system in systems.items():
        if name == base:
            continue
        out[name] = {
            op: round(stats["median_ms"] / ops[op]["median_ms"], 2)
            for op, stats in system.get("ops", {}).items()
            if op in ops and ops[op]["median_ms"] > 0
        }
    return out


def _cell(stats: dict[str, Any] | None, unit: str, ratio: float | None) -> str:
    if stats is None:
        return "n/a"
    scale = 1000.0 if unit == "s" else 1.0
    digits = 2 if unit == "s" else (3 if stats["median_ms"] < 10 else 1)
    text = f"{stats['median_ms'] / scale:.{digits}f} ({stats['p95_ms'] / scale:.{digits}f})"
    if ratio is not None:
        text += f" · **{ratio:.1f}x**" if ratio >= 10 else f" · **{ratio:.2f}x**"
    return text


def markdown(result: dict[str, Any]) -> str:
    systems: dict[str, dict[str, Any]] = result["systems"]
    names = [n for n in TITLES if n in systems]
    rel = result.get("ratios_vs_semcached", {})
    head = "| operation | n/system | " + " | ".join(TITLES[n] for n in names) + " |"
    lines = [
        "Median (p95) per operation; x = the peer's median / semcached's (above 1: semcached "
        "is faster).",
        "",
        head,
        "|---|---:|" + "---:|" * len(names),
    ]
    for op, label, unit in OPS:
        row = [f"{label}, {unit}"]
        counts: set[int] = {
            systems[n]["ops"][op]["n"] for n in names if op in systems[n].get("ops", {})
        }
        row.append("/".join(str(c) for c in sorted(counts)) or "0")
        for n in names:
            stats = systems[n].get("ops", {}).get(op)
            row.append(_cell(stats, unit, rel.get(n, {}).get(op)))
        lines.append("| " + " | ".join(row) + " |")
    bulk_size = result["workload"].get("bulk_size") or 0
    if bulk_size:
        row = [f"bulk insert, prompts/s ({bulk_size} per insert)", ""]
        for n in names:
            stats = systems[n].get("ops", {}).get("bulk")
            row.append(f"{bulk_size / (stats['median_ms'] / 1000):.0f}" if stats else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| context | " + " | ".join(TITLES[n] for n in names) + " |"]
    lines.append("|---|" + "---:|" * len(names))
    for key, label in (
        ("exact", "exact repeats served"),
        ("paraphrase", "paraphrases served (at its default threshold)"),
        ("miss_store", "fresh prompts served from cache (should be ~0)"),
    ):
        cells = []
        for n in names:
            hits = systems[n].get("hits", {})
            asked = systems[n].get("ops", {}).get(key, {}).get("n")
            cells.append(
                f"{hits.get(key, 0)}/{asked} ({hits.get(key, 0) / asked:.1%})" if asked else "n/a"
            )
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for key, label in (
        ("load_s", "load (import, model, stores), s"),
        ("setup_s", "initial store of the stored prompts, s"),
        ("cpu_in_own_rounds_s", "CPU used in its own rounds, s"),
        ("cpu_during_others_rounds_s", "CPU used while the others ran (noise it made), s"),
    ):
        cells = [
            f"{systems[n][key]:.2f}" if systems[n].get(key) is not None else "n/a" for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stages(result: dict[str, Any]) -> str:
    """Where each system's time went, as the systems themselves count it (mean ms per call)."""
    lines = []
    for name, title in TITLES.items():
        stats = (result["systems"].get(name) or {}).get("internal_stats") or {}
        means = stats.get("mean_ms") or {
            stage: s["mean_ms"] for stage, s in (stats.get("stages_ms") or {}).items()
        }
        if means:
            parts = ", ".join(f"{stage} {ms:.3f}" for stage, ms in sorted(means.items()))
            lines.append(f"- {title} (mean ms per call): {parts}")
    return "\n".join(lines)
