"""`semcached serve --workers 2` as an operator runs it: two worker processes on Redis and a
Chroma server, sharing one cache; refused, with the reason, on embedded stores."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from semcached.service.cli.main import main
from tests.servers import free_port
from tests.servicekit import chat, drop_redis_prefix

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_workers_need_shared_stores() -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2", "--echo-upstream"])
    assert result.exit_code == 2
    assert "--redis-url (the exact layer) and --chroma-url (the vector index)" in result.output


@pytest.fixture
def two_workers(redis_url: str, chroma_url: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    prefix = f"semcached-test-workers-{os.getpid()}"
    semcached = Path(sys.executable).with_name("semcached")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SEMCACHED_")},
        "SEMCACHED_REDIS__KEY_PREFIX": prefix,
        "SEMCACHED_CHROMA__COLLECTION_PREFIX": f"w{os.getpid()}",
        "SEMCACHED_CONFIG_FILE": "",
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(semcached), "serve", "--workers", "2", "--echo-upstream", "--port", str(port),
         "--redis-url", redis_url, "--chroma-url", chroma_url, "--data-dir", str(tmp_path)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # two workers load their models
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        drop_redis_prefix(redis_url, prefix)


def test_two_workers_share_one_cache(two_workers: str) -> None:
    """Whichever worker answers, a stored answer is found: twenty fresh connections after one
    miss are all exact hits."""
    body = chat("How do I export my invoices?")
    first = httpx.post(f"{two_workers}/v1/chat/completions", json=body, timeout=60)
    assert first.status_code == 200 and first.headers["x-semcached-cache"] == "miss"
    kinds = {
        httpx.post(f"{two_workers}/v1/chat/completions", json=body, timeout=60).headers[
            "x-semcached-cache"
        ]
        for _ in range(20)
    }
    assert kinds == {"exact"}
    ready = httpx.get(f"{two_workers}/readyz", timeout=30).json()
    assert ready["status"] == "ready"
