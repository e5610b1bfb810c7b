"""The verifier's checks: each vetoes what it exists for, lets paraphrases through, and can only
ever turn a hit into a miss."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.errors import ModelLoadError
from semcached.policy.decision import Candidate, decide
from semcached.policy.guards import (
    GUARD_NAMES,
    CrossEncoderGuard,
    DateGuard,
    EntityGuard,
    NegationGuard,
    NumberGuard,
    OppositeGuard,
    QuestionTypeGuard,
    UnitGuard,
    WordOrderGuard,
    default_guards,
)
from tests.strategies import quality_texts, similarities


def cand(text: str, similarity: float = 0.95, cid: str = "c1") -> Candidate:
    return Candidate(id=cid, similarity=similarity, text=text, response={"text": text})


VETOES = [
    (NegationGuard(), "Can I pay by card?", "Can I not pay by card?"),
    (NegationGuard(), "Is the museum open on Monday?", "Isn't the museum open on Monday?"),
    (
        NumberGuard(),
        "What are the top 5 movies of all time?",
        "What are the top 10 movies of all time?",
    ),
    (NumberGuard(), "How to earn 5 million dollars?", "How to earn 5 billion dollars?"),
    (NumberGuard(), "Give me three tips to sleep better", "Give me five tips to sleep better"),
    (DateGuard(), "Who won the World Cup in 2018?", "Who won the World Cup in 2022?"),
    (DateGuard(), "What is the weather today in Oslo?", "What is the weather tomorrow in Oslo?"),
    (DateGuard(), "Is the store open on Sunday?", "Is the store open on Monday?"),
    (DateGuard(), "What happened in March 2020?", "What happened in June 2020?"),
    (UnitGuard(), "How far is 10 km?", "How far is 10 miles?"),
    (UnitGuard(), "Convert 5 kg to pounds", "Convert 5 pounds to kg"),
    (UnitGuard(), "Is 100 $ a good price?", "Is 100 € a good price?"),
    (EntityGuard(), "What is the best way to learn Java?", "What is the best way to learn Python?"),
    (EntityGuard(), "What is the population of Paris?", "What is the population of Lyon?"),
    (EntityGuard(), "Is the iPhone 15 waterproof?", "Is the Pixel 8 waterproof?"),
    (OppositeGuard(), "Should I buy Tesla stock now?", "Should I sell Tesla stock now?"),
    (OppositeGuard(), "What to eat before a run?", "What to eat after a run?"),
    (
        OppositeGuard(),
        "Coffee with sugar: how many calories?",
        "Coffee without sugar: how many calories?",
    ),
    (QuestionTypeGuard(), "Why did Rome fall?", "When did Rome fall?"),
    (QuestionTypeGuard(), "Where was Mozart born?", "Who was Mozart born to?"),
    (WordOrderGuard(), "Did Alice pay Bob back?", "Did Bob pay Alice back?"),
    (WordOrderGuard(), "Flights from Paris to Rome", "Flights from Rome to Paris"),
    (
        WordOrderGuard(),
        "The Lakers beat the Celtics in the final game",
        "The Celtics beat the Lakers in the final game",
    ),
]

PASSES = [
    (NegationGuard(), "How do I reset my password?", "How can I reset my password?"),
    (NegationGuard(), "Is it not raining?", "It is not raining, is it?"),
    (NegationGuard(), "No, can I get a refund?", "Can I get a refund?"),
    (
        NegationGuard(),
        "How do I know if she likes me?",
        "How do I know whether or not she likes me?",
    ),
    (NumberGuard(), "What is 1,000 in euros?", "What is 1000 in euros?"),
    (NumberGuard(), "Name 3 ways: 1. a 2. b 3. c", "1. a 2. b 3. c are 3 ways"),
    (NumberGuard(), "Which one is better?", "Which is better?"),
    (
        DateGuard(),
        "What time does the store open on Sundays?",
        "When does the store open on Sunday?",
    ),
    (DateGuard(), "May I leave early?", "Can I leave early?"),
    (UnitGuard(), "How far is 10 km?", "What distance is 10 km?"),
    (EntityGuard(), "What is the capital of France?", "Which city is France's capital?"),
    (EntityGuard(), "Where do I learn Python?", "where do i learn python"),
    (EntityGuard(), "Is Python good for ML?", "Is python good for machine learning?"),
    (EntityGuard(), "Is this Pythonic code?", "Is this Python code idiomatic?"),
    (OppositeGuard(), "What is the best laptop?", "Which laptop is the best?"),
    (QuestionTypeGuard(), "Why is the sky blue?", "What makes the sky blue?"),
    (
        QuestionTypeGuard(),
        "How long does it take to boil an egg?",
        "How many minutes to boil an egg?",
    ),
    (WordOrderGuard(), "In 2009 he moved to Paris", "He moved to Paris in 2009"),
    (
        WordOrderGuard(),
        "Tea and coffee: which is healthier?",
        "Coffee and tea: which is healthier?",
    ),
    (WordOrderGuard(), "How do I learn to cook fast?", "What is the fastest way to learn cooking?"),
]


@pytest.mark.parametrize(("guard", "query", "cached"), VETOES, ids=lambda v: str(v)[:30])
def test_vetoes_what_it_exists_for(guard: object, query: str, cached: str) -> None:
    """Each check names a reason for the difference it looks for, in both directions."""
    assert guard.check(query, cand(cached)), (query, cached)  # type: ignore[attr-defined]
    assert guard.check(cached, cand(query)), (cached, query)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("guard", "query", "cached"), PASSES, ids=lambda v: str(v)[:30])
def test_lets_paraphrases_through(guard: object, query: str, cached: str) -> None:
    """Rewordings that keep the meaning are not vetoed."""
    assert guard.check(query, cand(cached)) is None  # type: ignore[attr-defined]
    assert guard.check(cached, cand(query)) is None  # type: ignore[attr-defined]


def test_reasons_are_explainable() -> None:
    """A veto says what differs, so logs and ``explain()`` can show it."""
    reason = NumberGuard().check("top 5 movies", cand("top 10 movies"))
    assert reason == "numbers differ: 5 vs 10"
    reason = WordOrderGuard().check("Did Alice pay Bob?", cand("Did Bob pay Alice?"))
    assert reason is not None and "alice" in reason and "bob" in reason


def test_default_guards_cover_every_check_cheapest_first() -> None:
    guards = default_guards()
    assert [g.name for g in guards] == list(GUARD_NAMES)
    assert [g.name for g in default_guards(["numbers", "negation"])] == ["numbers", "negation"]


def test_unknown_check_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown verifier check") as info:
        default_guards(["numbers", "vibes"])
    assert "negation" in str(info.value)


def test_cross_encoder_needs_a_local_model(tmp_path: object) -> None:
    """The optional cross-encoder is never fetched from a hub: a missing path is an error
    naming the setting to fix."""
    with pytest.raises(ModelLoadError, match="CROSS_ENCODER_PATH"):
        CrossEncoderGuard(f"{tmp_path}/nothing-here")


@settings(max_examples=200, deadline=None)
@given(quality_texts, quality_texts)
def test_checks_never_raise_and_are_symmetric_in_verdict(query: str, cached: str) -> None:
    """Every check handles any text; whether it vetoes does not depend on which side is the
    query (a cache must not serve A for B but refuse B for A on these grounds)."""
    for guard in default_guards():
        forward = guard.check(query, cand(cached))
        backward = guard.check(cached, cand(query))
        assert forward is None or isinstance(forward, str)
        if guard.name != "word_order":  # a swap is judged from the query's order
            assert (forward is None) == (backward is None), (guard.name, query, cached)


@settings(max_examples=200, deadline=None)
@given(quality_texts, st.lists(st.tuples(quality_texts, similarities), max_size=5), similarities)
def test_guards_never_turn_a_miss_into_a_hit(
    query: str, stored: list[tuple[str, float]], threshold: float
) -> None:
    """With the verifier, a lookup hits only where it hit without it, and serves nothing
    below the threshold."""
    candidates = [cand(text, sim, f"c{i}") for i, (text, sim) in enumerate(stored)]
    plain = decide(query, candidates, threshold)
    verified = decide(query, candidates, threshold, default_guards())
    if verified.hit:
        assert plain.hit
        assert verified.candidate is not None and verified.candidate.similarity >= threshold
    if not plain.hit:
        assert not verified.hit


@settings(max_examples=100, deadline=None)
@given(quality_texts)
def test_a_text_always_matches_itself(text: str) -> None:
    """No check vetoes an identical text."""
    for guard in default_guards():
        assert guard.check(text, cand(text)) is None, guard.name


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_checks_handle_any_unicode_without_failing(query: str, cached: str) -> None:
    """No check raises on odd input ("²", "٣", lone marks...); had one, it would veto rather
    than fail the lookup."""
    for guard in default_guards():
        guard._check(query, cand(cached))  # type: ignore[attr-defined]


def test_a_failing_check_vetoes_instead_of_failing() -> None:
    class Broken(NumberGuard):
        def _check(self, query: str, candidate: Candidate) -> str | None:
            raise RuntimeError("boom")

    assert "failed" in (Broken().check("a", cand("b")) or "")


@settings(max_examples=150, deadline=None)
@given(quality_texts, st.lists(st.tuples(quality_texts, similarities), max_size=5), similarities)
def test_stopping_at_a_veto_never_adds_hits(
    query: str, stored: list[tuple[str, float]], threshold: float
) -> None:
    """With ``stop_at_veto`` a veto of the closest candidate is a miss: hits only go away, and
    what is served is the closest candidate above the threshold."""
    candidates = [cand(text, sim, f"c{i}") for i, (text, sim) in enumerate(stored)]
    guards = default_guards()
    fallback = decide(query, candidates, threshold, guards)
    strict = decide(query, candidates, threshold, guards, stop_at_veto=True)
    if strict.hit:
        assert fallback.hit and fallback.candidate == strict.candidate
        assert strict.candidate is not None
        assert strict.candidate.similarity == max(c.similarity for c in candidates)
    assert len(strict.rejections) <= 1


@pytest.mark.model
def test_cross_encoder_from_a_local_directory(tmp_path: Path) -> None:
    """A local cross-encoder (here a tiny untrained one) scores pairs in [0, 1] and vetoes
    below ``min_score``; the settings wire it into the verifier."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from semcached.embeddings import default_model_path
    from semcached.engine.configured import configured_guards as _default_guards
    from semcached.settings import Settings

    tokenizer = AutoTokenizer.from_pretrained(str(default_model_path()), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=37, num_labels=1,
    )  # fmt: skip
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    lenient = CrossEncoderGuard(tmp_path, min_score=0.0)
    score = lenient.score("How do I reset my password?", "How can I reset my password?")
    assert 0.0 <= score <= 1.0
    assert lenient.check("How do I reset my password?", cand("How can I reset it?")) is None
    strict = CrossEncoderGuard(tmp_path, min_score=1.0)
    assert "cross-encoder score" in (strict.check("a question", cand("another")) or "")
    guards = _default_guards(Settings(verifier={"cross_encoder_path": tmp_path}))
    assert guards[-1].name == "cross_encoder"


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        (
            "Transfer $500 from account 1234 to account 5678",
            "Transfer $500 from account 5678 to account 1234",
        ),
        ("Book a table for 8 people at 2 pm", "Book a table for 2 people at 8 pm"),
        ("How long to drive 60 miles at 150 mph?", "How long to drive 150 miles at 60 mph?"),
    ],
)
def test_numbers_in_other_roles_are_vetoed(query: str, cached: str) -> None:
    """The same numbers in other roles (from/to, which noun they count) mean another request."""
    veto = NumberGuard().check(query, Candidate("x", 0.99, cached))
    assert veto is not None and "trade places" in veto


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("List the 5 biggest countries by area.", "What are the five largest countries by area?"),
        ("How do I encode a string to base 64?", "How do I encode a string to base64?"),
        ("Solve x squared minus 5x plus 6 = 0", "Solve x^2 - 5x + 6 = 0"),
        ("Key inventions of the 19th century", "Key inventions of the 1800s"),
        ("What is 15% of 80?", "What's 80 times 15%?"),
    ],
)
def test_numbers_written_another_way_are_the_same(query: str, cached: str) -> None:
    assert NumberGuard().check(query, Candidate("x", 0.99, cached)) is None


