"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
namespaces = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
)
models = st.sampled_from(["gpt-4o", "gpt-4o-mini", "llama-3-8b", "claude-x"])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)

# Parameters that change the answer, with values of the right type.
answer_params = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "max_tokens": st.integers(1, 4096),
        "seed": st.integers(0, 2**31),
        "stop": st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3),
        "presence_penalty": st.floats(-2, 2, allow_nan=False),
        "response_format": st.sampled_from([{"type": "json_object"}, {"type": "text"}]),
    },
)


@st.composite
def chat_requests(draw: st.DrawFn) -> dict[str, Any]:
    """An OpenAI-style chat request: optional system prompt, earlier turns, a last user turn."""
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append({"role": "system", "content": draw(texts)})
    for _ in range(draw(st.integers(0, 2))):
        messages.append({"role": "user", "content": draw(texts)})
        messages.append({"role": "assistant", "content": draw(texts)})
    messages.append({"role": "user", "content": draw(texts)})
    return {"model": draw(models), "messages": messages, **draw(answer_params)}


def shuffled_dict(draw: st.DrawFn, value: dict[str, Any]) -> dict[str, Any]:
    """The same mapping with its keys in a drawn order."""
    keys = draw(st.permutations(list(value)))
    return {k: value[k] for k in keys}


# -- hit quality (guards, calibration, adaptive thresholds) -----------------------------------

_QUALITY_VOCABULARY = (
    "how do I reset my password what is the capital of France Paris Lyon not never no 2 5 "
    "10 2019 2020 km miles kg $ € today tomorrow Monday June why when where who buy sell "
    "before after Alice Bob paid beat and or , . ? GPT-4 iPhone"
)
_quality_words = st.sampled_from(_QUALITY_VOCABULARY.split())
# Sentences made of words the verifier reacts to (names, numbers, negations, units, dates).
quality_texts = st.lists(_quality_words, min_size=1, max_size=12).map(" ".join)
similarities = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def labelled_outcomes(draw: st.DrawFn, max_size: int = 60) -> list[tuple[float, int, bool]]:
    """(similarity, label, a guard passed it) triples: what a replay of labelled pairs yields."""
    return draw(
        st.lists(st.tuples(similarities, st.integers(0, 1), st.booleans()), max_size=max_size)
    )
