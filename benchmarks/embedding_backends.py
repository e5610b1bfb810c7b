"""Embedding backends compared: PyTorch, ONNX fp32 and ONNX int8 on the same packaged model.

One run measures, per backend, interleaved round by round so that a busy machine slows all of
them alike: single-text latency (median, p95), batched throughput (batches of 32), agreement
with PyTorch (cosine of each prompt's vector: mean, worst, 1st percentile) on real prompts, and
the start-up time and peak memory of a fresh process that loads the backend and embeds one
text. Rerun with:

    .venv/bin/python benchmarks/embedding_backends.py --data ../shared/data
    .venv/bin/python benchmarks/embedding_backends.py --data ../shared/data --json
    .venv/bin/python benchmarks/embedding_backends.py --data ../shared/data --sweep

With ``--data`` the prompts are the first questions of ``qqp/pairs.jsonl.gz`` (measured only;
none of it ships); without it, semcached's own ``sample_pairs.jsonl``. The ONNX exports come
from the cache (``$SEMCACHED_ONNX_CACHE`` or ``--onnx-cache``) and are made first if missing.
``--sweep`` also measures ONNX Runtime session options (intra-op threads, graph optimisation
level, spinning), idle and with one core kept busy by another process, as a service's other
work would: that is how the defaults were chosen.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from semcached.embeddings import (
    Embedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
)
from semcached.embeddings.onnx_export import ONNX_CACHE_ENV
from semcached.embeddings.onnx_runtime import (
    GraphOptimization,
    OnnxEncoder,
    Pooling,
)

SAMPLE = Path(__file__).resolve().parents[1] / "semcached" / "data" / "sample_pairs.jsonl"
BACKENDS = ("PyTorch", "ONNX fp32", "ONNX int8")
BATCH = 32

# A fresh process: load one backend, embed one text, report times and memory.
STARTUP_SCRIPT = """
import json, sys, time
started = time.perf_counter()
backend = sys.argv[1]
import semcached.embeddings as embeddings
imported = time.perf_counter()
if backend == "PyTorch":
    embedder = embeddings.SentenceTransformerEmbedder()
else:
    embedder = embeddings.OnnxEmbedder(quantize="int8" if backend == "ONNX int8" else None)
loaded = time.perf_counter()
embedder.embed(["What is the capital of France?"])
embedded = time.perf_counter()
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "import_s": imported - started,
    "load_s": loaded - imported,
    "first_embed_s": embedded - loaded,
    "rss_mib": int(status["VmRSS"].split()[0]) / 1024,
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the forking parent
    # across exec, so a child of a big process would report the parent's size.
    "peak_rss_mib": int(status["VmHWM"].split()[0]) / 1024,
    "torch_imported": "torch" in sys.modules,
}))
"""


def load_prompts(data: Path | None, limit: int) -> tuple[list[str], str]:
    """Distinct real prompts, in file order: Quora questions with --data, else the sample."""
    if data is not None:
        source = data / "qqp" / "pairs.jsonl.gz"
        lines: Any = gzip.open(source, "rt", encoding="utf-8")  # noqa: SIM115
        name = f"the first {limit} distinct questions of {source}"
    else:
        source = SAMPLE
        lines = source.open(encoding="utf-8")
        name = f"every distinct text of {source.name}"
    seen: dict[str, None] = {}
    with lines:
        for line in lines:
            row = json.loads(line)
            for key in ("a", "b"):
                seen.setdefault(str(row[key]), None)
            if len(seen) >= limit:
                break
    return list(seen)[:limit], name


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


Runner = Callable[[Sequence[str]], object]


class Samples:
    """Raw single-text latencies and batch throughputs per runner."""

    def __init__(self, names: Sequence[str]) -> None:
        self.latency: dict[str, list[float]] = {name: [] for name in names}
        self.throughput: dict[str, list[float]] = {name: [] for name in names}

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            name: {
                "single_median_ms": statistics.median(self.latency[name]) * 1e3,
                "single_p95_ms": percentile(self.latency[name], 95) * 1e3,
                "batch32_texts_per_s": statistics.median(self.throughput[name]),
            }
            for name in self.latency
        }


def warm_up(runners: dict[str, Runner], prompts: Sequence[str]) -> None:
    """First-call allocations are not what we measure."""
    for run in runners.values():
        run(prompts[:BATCH])
        run(prompts[:1])


def one_round(
    runners: dict[str, Runner],
    prompts: Sequence[str],
    samples: Samples,
    *,
    cursor: int,
    singles: int,
    batches: int,
) -> None:
    """Every runner in turn on the same texts: ``singles`` one-text embeds, then ``batches``
    batches of 32."""
    texts = [prompts[(cursor + i) % len(prompts)] for i in range(singles)]
    groups = [
        [prompts[(cursor + b * BATCH + i) % len(prompts)] for i in range(BATCH)]
        for b in range(batches)
    ]
    for name, run in runners.items():
        for text in texts:
            start = time.perf_counter()
            run([text])
            samples.latency[name].append(time.perf_counter() - start)
        start = time.perf_counter()
        for group in groups:
            run(group)
        samples.throughput[name].append(batches * BATCH / (time.perf_counter() - start))


def interleaved(
    runners: dict[str, Runner],
    prompts: Sequence[str],
    *,
    rounds: int,
    singles: int,
    batches: int,
) -> dict[str, dict[str, float]]:
    """Single-text latency and batch throughput, every runner in each round in turn."""
    warm_up(runners, prompts)
    samples = Samples(list(runners))
    for r in range(rounds):
        one_round(runners, prompts, samples, cursor=r * singles, singles=singles, batches=batches)
    return samples.summary()


def agreement(vectors: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    cosines = (vectors * reference).sum(axis=1)
    return {
        "cosine_mean": float(cosines.mean()),
        "cosine_min": float(cosines.min()),
        "cosine_p1": percentile(cosines.tolist(), 1),
        "max_abs_difference": float(np.abs(vectors - reference).max()),
    }


def startup(backend: str, repeats: int) -> dict[str, Any]:
    """Median over ``repeats`` fresh processes: wall time from spawn to exit, and memory."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", STARTUP_SCRIPT, backend],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        wall = time.perf_counter() - start
        runs.append({"process_s": wall, **json.loads(done.stdout.strip().splitlines()[-1])})
    keys = [k for k in runs[0] if isinstance(runs[0][k], float)]
    result: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
    result["torch_imported"] = runs[0]["torch_imported"]
    return result


