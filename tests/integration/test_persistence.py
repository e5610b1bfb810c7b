"""What the embedded default stores survives a process restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys
from semcached import SemanticCache
mode = sys.argv[1]
cache = SemanticCache()
request = lambda q: {"model": "gpt-4o", "temperature": 0,
                     "messages": [{"role": "user", "content": q}]}
if mode == "write":
    cache.store(request("How do I reset my password?"), {"answer": "Use the reset link."})
    print(json.dumps({"count": cache.count()}))
else:
    exact = cache.lookup(request("How do I reset my password?"))
    para = cache.lookup(request("How can I reset my password?"))
    print(json.dumps({"exact": [exact.hit, str(exact.kind), exact.response],
                      "para": [para.hit, str(para.kind), para.response],
                      "count": cache.count()}))
"""


def run(mode: str, data_dir: Path) -> dict[str, object]:
    env = {**os.environ, "SEMCACHED_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("SEMCACHED_REDIS_URL", None)
    env.pop("SEMCACHED_CHROMA_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    """Process one stores on embedded defaults and exits; process two hits exact and semantic."""
    assert run("write", tmp_path) == {"count": 1}
    after = run("read", tmp_path)
    answer = {"answer": "Use the reset link."}
    assert after["exact"] == [True, "exact", answer]
    assert after["para"] == [True, "semantic", answer]
    assert after["count"] == 1
