"""Start-up, idle memory and a bounded soak of `semcached serve` as an operator runs it: the
service on embedded defaults with the echo upstream, driven with distinct and repeated
questions for a fixed time, sampled every few seconds for RSS, open file handles and TCP
connections (from /proc), with the request rate and errors. Linux only.

Rerun::

    .venv/bin/python benchmarks/soak.py --seconds 120
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    tcp = sum(
        1 for path in ("/proc/net/tcp", "/proc/net/tcp6") if os.path.exists(path)
        for line in Path(path).read_text().splitlines()[1:] if line.split()[3] == "01"
    )  # fmt: skip  # established connections on the machine (the driver's included)
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds, "tcp_established": tcp}


def start_service(data_dir: str) -> tuple[subprocess.Popen[bytes], str, float]:
    """`semcached serve` on embedded defaults and the echo upstream; ready after how long."""
    port = _free_port()
    semcached = Path(sys.executable).with_name("semcached")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEMCACHED_")}
    env.update({"HF_HUB_OFFLINE": "1", "SEMCACHED_CONFIG_FILE": ""})
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(semcached), "serve", "--echo-upstream", "--port", str(port), "--data-dir", data_dir,
         "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url, time.perf_counter() - start
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.perf_counter() - start > 120:
            raise RuntimeError("the service did not start")
        time.sleep(0.05)


def _question(rng: random.Random) -> dict[str, object]:
    n = rng.randrange(5000) if rng.random() < 0.5 else rng.randrange(50)  # half repeats
    text = f"Question {n}: what about item {n * 3}?"
    return {"model": "m", "temperature": 0, "stream": rng.random() < 0.2,
            "messages": [{"role": "user", "content": text}]}  # fmt: skip


def soak(url: str, pid: int, seconds: float, threads: int, every: float) -> dict[str, object]:
    """Drive the service from ``threads`` clients for ``seconds``; sample it every ``every``."""
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def drive(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.monotonic() < stop:
                try:
                    ok = client.post("/v1/chat/completions", json=_question(rng)).is_success
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["requests"] += 1
                    counts["errors"] += not ok

    workers = [threading.Thread(target=drive, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    samples = []
    began = time.monotonic()
    while time.monotonic() < stop:
        time.sleep(every)
        with lock:
            done = dict(counts)
        samples.append({"t_s": round(time.monotonic() - began), **done, **_proc(pid)})
        print(json.dumps(samples[-1]), flush=True)
    for w in workers:
        w.join()
    return {
        "samples": samples, "requests": counts["requests"], "errors": counts["errors"],
        "req_per_s": round(counts["requests"] / seconds, 1),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--sample-every", type=float, default=10)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    out: dict[str, object] = {"cores": os.cpu_count(), "seconds": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        process, url, startup = start_service(tmp)
        try:
            out["startup_s"] = round(startup, 2)
            time.sleep(2)
            out["idle"] = _proc(process.pid)
            out.update(soak(url, process.pid, args.seconds, args.threads, args.sample_every))
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