def sweep(
    onnx_dirs: dict[str, Path],
    prompts: Sequence[str],
    rounds: int,
    levels: Sequence[GraphOptimization] = ("basic", "extended", "all"),
) -> list[dict[str, Any]]:
    """Session options per export, idle and with one core kept busy by another process.

    Each round measures every option idle, then starts the busy process and measures every
    option again, so a change in the machine's other load falls on both columns alike.
    """
    options: list[tuple[int, GraphOptimization, bool]] = [
        (threads, level, False) for threads in (1, 2) for level in levels
    ]
    options.append((2, "all", True))  # spinning: one thread alone has no pool to spin
    encoders: dict[str, OnnxEncoder] = {}
    for label, path in onnx_dirs.items():
        for threads, level, spinning in options:
            name = f"{label} threads={threads} {level} spin={'on' if spinning else 'off'}"
            encoders[name] = OnnxEncoder(
                path / "model.onnx",
                path / "tokenizer.json",
                max_length=256,
                pooling=Pooling.from_config(path / "1_Pooling" / "config.json"),
                threads=threads,
                graph_optimization=level,
                spinning=spinning,
            )
    runners: dict[str, Runner] = {name: e.encode_texts for name, e in encoders.items()}
    warm_up(runners, prompts)
    idle, busy = Samples(list(runners)), Samples(list(runners))
    singles, batches = 30, 2
    for r in range(rounds):
        one_round(runners, prompts, idle, cursor=r * singles, singles=singles, batches=batches)
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.3)  # let it start spinning
            one_round(runners, prompts, busy, cursor=r * singles, singles=singles, batches=batches)
        finally:
            spinner.kill()
            spinner.wait()
    idle_summary, busy_summary = idle.summary(), busy.summary()
    return [
        {"options": name, "idle": idle_summary[name], "one_core_busy": busy_summary[name]}
        for name in encoders
    ]


def cores() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "load_average_1min": os.getloadavg()[0],
    }


