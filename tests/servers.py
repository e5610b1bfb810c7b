"""Real servers for the tests: find or start Redis, start a ChromaDB server.

Never a fake: the suite talks to the Redis on 127.0.0.1:6379 (every development and CI machine
has one), starts ``redis-server`` on a free port when that one is not reachable, and starts
``chroma run`` on a free port for the server-mode tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

REDIS_HINT = (
    "the tests need a Redis server: start one with `redis-server --daemonize yes --port 6379 "
    "--save '' --appendonly no`, install it with `apt-get install redis-server`, or point "
    "SEMCACHED_TEST_REDIS_URL at one"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_reachable(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


class RedisProcess:
    """A throwaway ``redis-server`` on a chosen port that a test may stop and restart."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(REDIS_HINT)
        self.binary = binary
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_reachable(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def find_or_start_redis() -> tuple[str, RedisProcess | None]:
    url = os.environ.get("SEMCACHED_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_reachable(url):
        return url, None
    if shutil.which("redis-server") is None:
        raise RuntimeError(f"no Redis at {url}; {REDIS_HINT}")
    process = RedisProcess().start()
    return process.url, process


CHROMA_PIDS: dict[str, int] = {}


@contextmanager
def chroma_server(data_dir: Path, port: int | None = None) -> Iterator[str]:
    """Run ``chroma run`` on ``port`` (a free one by default); yield its URL once it answers
    its heartbeat. ``CHROMA_PIDS[url]`` is the server's process id while it runs."""
    import httpx

    port = port or free_port()
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma)] if chroma.exists() else [sys.executable, "-m", "chromadb.cli.cli"]
    log = (data_dir / "chroma-server.log").open("wb")
    process = subprocess.Popen(
        [
            *command,
            "run",
            "--path",
            str(data_dir / "server-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"chroma run exited early: {(data_dir / 'chroma-server.log').read_text()}"
                )
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chroma run did not answer within 60 s")
            time.sleep(0.2)
        CHROMA_PIDS[url] = process.pid
        yield url
    finally:
        CHROMA_PIDS.pop(url, None)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a test may have left it stopped
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
