"""Compose labelled pairs of long prompts for semantic-cache evaluation and training.

A semantic cache may serve the answer it stored for prompt A when prompt B arrives. Long prompts
are the hard case: the embedding model reads only the first 256 tokens, so two prompts that share
a long document but ask different things, or that ask the same thing about a document that was
changed near its end, can look identical to it. This module builds such pairs from hand-written
components (``benchmarks/data/long_sources_*.json``) and labels them:

* ``label: 1``: the cached answer to A is a fully correct answer to B;
* ``label: 0``: serving A's answer for B would be wrong.

Kinds of pairs (``kind``):

``reworded_task`` (label 1, documents)
    The same document with two rewordings (variants) of the same task.
``reworded_task_template`` (label 1, RAG)
    The same passages in the same RAG template with two rewordings of the same question.
    Templates never differ within a pair: a different template is a different prompt.
``different_task`` (label 0)
    The same document with two different tasks; for RAG, the same passages and template with
    two different questions. The wording of each side is drawn at random (seeded).
``different_document`` (label 0)
    The same task (or question) wording on the original text and on the text with one late edit
    applied. Only edits whose ``affects`` list names the task are used, so the answer changes.

Sources file (a JSON object):

``documents``
    ``[{"id", "text", "late_edits": [{"find", "replace", "affects": [task ids]}],
    "tasks": [{"id", "position": "after" | "before" | "both", "variants": [...]}]}]``;
    a variant is a string, or ``{"before", "after"}`` when the position is ``"both"``.
``rag``
    ``[{"id", "passages": [str], "late_edits": [...], "questions": [{"id", "variants"}]}]``,
    where ``affects`` names question ids.
``templates``
    RAG templates: strings with ``{context}`` and ``{question}`` placeholders.
``document_templates`` (optional)
    How a task joins its document, per position, with ``{document}`` and ``{task}`` (or
    ``{before}`` and ``{after}``); defaults to :data:`DEFAULT_DOCUMENT_TEMPLATES`.
``passage_format``, ``passage_separator`` (optional)
    How passages become ``{context}``: ``"[{n}] {text}"`` joined by a blank line by default.
``max_pairs`` (optional)
    The most pairs to emit; :data:`DEFAULT_MAX_PAIRS` if absent.

Selection keeps the labels balanced within each family (documents, RAG) and spreads each label's
share evenly over its kinds, so neither the label nor the kind can be guessed from the format.

Usage::

    python benchmarks/long_pairs.py benchmarks/data/long_sources_dev.json \\
        -o benchmarks/data/long_dev.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

MIN_PROMPT_CHARS = 1400
"""Every prompt must be at least this long: a rough proxy for more than 256 tokens."""

DEFAULT_MAX_PAIRS = 4000
DEFAULT_DOCUMENT_TEMPLATES: dict[str, str] = {
    "after": "{document}\n\n{task}",
    "before": "{task}\n\n{document}",
    "both": "{before}\n\n{document}\n\n{after}",
}
DEFAULT_PASSAGE_FORMAT = "[{n}] {text}"
DEFAULT_PASSAGE_SEPARATOR = "\n\n"

KIND_LABELS: dict[str, int] = {
    "reworded_task": 1,
    "reworded_task_template": 1,
    "different_task": 0,
    "different_document": 0,
}
POSITIONS = ("after", "before", "both")

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

Pair = dict[str, Any]
Variant = str | dict[str, str]
Pools = dict[str, list[Pair]]


def fill(template: str, fields: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders of ``template`` in a single pass.

    Inserted text is never scanned again, so braces inside documents (``{name}`` in an API path,
    ``${x}`` in code) are kept as they are. Unknown placeholders are left untouched.
    """
    return _PLACEHOLDER.sub(lambda match: fields.get(match.group(1), match.group(0)), template)


def apply_edit(text: str, edit: dict[str, Any]) -> str:
    """Return ``text`` with the edit's ``find`` replaced by its ``replace`` (exactly once)."""
    count = text.count(edit["find"])
    if count != 1:
        raise ValueError(f"late edit {edit['find']!r} occurs {count} times, expected once")
    return text.replace(edit["find"], edit["replace"])


def apply_passage_edit(passages: list[str], edit: dict[str, Any]) -> list[str]:
    """Return a copy of ``passages`` with ``edit`` applied to the one passage that holds it."""
    holders = [i for i, passage in enumerate(passages) if edit["find"] in passage]
    if len(holders) != 1:
        raise ValueError(f"late edit {edit['find']!r} is in {len(holders)} passages, expected 1")
    edited = list(passages)
    edited[holders[0]] = apply_edit(passages[holders[0]], edit)
    return edited


