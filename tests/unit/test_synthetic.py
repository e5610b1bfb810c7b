"""Behaviour of the synthetic contrastive pair generator (semcached.quality.synthetic)."""

from __future__ import annotations

import collections
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcached.quality.synthetic import (
    KINDS,
    LABEL0_KINDS,
    LABEL1_KINDS,
    SyntheticPair,
    generate,
    main,
    perturb,
)
from semcached.quality.synthetic.library import TEMPLATES

# Natural prompts written for these tests (not taken from any dev set).
PROMPTS = [
    "Can I get a refund without a receipt?",
    "How do I enable dark mode in Slack on my iPhone?",
    "How do I copy a file from the host to a Docker container?",
    "Which snakes are not venomous in Australia?",
    "Write a regex that matches lines that do not contain the word 'error'.",
    "Why can't I log in to my account after changing my password?",
    "Book a table for 8 people at 2 pm on Friday.",
    "Convert 45 degrees Fahrenheit to Celsius.",
    "Summarize this article in one sentence for a 10-year-old.",
    "Write a formal email to my landlord asking to pay rent 5 days late.",
    "What is the population of Tokyo in 2020?",
    "Translate this into French: Your order has shipped and will arrive in 3 days.",
    "How do I switch my billing from monthly to annual?",
    "Is a cat bigger than a dog?",
    "Explain quantum entanglement to a beginner in under 100 words.",
    "My flight lands at 9 am and check-in is at 3 pm. Where can I store my bags?",
    "How long should I boil an egg if I want a runny yolk?",
    "What is 15% of 2,400?",
    "Do you ship orders over $50 to Canada for free?",
    "List the first 10 prime numbers in ascending order.",
    "How do I install Python 3.11 on Ubuntu 22.04?",
    "Write a haiku about the ocean as JSON.",
    "I'd like to cancel my subscription. What's the fastest way to do it?",
    "How many cups are in a liter?",
    "Extract the email addresses from this message: Ping ana@example.com or bo@example.org today.",
    "Should I eat before a morning run?",
    "What's the difference between a local and a remote git branch?",
    "Who painted the Mona Lisa?",
    "What happens if I don't renew my passport before it expires?",
    "Sort these names in alphabetical order: Zoe, Adam, Maya",
    "If I invest $1,000 at 5% interest for 10 years, how much will I have?",
    "How do I upload a 2 GB video to YouTube from my Android phone?",
    "Write a cheerful tweet announcing our new bakery in Berlin.",
    "What is the boiling point of water in Kelvin?",
    "How do I move my photos from my old laptop to my new phone?",
    "Is the museum open on Mondays in January?",
    "Give me three tips for learning Spanish in 6 months.",
    "Please explain how vaccines work, thanks!",
    "Rewrite this sentence in the passive voice: The committee approved the budget.",
    "What is 7! divided by 5!?",
]

NEGATION = re.compile(
    r"\b(?:not|never|no|without|cannot|nor|none|nothing|nobody|cant|dont|doesnt|didnt|isnt|"
    r"arent|wasnt|werent|shouldnt|couldnt|wouldnt|havent|hasnt)\b|n['\u2019]t\b",
    re.IGNORECASE,
)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
CAPITALISED = re.compile(r"\b[A-Z][\w'\u2019-]*")


def _perturbed(prompts: list[str], seed: int = 0) -> list[SyntheticPair]:
    rng = random.Random(seed)
    return [pair for prompt in prompts for pair in perturb(prompt, rng)]


@pytest.fixture(scope="module")
def pairs_5000() -> list[SyntheticPair]:
    return generate(5000, seed=0)


@pytest.fixture(scope="module")
def perturbed() -> list[SyntheticPair]:
    return [pair for seed in range(6) for pair in _perturbed(PROMPTS, seed)]


# --------------------------------------------------------------------------------- generate
def test_generate_is_deterministic_for_a_seed() -> None:
    first = generate(400, seed=11)
    assert first == generate(400, seed=11)
    assert first != generate(400, seed=12)


