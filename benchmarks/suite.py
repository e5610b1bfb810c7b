"""The benchmark suite in one command: every benchmark of this folder, one after the other,
into one JSON file (each one's command, exit status, wall time and output, parsed as JSON
where the benchmark writes JSON).

    .venv/bin/python benchmarks/suite.py --out /tmp/semcached-bench.json            # ~15 min
    .venv/bin/python benchmarks/suite.py --quick --out /tmp/semcached-bench.json    # ~3 min
    .venv/bin/python benchmarks/suite.py --only latency http --data ../shared/data

Run on a quiet machine: the benchmarks run one at a time, each reports medians and ratios
from its own interleaved rounds, and the core count is recorded. ``--data`` (the shared
evaluation data) feeds the benchmarks that use real prompts; without it they fall back to the
project's samples. ``make bench`` runs the quick suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def plan(quick: bool, data: Path | None, scratch: Path) -> dict[str, list[str]]:
    """name -> command (arguments after the interpreter)."""
    with_data = ["--data", str(data)] if data else []
    http = ["--connections", "1", "8", "32", "128"] if not quick else ["--connections", "32"]
    return {
        "latency": [str(HERE / "latency.py"), "-n", "100" if quick else "300"],
        "bulk_insert": [str(HERE / "bulk_insert.py"), "-n", "1000"],
        "vector_filter": [str(HERE / "vector_filter.py"), "--sizes", "1000", "10000"]
        + ([] if quick else ["100000"]),
        "embedding_backends": [str(HERE / "embedding_backends.py"), "--json", *with_data],
        "http": [
            str(HERE / "http_wrk.py"),
            *http,
            "--seconds",
            "5" if quick else "10",
            "--json",
            str(scratch / "http.json"),
        ],
        "soak": [str(HERE / "soak.py"), "--seconds", "30" if quick else "120"],
        "peers": [
            str(HERE / "peers" / "run.py"),
            "--out",
            str(scratch / "peers.json"),
            *(["--quick"] if quick else []),
        ],
    }


def parsed(output: str, scratch_file: Path | None) -> Any:
    """The benchmark's JSON (its file, or the last JSON object it printed), else its text."""
    if scratch_file is not None and scratch_file.exists():
        return json.loads(scratch_file.read_text())
    start = output.rfind("\n{")
    candidate = output[start + 1 :] if start >= 0 else output
    try:
        return json.loads(candidate)
    except ValueError:
        return output.strip().splitlines()[-60:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="where the JSON goes")
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 3 minutes)")
    parser.add_argument("--data", type=Path, help="the shared evaluation data (optional)")
    parser.add_argument("--only", nargs="+", help="run only these benchmarks")
    args = parser.parse_args()
    scratch = args.out.parent / (args.out.stem + "-parts")
    scratch.mkdir(parents=True, exist_ok=True)
    commands = plan(args.quick, args.data, scratch)
    unknown = set(args.only or []) - set(commands)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose from {sorted(commands)}")
    report: dict[str, Any] = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": {},
    }
    for name, command in commands.items():
        if args.only and name not in args.only:
            continue
        print(f"[{name}] {' '.join(command)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, *command], check=False, capture_output=True, text=True
        )
        seconds = round(time.perf_counter() - started, 1)
        files = {"http": scratch / "http.json", "peers": scratch / "peers.json"}
        report["results"][name] = {
            "command": [Path(sys.executable).name, *command],
            "returncode": done.returncode,
            "seconds": seconds,
            "output": parsed(done.stdout, files.get(name) if done.returncode == 0 else None),
            **({"stderr_tail": done.stderr.strip().splitlines()[-20:]} if done.returncode else {}),
        }
        print(f"[{name}] exit {done.returncode} in {seconds} s", file=sys.stderr, flush=True)
        args.out.write_text(json.dumps(report, indent=2))  # after each: a partial run is kept
    failed = [n for n, r in report["results"].items() if r["returncode"] != 0]
    print(json.dumps({"out": str(args.out), "failed": failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