def render_document(templates: dict[str, str], text: str, position: str, variant: Variant) -> str:
    """Join a document and one task variant according to the task's position."""
    if isinstance(variant, dict):
        fields = {"document": text, "before": variant["before"], "after": variant["after"]}
    else:
        fields = {"document": text, "task": variant}
    return fill(templates[position], fields)


def render_context(passages: list[str], passage_format: str, separator: str) -> str:
    """Number the passages and join them into the text that replaces ``{context}``."""
    return separator.join(
        fill(passage_format, {"n": str(n), "text": passage})
        for n, passage in enumerate(passages, start=1)
    )


def render_rag(template: str, context: str, question: str) -> str:
    """Fill a RAG template with a rendered context and a question."""
    return fill(template, {"context": context, "question": question})


def validate_sources(sources: dict[str, Any]) -> list[str]:
    """Return every problem found in ``sources``; an empty list means they are usable.

    Checks that each late edit's ``find`` occurs exactly once, in the second half of a document
    or in one of the last two passages of a RAG item, that ``affects`` names existing tasks or
    questions, that there are at least two tasks (questions) with at least two distinct variants
    each, and that every template has its placeholders.
    """
    problems: list[str] = []
    for template in sources.get("templates", []):
        if template.count("{context}") != 1 or template.count("{question}") != 1:
            problems.append(f"RAG template lacks one {{context}} or {{question}}: {template!r}")
    doc_templates = {**DEFAULT_DOCUMENT_TEMPLATES, **sources.get("document_templates", {})}
    for position, needed in (("after", "task"), ("before", "task"), ("both", "before")):
        for name in ("document", needed):
            if "{" + name + "}" not in doc_templates[position]:
                problems.append(f"document template {position!r} lacks {{{name}}}")
    for document in sources.get("documents", []):
        problems.extend(_document_problems(document))
    for item in sources.get("rag", []):
        problems.extend(_rag_problems(item))
    return problems


def _variant_problems(where: str, variants: list[Variant], position: str | None) -> list[str]:
    problems = []
    if len(variants) < 2:
        problems.append(f"{where}: needs at least two variants")
    if len({json.dumps(v, sort_keys=True) for v in variants}) != len(variants):
        problems.append(f"{where}: variants repeat")
    for variant in variants:
        is_both = isinstance(variant, dict) and set(variant) == {"before", "after"}
        if (position == "both") != is_both:
            problems.append(f"{where}: variant {variant!r} does not fit position {position!r}")
    return problems


def _document_problems(document: dict[str, Any]) -> list[str]:
    where = f"document {document['id']}"
    text: str = document["text"]
    tasks = document["tasks"]
    task_ids = [task["id"] for task in tasks]
    problems = []
    if len(tasks) < 2 or len(set(task_ids)) != len(task_ids):
        problems.append(f"{where}: needs at least two tasks with distinct ids")
    for task in tasks:
        if task["position"] not in POSITIONS:
            problems.append(f"{where}/{task['id']}: unknown position {task['position']!r}")
        problems.extend(
            _variant_problems(f"{where}/{task['id']}", task["variants"], task["position"])
        )
    for edit in document["late_edits"]:
        count = text.count(edit["find"])
        if count != 1:
            problems.append(f"{where}: edit {edit['find']!r} occurs {count} times")
        elif text.index(edit["find"]) < len(text) // 2:
            problems.append(f"{where}: edit {edit['find']!r} is not in the second half")
        problems.extend(_affects_problems(where, edit, task_ids))
    return problems


def _rag_problems(item: dict[str, Any]) -> list[str]:
    where = f"rag {item['id']}"
    passages: list[str] = item["passages"]
    questions = item["questions"]
    question_ids = [question["id"] for question in questions]
    problems = []
    if len(questions) < 2 or len(set(question_ids)) != len(question_ids):
        problems.append(f"{where}: needs at least two questions with distinct ids")
    for question in questions:
        problems.extend(_variant_problems(f"{where}/{question['id']}", question["variants"], None))
    for edit in item["late_edits"]:
        count = sum(passage.count(edit["find"]) for passage in passages)
        if count != 1:
            problems.append(f"{where}: edit {edit['find']!r} occurs {count} times")
        elif not any(edit["find"] in passage for passage in passages[-2:]):
            problems.append(f"{where}: edit {edit['find']!r} is not in the last two passages")
        problems.extend(_affects_problems(where, edit, question_ids))
    return problems