def test_a_date_only_one_text_names_is_left_to_the_model() -> None:
    """Context such as "I'm shopping this weekend" is no other date; two different years are."""
    guard = DateGuard()
    assert (
        guard.check(
            "It's my weekend off. What is 25% of 40?", Candidate("x", 0.9, "What is 25% of 40?")
        )
        is None
    )
    assert guard.check("Who won in 1990?", Candidate("x", 0.9, "Who won in 2000?")) is not None


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("What is the longest river in Africa?", "Which river is the longest in Africa?"),
        ("Explain it in a playful, fun way.", "Explain it in a fun, playful way."),
        ("How do I add a column to a table in SQLite?", "Add a column to an SQLite table."),
    ],
)
def test_restated_modifiers_are_no_swap(query: str, cached: str) -> None:
    """A modifier moved into a predicate or a prepositional phrase, or coordinated adjectives
    in another order, keep the meaning: no roles were swapped."""
    assert WordOrderGuard().check(query, Candidate("x", 0.95, cached)) is None


def test_abbreviations_name_the_same_thing() -> None:
    """ "JS" is "JavaScript", "k8s" is "Kubernetes": no other name."""
    guard = EntityGuard()
    js = Candidate("x", 0.9, "JS: let vs const, what's the difference?")
    assert guard.check("What's the difference between let and const in JavaScript?", js) is None
    k8s = Candidate("x", 0.9, "How do I restart a pod in k8s?")
    assert guard.check("How do I restart a pod in Kubernetes?", k8s) is None
