"""Azure OpenAI's URL scheme through the sidecar, with the real ``AzureOpenAI`` client:
a deployment's chat completions cached, ``api-version`` and ``api-key`` passed through, any
other ``/openai/`` path relayed."""

from __future__ import annotations

import httpx
import openai
import pytest

from semcached.service.app import create_app
from tests.servicekit import Service, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_azure_deployments_are_cached_and_the_rest_relayed(
    service: Service, ns: str, upstream: Upstream
) -> None:
    root = str(service.settings.upstream_url).removesuffix("/v1")  # an Azure resource's URL
    with serving(create_app(service_settings(root), cache=service.cache)) as server:
        client = openai.AzureOpenAI(
            azure_endpoint=server.url, api_key="azure-key", api_version="2024-10-21",
            azure_deployment="gpt4o-prod", max_retries=0,
            default_headers={"X-Semcached-Namespace": ns},
        )  # fmt: skip
        kinds = []
        for question in ("How do I reset my password?",) * 2 + ("How can I reset my password?",):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt4o-prod", temperature=0,
                messages=[{"role": "user", "content": question}],
            )  # fmt: skip
            kinds.append(raw.headers["x-semcached-cache"])
            assert raw.parse().choices[0].message.content
        assert kinds == ["miss", "exact", "semantic"] and upstream.count == 1
        sent = upstream.calls[-1].headers
        assert sent["x-path"] == "/openai/deployments/gpt4o-prod/chat/completions"
        assert "api-version=2024-10-21" in sent["x-query"] and sent["api-key"] == "azure-key"
        other = httpx.get(f"{server.url}/openai/files", params={"api-version": "2024-10-21"})
        assert other.status_code == 201 and other.headers["x-semcached-cache"] == "bypass"
        assert other.json()["query"] == "api-version=2024-10-21"
        bad = httpx.post(
            f"{server.url}/openai/deployments/gpt4o-prod/chat/completions",
            json={"messages": []}, headers={"X-Semcached-Namespace": ns},
        )  # fmt: skip
        assert bad.status_code == 422 and bad.json()["error"]["param"] == "messages"