def _affects_problems(where: str, edit: dict[str, Any], ids: list[str]) -> list[str]:
    affects = edit.get("affects", [])
    if not affects:
        return [f"{where}: edit {edit['find']!r} affects nothing"]
    return [
        f"{where}: edit {edit['find']!r} affects unknown {name!r}"
        for name in affects
        if name not in ids
    ]


def _pair(a: str, b: str, kind: str, source: str, rng: random.Random) -> Pair:
    """Make one labelled pair, in random order, after checking both prompts."""
    for prompt in (a, b):
        if len(prompt) < MIN_PROMPT_CHARS:
            raise ValueError(f"{source}: prompt has {len(prompt)} < {MIN_PROMPT_CHARS} chars")
    if a == b:
        raise ValueError(f"{source}: both prompts are identical")
    if rng.random() < 0.5:
        a, b = b, a
    return {"a": a, "b": b, "label": KIND_LABELS[kind], "kind": kind, "source": source}


def _document_pools(document: dict[str, Any], templates: dict[str, str], seed: int) -> Pools:
    """All candidate pairs for one document, by kind."""
    rng = random.Random(f"{seed}:document:{document['id']}")
    text: str = document["text"]
    base = f"document/{document['id']}"
    pools: Pools = {"reworded_task": [], "different_task": [], "different_document": []}

    def render(body: str, task: dict[str, Any], variant: Variant) -> str:
        return render_document(templates, body, task["position"], variant)

    for task in document["tasks"]:
        for first, second in itertools.combinations(task["variants"], 2):
            pools["reworded_task"].append(
                _pair(
                    render(text, task, first),
                    render(text, task, second),
                    "reworded_task",
                    f"{base}/{task['id']}",
                    rng,
                )
            )
    for one, other in itertools.combinations(document["tasks"], 2):
        pools["different_task"].append(
            _pair(
                render(text, one, rng.choice(one["variants"])),
                render(text, other, rng.choice(other["variants"])),
                "different_task",
                f"{base}/{one['id']}|{other['id']}",
                rng,
            )
        )
    for number, edit in enumerate(document["late_edits"]):
        edited = apply_edit(text, edit)
        for task in document["tasks"]:
            if task["id"] not in edit["affects"]:
                continue
            for variant in task["variants"]:
                pools["different_document"].append(
                    _pair(
                        render(text, task, variant),
                        render(edited, task, variant),
                        "different_document",
                        f"{base}/{task['id']}/edit{number}",
                        rng,
                    )
                )
    return pools


def _rag_pools(item: dict[str, Any], sources: dict[str, Any], seed: int) -> Pools:
    """All candidate pairs for one RAG item under every template, by kind."""
    rng = random.Random(f"{seed}:rag:{item['id']}")
    passage_format = sources.get("passage_format", DEFAULT_PASSAGE_FORMAT)
    separator = sources.get("passage_separator", DEFAULT_PASSAGE_SEPARATOR)
    context = render_context(item["passages"], passage_format, separator)
    edited_contexts = [
        render_context(apply_passage_edit(item["passages"], edit), passage_format, separator)
        for edit in item["late_edits"]
    ]
    questions = item["questions"]
    pools: Pools = {"reworded_task_template": [], "different_task": [], "different_document": []}
    for number, template in enumerate(sources["templates"]):
        base = f"rag/{item['id']}/template{number}"
        for question in questions:
            for first, second in itertools.combinations(question["variants"], 2):
                pools["reworded_task_template"].append(
                    _pair(
                        render_rag(template, context, first),
                        render_rag(template, context, second),
                        "reworded_task_template",
                        f"{base}/{question['id']}",
                        rng,
                    )
                )
        for one, other in itertools.combinations(questions, 2):
            pools["different_task"].append(
                _pair(
                    render_rag(template, context, rng.choice(one["variants"])),
                    render_rag(template, context, rng.choice(other["variants"])),
                    "different_task",
                    f"{base}/{one['id']}|{other['id']}",
                    rng,
                )
            )
        for edit_number, (edit, edited) in enumerate(
            zip(item["late_edits"], edited_contexts, strict=True)
        ):
            for question in questions:
                if question["id"] not in edit["affects"]:
                    continue
                for variant in question["variants"]:
                    pools["different_document"].append(
                        _pair(
                            render_rag(template, context, variant),
                            render_rag(template, edited, variant),
                            "different_document",
                            f"{base}/{question['id']}/edit{edit_number}",
                            rng,
                        )
                    )
    return pools