def print_table(report: dict[str, Any]) -> None:
    machine = report["machine"]
    print(
        f"\nall-MiniLM-L6-v2 (packaged), {machine['usable_cores']} usable cores "
        f"(os.cpu_count() = {machine['cpu_count']}), load average "
        f"{machine['load_average_1min']:.2f} at start, "
        f"{report['machine_end']['load_average_1min']:.2f} at end"
    )
    print(f"prompts: {report['prompts']['count']}, {report['prompts']['source']}")
    print(
        f"latency: {report['settings']['rounds']} interleaved rounds; single texts cycle through "
        "the prompts; batches of 32\n"
    )
    header = (
        f"{'backend':<11}{'threads':>8}{'single ms':>11}{'p95 ms':>8}{'batch32/s':>11}"
        f"{'cos mean':>10}{'cos min':>9}{'cos p1':>9}{'max diff':>10}{'start s':>9}{'load s':>8}"
        f"{'peak RSS MiB':>14}{'torch':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, row in report["backends"].items():
        agree, start = row["agreement"], row["startup"]
        print(
            f"{name:<11}{row['threads']:>8}{row['single_median_ms']:>11.2f}"
            f"{row['single_p95_ms']:>8.2f}{row['batch32_texts_per_s']:>11.0f}"
            f"{agree['cosine_mean']:>10.5f}{agree['cosine_min']:>9.5f}{agree['cosine_p1']:>9.5f}"
            f"{agree['max_abs_difference']:>10.1e}"
            f"{start['process_s']:>9.2f}{start['load_s']:>8.2f}{start['peak_rss_mib']:>14.0f}"
            f"{'yes' if start['torch_imported'] else 'no':>7}"
        )
    print(
        "\ncos: each prompt's cosine to its PyTorch vector (mean, worst, 1st percentile); "
        "max diff: largest difference of one component;\n"
        "start s: a fresh process from spawn to exit (interpreter, imports, load, one embed); "
        "load s: constructing the embedder alone;\n"
        "peak RSS: that process's high-water mark (VmHWM)"
    )
    if report.get("sweep"):
        print(
            "\nONNX Runtime session options (sequential execution, 1 inter-op thread); idle and "
            "with one core kept busy by another process, alternating round by round:\n"
        )
        head = f"{'options':<40}{'idle: single ms':>16}{'p95':>7}{'batch32/s':>11}"
        head += f"{'busy core: single ms':>22}{'p95':>7}{'batch32/s':>11}"
        print(head)
        print("-" * len(head))
        for row in report["sweep"]:
            idle, busy = row["idle"], row["one_core_busy"]
            print(
                f"{row['options']:<40}{idle['single_median_ms']:>16.2f}{idle['single_p95_ms']:>7.2f}"
                f"{idle['batch32_texts_per_s']:>11.0f}{busy['single_median_ms']:>22.2f}"
                f"{busy['single_p95_ms']:>7.2f}{busy['batch32_texts_per_s']:>11.0f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="the shared data folder (qqp/pairs.jsonl.gz)")
    parser.add_argument("--limit", type=int, default=2000, help="prompts for agreement")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--singles", type=int, default=60, help="single-text embeds per round")
    parser.add_argument("--batches", type=int, default=4, help="batches of 32 per round")
    parser.add_argument("--startup-repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, help="PyTorch threads (default: torch's)")
    parser.add_argument("--onnx-threads", type=int, help="ONNX intra-op threads (default: 2)")
    parser.add_argument("--onnx-cache", type=Path, help=f"export cache (default ${ONNX_CACHE_ENV})")
    parser.add_argument("--sweep", action="store_true", help="also sweep ONNX session options")
    parser.add_argument("--sweep-rounds", type=int, default=10, help="rounds of the sweep")
    parser.add_argument(
        "--sweep-levels",
        default="basic,extended,all",
        help="graph optimisation levels to sweep, comma-separated",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    if args.onnx_cache is not None:
        os.environ[ONNX_CACHE_ENV] = str(args.onnx_cache)
    data = args.data if args.data is not None and (args.data / "qqp").is_dir() else None
    prompts, source = load_prompts(data, args.limit)
    machine = cores()

    # Exports first (a no-op when cached), then start-up, before this process loads anything.
    OnnxEmbedder(), OnnxEmbedder(quantize="int8")
    startups = {name: startup(name, args.startup_repeats) for name in BACKENDS}
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    embedders: dict[str, Embedder] = {
        "PyTorch": SentenceTransformerEmbedder(),
        "ONNX fp32": OnnxEmbedder(threads=args.onnx_threads),
        "ONNX int8": OnnxEmbedder(quantize="int8", threads=args.onnx_threads),
    }
    speed = interleaved(
        {name: e.embed for name, e in embedders.items()},
        prompts,
        rounds=args.rounds,
        singles=args.singles,
        batches=args.batches,
    )
    vectors = {name: e.embed(prompts) for name, e in embedders.items()}
    threads = {
        "PyTorch": torch.get_num_threads(),
        **{name: e.threads for name, e in embedders.items() if isinstance(e, OnnxEmbedder)},
    }
    report: dict[str, Any] = {
        "machine": machine,
        "prompts": {"count": len(prompts), "source": source},
        "settings": {"rounds": args.rounds, "singles": args.singles, "batches": args.batches},
        "backends": {
            name: {
                "model_id": embedders[name].model_id,
                "threads": threads[name],
                **speed[name],
                "agreement": agreement(vectors[name], vectors["PyTorch"]),
                "startup": startups[name],
            }
            for name in BACKENDS
        },
    }
    if args.sweep:
        onnx_dirs = {
            name.split()[1]: e.path for name, e in embedders.items() if isinstance(e, OnnxEmbedder)
        }
        levels = tuple(cast("GraphOptimization", level) for level in args.sweep_levels.split(","))
        report["sweep"] = sweep(onnx_dirs, prompts, args.sweep_rounds, levels)
    report["machine_end"] = cores()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
