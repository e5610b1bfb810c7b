"""One system in its own process: reads commands as JSON lines on stdin, answers on stdout.

Run by ``run.py`` with the system's own interpreter (semcached's venv or the peers' venv);
everything the libraries print goes to stderr (a log file), so the protocol stays clean::

    python benchmarks/peers/worker.py semcached
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from systems import System, build


def _protocol_out() -> TextIO:
    """The original stdout for answers; file descriptor 1 then points at stderr, so that
    prints of the libraries (C extensions included) never corrupt the protocol."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1000.0, value


def _threads() -> dict[str, object]:
    info: dict[str, object] = {"cpu_count": os.cpu_count()}
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self.system: System | None = None

    @property
    def sys(self) -> System:
        assert self.system is not None, "init first"
        return self.system

    def init(self, message: dict[str, Any]) -> dict[str, Any]:
        workdir = Path(message["workdir"])
        load_ms, self.system = timed(lambda: build(self.name, message["model_path"], workdir))
        warm = list(message["warmup"])
        third = max(1, len(warm) // 3)
        start = time.perf_counter()
        for text in warm[:third]:
            self.sys.lookup(text)
        for text in warm[third : 2 * third]:
            self.sys.get_or_call(text, "warm-up answer")
        self.sys.fresh("warmup")
        self.sys.bulk([(t, "warm-up answer") for t in warm[2 * third :]])
        self.sys.settle()
        return {
            "load_s": load_ms / 1000,
            "warmup_s": time.perf_counter() - start,
            "config": self.sys.describe(),
            "threads": _threads(),
        }

    def setup(self, message: dict[str, Any]) -> dict[str, Any]:
        items = [(str(p), str(a)) for p, a in message["stored"]]
        setup_ms, _ = timed(lambda: self.sys.setup(items))
        return {"setup_s": setup_ms / 1000}

    def round(self, message: dict[str, Any]) -> dict[str, Any]:
        system = self.sys
        samples: dict[str, list[float]] = {
            "exact": [],
            "paraphrase": [],
            "miss_store": [],
            "miss_store_written": [],
        }
        hits = {"exact": 0, "paraphrase": 0, "miss_store": 0}
        for text in message["exact"]:
            ms, hit = timed(partial(system.lookup, text))
            samples["exact"].append(ms)
            hits["exact"] += bool(hit)
        for text in message["paraphrase"]:
            ms, hit = timed(partial(system.lookup, text))
            samples["paraphrase"].append(ms)
            hits["paraphrase"] += bool(hit)
        settle_total = 0.0
        for text in message["miss"]:
            answer = f"fresh answer to {text}"
            ms, called = timed(partial(system.get_or_call, text, answer))
            # What the caller waits for, then until the entry is in the vector index (the
            # peers write before returning; semcached's write-behind finishes afterwards). In
            # an app the provider's seconds separate two misses: background work of one does
            # not slow the next.
            settle_ms, _ = timed(system.settle)
            settle_total += settle_ms
            samples["miss_store"].append(ms)
            samples["miss_store_written"].append(ms + settle_ms)
            hits["miss_store"] += not called  # a "miss" prompt that the cache served
        out: dict[str, Any] = {"samples": samples, "hits": hits, "settle_ms": settle_total}
        if message.get("bulk"):
            system.fresh(f"r{message['index']}")
            items = [(str(t), f"bulk answer {i}") for i, t in enumerate(message["bulk"])]
            bulk_ms, _ = timed(lambda: system.bulk(items))
            out["samples"]["bulk"] = [bulk_ms]
        return out

    def handle(self, message: dict[str, Any]) -> dict[str, Any] | None:
        op = message.get("op")
        if op == "init":
            return self.init(message)
        if op == "setup":
            return self.setup(message)
        if op == "round":
            return self.round(message)
        if op == "stats":
            return {"stats": self.sys.stats()}
        if op == "quit":
            if self.system is not None:
                self.system.close()
            return None
        raise ValueError(f"unknown op {op!r}; expected init, setup, round, stats or quit")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = _protocol_out()
    worker = Worker(sys.argv[1])
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        try:
            answer = worker.handle(message)
        except Exception as exc:
            traceback.print_exc()
            out.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
            return 1
        out.write(json.dumps({"ok": True, **(answer or {})}) + "\n")
        if answer is None:
            return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