def _water_fill(sizes: list[int], total: int) -> list[int]:
    """Split ``total`` as evenly as possible over buckets that hold at most ``sizes`` each."""
    quotas = [0] * len(sizes)
    remaining = min(total, sum(sizes))
    while remaining > 0:
        open_buckets = [i for i, size in enumerate(sizes) if quotas[i] < size]
        share = max(1, remaining // len(open_buckets))
        for i in open_buckets:
            take = min(share, sizes[i] - quotas[i], remaining)
            quotas[i] += take
            remaining -= take
            if remaining == 0:
                break
    return quotas


def _dedupe(pairs: list[Pair]) -> list[Pair]:
    """Drop pairs whose two prompts (in either order) were already seen."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for pair in pairs:
        key = (min(pair["a"], pair["b"]), max(pair["a"], pair["b"]))
        if key not in seen:
            seen.add(key)
            unique.append(pair)
    return unique


def _select(
    pools: dict[tuple[str, str], list[Pair]], max_pairs: int, rng: random.Random
) -> list[Pair]:
    """Pick a label-balanced subset: equal label counts per family, kinds evenly within."""
    families = sorted({family for family, _ in pools})

    def keys_for(family: str, label: int) -> list[tuple[str, str]]:
        return sorted(key for key in pools if key[0] == family and KIND_LABELS[key[1]] == label)

    capacities = [
        min(sum(len(pools[key]) for key in keys_for(family, label)) for label in (0, 1))
        for family in families
    ]
    selected: list[Pair] = []
    for family, per_label in zip(families, _water_fill(capacities, max_pairs // 2), strict=True):
        for label in (1, 0):
            keys = keys_for(family, label)
            quotas = _water_fill([len(pools[key]) for key in keys], per_label)
            for key, quota in zip(keys, quotas, strict=True):
                selected.extend(rng.sample(pools[key], quota))
    return selected


def build_pairs(
    sources: dict[str, Any], *, seed: int = 0, max_pairs: int | None = None
) -> list[dict[str, Any]]:
    """Compose labelled pairs of long prompts from ``sources``, deterministically for ``seed``.

    ``max_pairs`` overrides the sources' own ``max_pairs`` (default :data:`DEFAULT_MAX_PAIRS`).
    The result holds as many label-1 as label-0 pairs, shuffled. Raises ``ValueError`` when the
    sources are invalid (see :func:`validate_sources`) or when a prompt is shorter than
    :data:`MIN_PROMPT_CHARS`.
    """
    problems = validate_sources(sources)
    if problems:
        raise ValueError("invalid sources:\n" + "\n".join(problems))
    limit = max_pairs if max_pairs is not None else int(sources.get("max_pairs", DEFAULT_MAX_PAIRS))
    templates = {**DEFAULT_DOCUMENT_TEMPLATES, **sources.get("document_templates", {})}
    pools: dict[tuple[str, str], list[Pair]] = {}
    families: list[tuple[str, Pools]] = [
        ("document", _document_pools(document, templates, seed))
        for document in sources.get("documents", [])
    ]
    families += [("rag", _rag_pools(item, sources, seed)) for item in sources.get("rag", [])]
    for family, by_kind in families:
        for kind, pairs in by_kind.items():
            pools.setdefault((family, kind), []).extend(pairs)
    pools = {key: _dedupe(pairs) for key, pairs in pools.items()}
    rng = random.Random(f"{seed}:select")
    selected = _select(pools, limit, rng)
    rng.shuffle(selected)
    return selected


def summarize(pairs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Count pairs by label and by kind."""
    return {
        "label": {str(k): v for k, v in sorted(Counter(p["label"] for p in pairs).items())},
        "kind": dict(sorted(Counter(p["kind"] for p in pairs).items())),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: read a sources file, write the pairs as JSON lines, print the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, help="long_sources_*.json")
    parser.add_argument("-o", "--output", type=Path, help="JSONL file to write (default: stdout)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-pairs", type=int, default=None, help="override the sources' max_pairs"
    )
    args = parser.parse_args(argv)
    sources = json.loads(args.sources.read_text(encoding="utf-8"))
    pairs = build_pairs(sources, seed=args.seed, max_pairs=args.max_pairs)
    lines = "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs)
    if args.output is None:
        sys.stdout.write(lines)
    else:
        args.output.write_text(lines, encoding="utf-8")
    print(f"{len(pairs)} pairs {json.dumps(summarize(pairs))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
