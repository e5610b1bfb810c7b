"""Canonical request keys: same meaning, same key; any change of meaning, another key."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from semcached import ChatRequest, InvalidRequestError, canonicalize
from semcached.request import ANSWER_NEUTRAL_PARAMS, canonical_json
from tests.strategies import chat_requests, namespaces, shuffled_dict, texts


def key(request: Any, namespace: str = "ns") -> str:
    return canonicalize(request, namespace).exact_key


def chat(content: str = "What is the capital of France?", **params: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": content}], **params}


@given(chat_requests(), st.data())
def test_key_ignores_dict_key_order(request: dict[str, Any], data: st.DataObject) -> None:
    """Reordering the keys of the request and of each message never changes the key."""
    reordered = shuffled_dict(data.draw, request)
    reordered["messages"] = [shuffled_dict(data.draw, m) for m in request["messages"]]
    assert key(reordered) == key(request)


@given(chat_requests())
def test_integral_floats_equal_ints(request: dict[str, Any]) -> None:
    """`max_tokens: 100` and `100.0`, `temperature: 0` and `0.0` mean the same."""
    as_floats = {
        k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
        for k, v in request.items()
    }
    assert key(as_floats) == key(request)


@pytest.mark.parametrize(
    ("param", "default"),
    [
        ("temperature", 1),
        ("top_p", 1.0),
        ("n", 1),
        ("presence_penalty", 0),
        ("frequency_penalty", 0.0),
        ("stream", False),
        ("logprobs", False),
        ("response_format", {"type": "text"}),
        ("stop", []),
        ("tools", []),
        ("seed", None),
    ],
)
def test_documented_default_equals_absent(param: str, default: Any) -> None:
    """Sending a parameter at its documented default (or null) is the same as leaving it out."""
    assert key(chat(**{param: default})) == key(chat())


def test_neutral_params_do_not_change_key() -> None:
    """Routing and accounting fields (user, metadata, ...) never change the answer."""
    for name in ANSWER_NEUTRAL_PARAMS:
        assert key(chat(**{name: "x"})) == key(chat())


def test_equivalent_spellings() -> None:
    """`stop="x"` is `stop=["x"]`; a single text part is a plain string; null fields vanish."""
    assert key(chat(stop="END")) == key(chat(stop=["END"]))
    parts = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }
    assert key(parts) == key(chat("Hi"))
    with_null = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi", "name": None}]}
    assert key(with_null) == key(chat("Hi"))
    assert key(
        ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], temperature=0.0)
    ) == key(chat("Hi", temperature=0))


@pytest.mark.parametrize(
    "changed",
    [
        chat("What is the capital of Germany?"),
        chat(temperature=0.7),
        chat(top_p=0.5),
        chat(max_tokens=10),
        chat(seed=1),
        chat(stop=["\n"]),
        chat(response_format={"type": "json_object"}),
        chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        chat(stream=True),
        chat(n=2),
        chat(some_future_param=True),
        {**chat(), "model": "gpt-4o-mini"},
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "What is the capital of France?"},
            ],
        },
        {"model": "gpt-4o", "prompt": "What is the capital of France?"},
    ],
)
def test_any_change_of_meaning_changes_key(changed: dict[str, Any]) -> None:
    """Content, model, sampling, tools, format, stream, system prompt: each is in the key."""
    assert key(changed) != key(chat())


@given(chat_requests(), namespaces, namespaces)
def test_namespace_is_in_key_and_scope(request: dict[str, Any], a: str, b: str) -> None:
    """Two namespaces never share a key or a scope."""
    ca, cb = canonicalize(request, a), canonicalize(request, b)
    assert (ca.exact_key == cb.exact_key) == (a == b)
    assert (ca.scope_key == cb.scope_key) == (a == b)


@given(chat_requests(), texts)
def test_scope_ignores_only_the_last_user_text(request: dict[str, Any], other: str) -> None:
    """Changing the last user message keeps the scope, changes the key, and is what's embedded."""
    changed = {
        **request,
        "messages": [*request["messages"][:-1], {"role": "user", "content": other}],
    }
    before, after = canonicalize(request, "ns"), canonicalize(changed, "ns")
    assert before.scope_key == after.scope_key
    assert after.text == other
    assert (before.exact_key == after.exact_key) == (request["messages"][-1]["content"] == other)


@given(chat_requests(), texts)
def test_scope_includes_earlier_turns(request: dict[str, Any], extra: str) -> None:
    """Another conversation before the last question is another scope (the multi-turn rule)."""
    longer = {
        **request,
        "messages": [
            {"role": "user", "content": extra},
            {"role": "assistant", "content": "ok"},
            *request["messages"],
        ],
    }
    assert canonicalize(longer, "ns").scope_key != canonicalize(request, "ns").scope_key


def test_scope_includes_system_prompt_model_and_params() -> None:
    base = canonicalize(chat(), "ns").scope_key
    system = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Answer in French"},
            {"role": "user", "content": "Capital of France?"},
        ],
    }
    assert canonicalize(system, "ns").scope_key != base
    assert canonicalize({**chat(), "model": "other"}, "ns").scope_key != base
    assert canonicalize(chat(temperature=0), "ns").scope_key != base


def test_images_stay_in_scope() -> None:
    """Same words about a different picture are a different scope."""

    def with_image(url: str) -> dict[str, Any]:
        return {
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                }
            ],
        }

    a, b = (
        canonicalize(with_image("http://x/1.png"), "ns"),
        canonicalize(with_image("http://x/2.png"), "ns"),
    )
    assert a.text == b.text == "What is in this picture?"
    assert a.scope_key != b.scope_key


def test_canonical_json_is_stable() -> None:
    assert canonical_json({"b": 1.0, "a": [2.5, True, None]}) == '{"a":[2.5,true,null],"b":1}'


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "", "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": ["hello"]}, "messages.0"),
        ({"model": "m", "messages": [{"content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "temperature": float("nan"),
            },
            "temperature",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
            "temperature",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "logit_bias": {"1": object()},
            },
            "logit_bias.1",
        ),
    ],
)
def test_bad_requests_name_the_field(request_: dict[str, Any], field: str) -> None:
    """A request that cannot be cached raises InvalidRequestError naming the offending field."""
    with pytest.raises(InvalidRequestError) as info:
        canonicalize(request_, "ns")
    assert info.value.field == field
    assert str(info.value)


def test_non_mapping_request_and_empty_namespace() -> None:
    with pytest.raises(InvalidRequestError, match="mapping"):
        canonicalize(["not", "a", "request"], "ns")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError) as info:
        canonicalize(chat(), "")
    assert info.value.field == "namespace"
