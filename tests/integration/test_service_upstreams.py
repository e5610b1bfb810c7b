"""One sidecar in front of two providers: ``upstream_urls`` sends each API's misses and relayed
calls to its own base URL (Anthropic's to one fake provider, OpenAI's to another), with the
real SDKs; bad ``--upstream`` values are refused with the option named."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner

from semcached.service.app import create_app
from semcached.service.cli.main import main
from tests.servicekit import Service, anthropic_sdk, openai_sdk, service_settings
from tests.upstream import serving, upstream_server

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_each_api_goes_to_its_own_upstream(service: Service, ns: str) -> None:
    with (
        upstream_server() as (openai_side, openai_url),
        upstream_server() as (
            anthropic_side,
            anthropic_url,
        ),
    ):
        settings = service_settings(openai_url, upstream_urls={"anthropic": anthropic_url})
        with serving(create_app(settings, cache=service.cache)) as sidecar:
            chat = openai_sdk(sidecar.url, ns, api_key="sk-o").chat.completions.create(
                model="test-model", temperature=0,
                messages=[{"role": "user", "content": "Where do upstream calls go?"}],
            )  # fmt: skip
            message = anthropic_sdk(sidecar.url, ns, api_key="sk-a").messages.create(
                model="claude-test", max_tokens=16,
                messages=[{"role": "user", "content": "Where do Anthropic calls go?"}],
            )  # fmt: skip
            models = openai_sdk(sidecar.url, api_key="sk-o").models.with_raw_response.list()
            anthropic_models = httpx.get(  # what anthropic's SDK sends for models.list()
                f"{sidecar.url}/v1/models",
                headers={"x-api-key": "sk-a", "anthropic-version": "2023-06-01"},
            )
            counted = httpx.post(
                f"{sidecar.url}/v1/messages/count_tokens",
                json={"model": "claude-test", "messages": [{"role": "user", "content": "hi"}]},
                headers={"x-api-key": "sk-a", "anthropic-version": "2023-06-01"},
            )
        assert chat.choices[0].message.content == "answer #1 to: Where do upstream calls go?"
        assert message.content[0].type == "text"
        assert [c.body["messages"][0]["content"] for c in openai_side.calls] == [
            "Where do upstream calls go?"
        ]
        assert [c.body["messages"][0]["content"] for c in anthropic_side.calls] == [
            "Where do Anthropic calls go?"
        ]
        assert models.http_response.status_code == 200  # relayed to the OpenAI side
        assert [r["path"] for r in openai_side.relayed] == ["models"]
        assert counted.status_code == 201  # the fake provider's answer, relayed as is
        assert anthropic_models.status_code == 200
        # the Anthropic SDK's own calls go to Anthropic whatever their path (its key too)
        assert [r["path"] for r in anthropic_side.relayed] == ["models", "messages/count_tokens"]
        assert "sk-a" not in str([r["headers"] for r in openai_side.relayed])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("anthropic", "expected API=URL with API one of openai, anthropic, azure"),
        ("gemini=https://x", "expected API=URL with API one of openai, anthropic, azure"),
        ("anthropic=api.anthropic.com", "expected an http(s) base URL for anthropic"),
    ],
)
def test_a_bad_upstream_option_is_refused_naming_it(value: str, message: str) -> None:
    result = CliRunner().invoke(main, ["serve", "--upstream", value])
    assert result.exit_code == 2
    assert "--upstream" in result.output and message in result.output