def test_generate_does_not_depend_on_string_hashing() -> None:
    """Another process with another PYTHONHASHSEED gives the same pairs for the same seed."""
    code = (
        "import json, sys; from semcached.quality.synthetic import generate; "
        "json.dump([p.to_json() for p in generate(300, seed=9)], sys.stdout)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [p.to_json() for p in generate(300, seed=9)]


def test_generate_returns_exactly_n_pairs_about_half_positive() -> None:
    pairs = generate(1001, seed=5)
    assert len(pairs) == 1001
    assert abs(sum(p.label for p in pairs) - 500) <= 5


def test_generate_makes_every_kind_in_roughly_equal_shares(pairs_5000: list[SyntheticPair]) -> None:
    counts = collections.Counter(p.kind for p in pairs_5000)
    assert set(counts) == set(KINDS)
    for label, kinds in ((0, LABEL0_KINDS), (1, LABEL1_KINDS)):
        fair = 2500 / len(kinds)
        for kind in kinds:
            assert 0.7 * fair <= counts[kind] <= 1.3 * fair, (label, kind, counts[kind])


def test_generated_pairs_are_labelled_by_their_kind(pairs_5000: list[SyntheticPair]) -> None:
    for p in pairs_5000:
        assert p.label == KINDS[p.kind]
        assert p.source == "template"


def test_generated_pairs_never_repeat_a_prompt_as_its_own_pair(
    pairs_5000: list[SyntheticPair],
) -> None:
    assert all(p.a != p.b and p.a.strip() and p.b.strip() for p in pairs_5000)
    assert len({(p.a, p.b) for p in pairs_5000}) == len(pairs_5000)


def test_generate_of_zero_is_empty() -> None:
    assert generate(0) == []


def test_template_library_is_large() -> None:
    base = [t for t in TEMPLATES if t.group < 0]
    assert len(base) >= 300
    assert sum(len(t.phrasings) >= 2 for t in base) >= 0.95 * len(base)


# ---------------------------------------------------------------------------------- perturb
def test_perturb_labels_follow_kinds_and_a_is_the_input(perturbed: list[SyntheticPair]) -> None:
    for p in perturbed:
        assert p.label == KINDS[p.kind]
        assert p.source == "perturb"
        assert p.a in PROMPTS
        assert p.a != p.b


def test_perturb_finds_both_near_misses_and_rewordings(perturbed: list[SyntheticPair]) -> None:
    kinds = {p.kind for p in perturbed}
    for kind in (
        "negation",
        "numbers",
        "number_order",
        "dates_versions",
        "entities",
        "swapped_roles",
        "opposite_actions",
        "units",
        "output_format",
        "language",
        "audience",
        "tone",
        "constraints",
        "scope",
        "qualifiers",
    ):
        assert kind in kinds, kind
    for kind in LABEL1_KINDS:
        assert kind in kinds, kind


def test_number_order_keeps_the_numbers_but_changes_their_order(
    perturbed: list[SyntheticPair],
) -> None:
    cases = [p for p in perturbed if p.kind == "number_order"]
    assert cases
    for p in cases:
        na, nb = NUMBER.findall(p.a), NUMBER.findall(p.b)
        if sorted(na) == sorted(nb):
            assert na != nb  # two numbers swapped places
        else:  # or the digits of one number were swapped
            assert len(na) == len(nb)
            differing = [(x, y) for x, y in zip(na, nb, strict=True) if x != y]
            assert len(differing) == 1
            x, y = differing[0]
            assert sorted(x) == sorted(y)


def test_negation_adds_or_removes_a_negation(perturbed: list[SyntheticPair]) -> None:
    cases = [p for p in perturbed if p.kind == "negation"]
    assert cases
    for p in cases:
        assert len(NEGATION.findall(p.a)) != len(NEGATION.findall(p.b)), (p.a, p.b)


def test_numbers_change_a_number(perturbed: list[SyntheticPair]) -> None:
    cases = [p for p in perturbed if p.kind == "numbers"]
    assert cases
    for p in cases:
        assert sorted(NUMBER.findall(p.a)) != sorted(NUMBER.findall(p.b)) or (
            # a number word ("three") changed instead of digits
            NUMBER.findall(p.a) == NUMBER.findall(p.b) and p.a != p.b
        )


def test_typos_keep_every_number_and_capitalised_name(perturbed: list[SyntheticPair]) -> None:
    cases = [p for p in perturbed if p.kind == "typos"]
    assert cases
    for p in cases:
        assert NUMBER.findall(p.a) == NUMBER.findall(p.b)
        assert CAPITALISED.findall(p.a) == CAPITALISED.findall(p.b)
        words_a, words_b = p.a.split(), p.b.split()
        assert len(words_a) == len(words_b)
        assert 1 <= sum(x != y for x, y in zip(words_a, words_b, strict=True)) <= 2


def test_typos_never_land_on_a_real_word() -> None:
    rng = random.Random(0)
    text = "Write a casual message to my coworker about the trail and the diary."
    confusions = {"causal", "trial", "dairy", "cowriter"}
    for _ in range(300):
        typo = [p for p in perturb(text, rng) if p.kind == "typos"]
        assert typo
        assert not confusions & set(re.findall(r"[a-z]+", typo[0].b))


def test_rewordings_never_touch_a_pasted_snippet(perturbed: list[SyntheticPair]) -> None:
    snippet_prompts = {
        "Translate this into French: ": "Your order has shipped and will arrive in 3 days.",
        "Extract the email addresses from this message: ": (
            "Ping ana@example.com or bo@example.org today."
        ),
        "Sort these names in alphabetical order: ": "Zoe, Adam, Maya",
    }
    seen = 0
    for p in perturbed:
        for head, snippet in snippet_prompts.items():
            if p.a == head + snippet:
                seen += 1
                assert p.b.endswith(snippet), (p.kind, p.b)
    assert seen >= 20


def test_perturb_makes_the_expected_near_misses() -> None:
    rng = random.Random(3)
    expected = {
        "Can I get a refund without a receipt?": ("negation", "Can I get a refund with a receipt?"),
        "How do I copy a file from the host to a Docker container?": (
            "swapped_roles",
            "How do I copy a file from a Docker container to the host?",
        ),
        "How do I enable dark mode in Slack?": (
            "opposite_actions",
            "How do I disable dark mode in Slack?",
        ),
        "Book a table for 8 people at 2 pm.": (
            "number_order",
            "Book a table for 2 people at 8 pm.",
        ),
        "Convert these settings to JSON: a=1 b=2": ("output_format", None),
    }
    for text, (kind, b) in expected.items():
        found = [p.b for p in perturb(text, rng) if p.kind == kind]
        assert found, (text, kind)
        if b is not None:
            assert b in found or any(
                b == q.b for q in perturb(text, random.Random(4)) if q.kind == kind
            ), (text, found)


def test_perturb_skips_what_does_not_apply() -> None:
    pairs = perturb("Hello", random.Random(0))
    assert all(p.label == 1 for p in pairs)  # nothing in "Hello" can be changed meaningfully
    assert perturb("", random.Random(0)) == []
    assert perturb("   \n  ", random.Random(0)) == []


def test_entity_near_misses_replace_a_name_with_a_sibling() -> None:
    rng = random.Random(1)
    for _ in range(30):
        entity = [p for p in perturb("What is the capital of France?", rng) if p.kind == "entities"]
        assert entity
        other = entity[0].b.removeprefix("What is the capital of ").removesuffix("?")
        assert other != "France"
        assert other[0].isupper()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_perturb_never_raises_nor_pairs_a_text_with_itself(text: str) -> None:
    for p in perturb(text, random.Random(0)):
        assert p.a == text
        assert p.a != p.b
        assert p.label == KINDS[p.kind]


WORDS = sorted(
    set(" ".join(PROMPTS).replace("?", " ? ").replace(".", " . ").replace(",", " , ").split())
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=25), st.integers(0, 10_000))
def test_perturb_never_raises_on_prompt_like_text(words: list[str], seed: int) -> None:
    text = " ".join(words)
    for p in perturb(text, random.Random(seed)):
        assert p.a != p.b
        assert p.b.strip()


# ---------------------------------------------------------------------------------- the CLI
def test_main_writes_jsonl_with_the_documented_keys(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(
        "How do I enable dark mode in Slack?\n\nCan I get a refund without a receipt?\n"
    )
    out = tmp_path / "pairs.jsonl"
    assert main(["-n", "30", "--seed", "2", "-o", str(out), "--prompts", str(prompts)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) > 30
    assert all(set(r) == {"a", "b", "label", "kind", "source"} for r in records)
    assert sum(r["source"] == "template" for r in records) == 30
    assert {r["source"] for r in records} == {"template", "perturb"}


def test_to_json_has_the_jsonl_keys() -> None:
    pair = SyntheticPair("a?", "b?", 1, "typos", "perturb")
    assert pair.to_json() == {
        "a": "a?",
        "b": "b?",
        "label": 1,
        "kind": "typos",
        "source": "perturb",
    }
