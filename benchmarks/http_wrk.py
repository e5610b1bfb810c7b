"""HTTP throughput of `semcached serve` with wrk (Debian's package: `apt-get install wrk`):
exact hits, semantic hits (one repeated paraphrase, and distinct paraphrases) and misses with
distinct prompts against the built-in echo upstream, at each number of connections asked, on
embedded defaults. wrk runs on the same machine: the CPU it used is reported beside the
service's, and the figures are one run each.

Rerun::

    .venv/bin/python benchmarks/http_wrk.py --connections 32 --seconds 15
    .venv/bin/python benchmarks/http_wrk.py --connections 1 8 32 128 --seconds 10 --json out.json

What each case sends:

* ``exact_hit``: one stored question, verbatim (served by the exact layer);
* ``semantic_repeated``: one paraphrase of it, again and again (its embedding memoised, so
  this is the vector query and the verifier without the model);
* ``semantic_distinct``: paraphrases of 40 stored questions, each request a new wording
  (a filler phrase picked from 400 combinations): embedding, query and verifier every time;
  the share wrk saw answered ``semantic`` or ``exact`` is reported (``hit_share``);
* ``miss_distinct``: a new question every request: embed, search, upstream, store.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from soak import start_service

BODY = '{{"model":"m","temperature":0,"messages":[{{"role":"user","content":"{text}"}}]}}'

TOPICS = [
    "cancel my subscription", "reset my password", "change my email address",
    "update my billing details", "download my invoices", "delete my account",
    "export my data", "add a team member", "remove a team member", "change my plan",
    "enable two-factor authentication", "turn off email notifications", "contact support",
    "get a refund", "change the language of the app", "connect my calendar",
    "rename a project", "archive a project", "restore a deleted file", "share a folder",
    "change my username", "verify my phone number", "update my shipping address",
    "cancel an order", "track my order", "return an item", "apply a discount code",
    "change my profile picture", "set up single sign-on", "rotate my API key",
    "increase my storage quota", "invite a guest user", "change my time zone",
    "merge two accounts", "transfer ownership of a workspace", "see my login history",
    "pause my subscription", "print a receipt", "change the currency", "close my workspace",
]  # fmt: skip
FILLERS_A = ["", "please", "exactly", "today", "again", "quickly", "now", "here", "myself",
             "properly", "safely", "easily", "still", "at all", "online", "for real",
             "right away", "step by step", "on the website", "in the app"]  # fmt: skip
FILLERS_B = ["", "thanks", "thank you", "cheers", "any idea", "help", "please advise",
             "I am stuck", "asking for a friend", "quick question", "urgent", "just wondering",
             "if possible", "by the way", "kindly", "hi", "hello", "hey there", "ok",
             "sorry"]  # fmt: skip

FIXED = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '%s'
"""
COUNT_KINDS = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  kinds = {}
  -- each wrk thread has its own Lua state: seed each differently, or they send the same
  -- "distinct" sequence (the address of a fresh table differs between states)
  local addr = tonumber(string.match(tostring({}), "0x%x+")) or 0
  math.randomseed(os.time() + addr % 1000003)
end
function response(status, headers, body)
  local kind = headers["x-semcached-cache"] or headers["X-Semcached-Cache"] or "none"
  kinds[kind] = (kinds[kind] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("kinds")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. "=" .. v) end
  io.write("KINDS " .. table.concat(parts, ",") .. "\\n")
end
"""
DISTINCT_MISS = """counter = 0
request = function()
  counter = counter + 1
  local body = string.format('%s', math.random(1, 1e9) .. "-" .. counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""
DISTINCT_PARAPHRASE = """topics = {%s}
fa = {%s}
fb = {%s}
request = function()
  local t = topics[math.random(#topics)]
  local a = fa[math.random(#fa)]
  local b = fb[math.random(#fb)]
  local text = "How can I " .. t
  if a ~= "" then text = text .. " " .. a end
  text = text .. "?"
  if b ~= "" then text = text .. " " .. b end
  local body = string.format('%s', text)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
"""


def _lua_list(items: list[str]) -> str:
    return ", ".join(json.dumps(item) for item in items)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    url: str, script: str, connections: int, seconds: int, service_pid: int
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script + COUNT_KINDS)
    threads = max(1, min(2, connections))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    service_before = _cpu_seconds(service_pid)
    started = time.perf_counter()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         "-s", handle.name, f"{url}/v1/chat/completions"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    service_cpu = _cpu_seconds(service_pid) - service_before
    os.unlink(handle.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    kinds_line = re.search(r"^KINDS (.*)$", out, re.MULTILINE)
    kinds = {
        k: int(v)
        for k, v in (p.split("=") for p in (kinds_line.group(1).split(",") if kinds_line else []))
        if k
    }
    answered = sum(kinds.values()) or 1
    wrk_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "req_per_s": rps,
        "p50": lat.get("50"),
        "p90": lat.get("90"),
        "p99": lat.get("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "kinds": kinds,
        "hit_share": round((kinds.get("semantic", 0) + kinds.get("exact", 0)) / answered, 3),
        "wrk_cores": round(wrk_cpu / wall, 2),
        "service_cores": round(service_cpu / wall, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[32])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["exact_hit", "semantic_repeated", "semantic_distinct", "miss_distinct"],
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    stored = "How do I cancel my subscription?"
    out: dict[str, Any] = {"cores": os.cpu_count(), "seconds": args.seconds, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        process, url, _ = start_service(tmp)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for text in [stored] + [f"How do I {topic}?" for topic in TOPICS]:
                    client.post("/v1/chat/completions", content=BODY.format(text=text),
                                headers={"content-type": "application/json"})  # fmt: skip
            scripts = {
                "exact_hit": FIXED % BODY.format(text=stored),
                "semantic_repeated": FIXED % BODY.format(text="How can I cancel my subscription?"),
                "semantic_distinct": DISTINCT_PARAPHRASE
                % (
                    _lua_list(TOPICS),
                    _lua_list(FILLERS_A),
                    _lua_list(FILLERS_B),
                    BODY.format(text="%s"),
                ),
                "miss_distinct": DISTINCT_MISS
                % BODY.format(text="Distinct question number %s about billing?"),
            }
            for connections in args.connections:
                for case in args.cases:
                    result = run_wrk(url, scripts[case], connections, args.seconds, process.pid)
                    out["runs"].setdefault(case, {})[str(connections)] = result
                    print(f"{case:>18} c={connections:<4} {json.dumps(result)}", flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
