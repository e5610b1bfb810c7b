"""HTTP latency of cache hits through the sidecar, on loopback: exact and semantic, median and p95.

Starts ``semcached serve`` in a subprocess on embedded defaults (in-process exact store,
embedded ChromaDB in a temporary directory, the packaged model) with the text-to-vector cache
turned off, so every semantic lookup embeds its text: the honest worst case. Stores one answer
per question, then times, one request at a time over a keep-alive connection:

* ``POST /v1/chat/completions`` (the OpenAI proxy) answered by an exact hit, and by a semantic
  hit (a paraphrase: "How do I ..." asked as "How can I ...");
* ``POST /v1/cache/lookup`` (the JSON API), the same two ways.

Rerun with::

    .venv/bin/python benchmarks/http_latency.py            # --rounds 10 by default
    .venv/bin/python benchmarks/http_latency.py --url http://127.0.0.1:8080   # a running service
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

TASKS = [
    "reset my password",
    "change my email address",
    "delete my account",
    "export my data to CSV",
    "enable two-factor authentication",
    "update my billing details",
    "cancel my subscription",
    "invite a teammate to my workspace",
    "change the language of the interface",
    "download my invoices",
    "connect my calendar",
    "turn off email notifications",
    "recover a deleted file",
    "share a folder with a client",
    "upgrade to the business plan",
    "rename my project",
    "set up single sign-on",
    "add a custom domain",
    "transfer ownership of a workspace",
    "restore an older version of a document",
]


def chat(question: str) -> dict[str, Any]:
    return {
        "model": "bench-model",
        "temperature": 0,
        "messages": [{"role": "user", "content": question}],
    }


def answer(question: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "bench-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"Here is how to {question}."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
    }


def start_service(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SEMCACHED_DATA_DIR": str(data_dir),
        "SEMCACHED_EMBEDDING__CACHE_SIZE": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
    }
    command = [sys.executable, "-m", "semcached.service.cli.main", "serve", "--port", str(port),
               "--echo-upstream"]  # fmt: skip  # a miss is answered (and counted apart)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(url: str, process: subprocess.Popen[bytes] | None) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"semcached serve exited early:\n{err}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the service at {url} was not ready within 120 s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def measure(
    client: httpx.Client, path: str, bodies: list[dict[str, Any]], expect: str, rounds: int
) -> tuple[list[float], int]:
    """Latencies (ms) of the requests answered with ``expect``, and how many were not."""
    timings: list[float] = []
    other = 0
    for _ in range(rounds):
        for body in bodies:
            start = time.perf_counter()
            reply = client.post(path, json=body)
            elapsed = (time.perf_counter() - start) * 1000
            reply.raise_for_status()
            kind = (
                reply.headers.get("X-Semcached-Cache")
                if path.endswith("completions")
                else reply.json().get("kind")
            )
            if kind == expect:
                timings.append(elapsed)
            else:
                other += 1
    return timings, other


def run(url: str, rounds: int, namespace: str) -> list[dict[str, Any]]:
    questions = [f"How do I {task}?" for task in TASKS]
    paraphrases = [f"How can I {task}?" for task in TASKS]
    headers = {"X-Semcached-Namespace": namespace}
    rows = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for question in questions:
            body = {"request": chat(question), "response": answer(question), "namespace": namespace}
            client.post("/v1/cache/store", json=body).raise_for_status()
        for path in ("/v1/chat/completions", "/v1/cache/lookup"):
            for kind, texts in (("exact", questions), ("semantic", paraphrases)):
                if path.endswith("lookup"):
                    bodies = [{"request": chat(t), "namespace": namespace} for t in texts]
                else:
                    bodies = [chat(t) for t in texts]
                measure(client, path, bodies, kind, 1)  # warm-up: connections, code paths
                timings, other = measure(client, path, bodies, kind, rounds)
                rows.append(
                    {
                        "endpoint": f"POST {path}",
                        "kind": kind,
                        "n": len(timings),
                        "not_that_kind": other,
                        "median_ms": statistics.median(timings) if timings else float("nan"),
                        "p95_ms": percentile(timings, 0.95) if timings else float("nan"),
                    }
                )
        client.delete("/v1/cache", params={"namespace": namespace})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'endpoint':<28} {'hit':<9} {'n':>5} {'median ms':>10} {'p95 ms':>8} {'other':>6}")
    for r in rows:
        print(
            f"{r['endpoint']:<28} {r['kind']:<9} {r['n']:>5} {r['median_ms']:>10.2f} "
            f"{r['p95_ms']:>8.2f} {r['not_that_kind']:>6}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="benchmark a running service instead of starting one")
    parser.add_argument("--rounds", type=int, default=10, help="passes over the 20 questions")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    process = None
    url = args.url
    with tempfile.TemporaryDirectory(prefix="semcached-bench-") as tmp:
        if url is None:
            url = f"http://127.0.0.1:{args.port}"
            process = start_service(args.port, Path(tmp))
        try:
            wait_ready(url, process)
            rows = run(url, args.rounds, namespace=f"bench-{int(time.time())}")
        finally:
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    print(f"semcached HTTP latency on loopback ({url}), sequential requests, keep-alive")
    print_table(rows)


if __name__ == "__main__":
    main()
