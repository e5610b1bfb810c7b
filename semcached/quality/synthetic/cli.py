"""The command line: ``python -m semcached.quality.synthetic -n 50000 --seed 0 -o pairs.jsonl``."""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from semcached.quality.synthetic.generate import generate
from semcached.quality.synthetic.perturb import perturb

__all__ = ["main"]


def _read_prompts(path: Path) -> list[str]:
    prompts: list[str] = []
    text = path.read_text(encoding="utf-8")
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if path.suffix == ".jsonl" and line.startswith("{"):
            record = json.loads(line)
            for key in ("a", "b", "prompt", "text"):
                value = record.get(key)
                if isinstance(value, str) and value.strip():
                    prompts.append(value)
        else:
            prompts.append(line)
    return list(dict.fromkeys(prompts))


def main(argv: Sequence[str] | None = None) -> int:
    """Write synthetic pairs as JSONL (keys a, b, label, kind, source).

    ``python -m semcached.quality.synthetic -n 50000 --seed 0 -o pairs.jsonl`` writes 50,000
    template pairs; ``--prompts FILE`` (repeatable) adds every :func:`perturb` pair of each
    prompt in FILE (one prompt a line, or JSONL whose a/b/prompt/text fields are prompts).

    >>> main(["-n", "0", "-o", "/dev/null"])
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m semcached.quality.synthetic",
        description="Synthetic near-miss and rewording pairs for the pair verifier.",
    )
    parser.add_argument("-n", type=int, default=50_000, help="template pairs (default 50000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("-o", "--output", default="-", help="JSONL file, or - for stdout")
    parser.add_argument(
        "--prompts",
        type=Path,
        action="append",
        default=[],
        help="natural prompts to perturb as well (repeatable)",
    )
    args = parser.parse_args(argv)
    pairs = generate(args.n, seed=args.seed)
    rng = random.Random(args.seed + 1)
    for path in args.prompts:
        for prompt in _read_prompts(path):
            pairs.extend(perturb(prompt, rng))
    lines = "".join(json.dumps(p.to_json(), ensure_ascii=False) + "\n" for p in pairs)
    if args.output == "-":
        sys.stdout.write(lines)
    else:
        Path(args.output).write_text(lines, encoding="utf-8")
    positives = sum(p.label for p in pairs)
    print(
        f"{len(pairs)} pairs ({positives} label 1, {len(pairs) - positives} label 0)",
        file=sys.stderr,
    )
    return 0
