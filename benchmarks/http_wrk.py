"""HTTP throughput of `semcached serve` with wrk (Debian's package: `apt-get install wrk`):
exact hits, semantic hits and misses with distinct prompts against the built-in echo
upstream, at a given number of connections, on embedded defaults. wrk runs on the same
machine and its CPU use counts against the service's; the figures are one run each.

Rerun::

    .venv/bin/python benchmarks/http_wrk.py --connections 32 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import start_service

BODY = '{{"model":"m","temperature":0,"messages":[{{"role":"user","content":"{text}"}}]}}'
FIXED = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%s'
"""
DISTINCT = """counter = 0
request = function()
  counter = counter + 1
  local body = string.format('%s', counter .. "-" .. math.random(1, 1e9))
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def run_wrk(url: str, script: str, connections: int, seconds: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", handle.name,
         f"{url}/v1/chat/completions"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"req_per_s": rps, "p50": lat.get("50"), "p99": lat.get("99"),
            "non_2xx": int(errors.group(1)) if errors else 0}  # type: ignore[dict-item]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    stored = "How do I cancel my subscription?"
    out: dict[str, object] = {"cores": os.cpu_count(), "connections": args.connections}
    with tempfile.TemporaryDirectory() as tmp:
        process, url, _ = start_service(tmp)
        try:
            body = BODY.format(text=stored)
            httpx.post(f"{url}/v1/chat/completions", content=body,
                       headers={"content-type": "application/json"}, timeout=30)  # fmt: skip
            paraphrase = BODY.format(text="How can I cancel my subscription?")
            out["exact_hit"] = run_wrk(url, FIXED % body, args.connections, args.seconds)
            out["semantic_hit"] = run_wrk(url, FIXED % paraphrase, args.connections, args.seconds)
            distinct = BODY.format(text="Distinct question number %s about billing?")
            out["miss_distinct"] = run_wrk(url, DISTINCT % distinct, args.connections, args.seconds)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
