"""API keys bound to namespaces: tenant A never receives tenant B's cached answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from semcached.service.app import create_app
from semcached.service.auth import KeyRing, hash_api_key
from semcached.service.cli.main import main
from semcached.service.cli.serve import bind_host
from semcached.settings import Settings
from tests.servicekit import Service, chat, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis]

KEY_A = "sk-semcached-tenant-a"
KEY_B = "sk-semcached-tenant-b"
QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


@dataclass
class Tenants:
    url: str
    upstream: Upstream

    def client(self, key: str | None) -> httpx.Client:
        headers = {"X-Semcached-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers)


@pytest.fixture(scope="module")
def tenants(service: Service) -> Iterator[Tenants]:
    """A second app on the same engine, with two API keys for two tenants."""
    keys = {hash_api_key(KEY_A): "tenant-a", hash_api_key(KEY_B): "tenant-b"}
    settings = service_settings(service.settings.upstream_url, api_keys=keys)
    with serving(create_app(settings, cache=service.cache)) as server:
        yield Tenants(server.url, service.upstream)
    service.cache.invalidate("tenant-a")
    service.cache.invalidate("tenant-b")


def test_tenant_a_never_gets_tenant_b_answer(tenants: Tenants, upstream: Upstream) -> None:
    with tenants.client(KEY_A) as a, tenants.client(KEY_B) as b:
        first_a = a.post("/v1/chat/completions", json=chat(QUESTION))
        assert first_a.headers["X-Semcached-Namespace"] == "tenant-a"
        first_b = b.post("/v1/chat/completions", json=chat(QUESTION))
        assert first_b.headers["X-Semcached-Cache"] == "miss"
        assert first_b.headers["X-Semcached-Namespace"] == "tenant-b"
        assert first_b.json() != first_a.json()
        assert upstream.count == 2

        again_a = a.post("/v1/chat/completions", json=chat(PARAPHRASE))
        again_b = b.post("/v1/chat/completions", json=chat(PARAPHRASE))
        assert again_a.headers["X-Semcached-Cache"] == "semantic"
        assert again_b.headers["X-Semcached-Cache"] == "semantic"
        assert again_a.json() == first_a.json()
        assert again_b.json() == first_b.json()
        assert upstream.count == 2

        lookup_b = b.post("/v1/cache/lookup", json={"request": chat(QUESTION)}).json()
        assert lookup_b["namespace"] == "tenant-b"
        assert lookup_b["response"] == first_b.json()


def test_a_key_cannot_reach_another_namespace(tenants: Tenants) -> None:
    with tenants.client(KEY_A) as a:
        cases = [
            a.post(
                "/v1/chat/completions",
                json=chat(QUESTION),
                headers={"X-Semcached-Namespace": "tenant-b"},
            ),
            a.post("/v1/chat/completions", json=chat(QUESTION), params={"namespace": "tenant-b"}),
            a.post(
                "/v1/chat/completions",
                json={**chat(QUESTION), "cache": {"namespace": "tenant-b"}},
            ),
            a.post(
                "/v1/embeddings",
                json={"model": "e", "input": "x"},
                params={"namespace": "tenant-b"},
            ),
            a.post("/v1/cache/lookup", json={"request": chat(QUESTION), "namespace": "tenant-b"}),
            a.post(
                "/v1/cache/store",
                json={"request": chat(QUESTION), "response": {"x": 1}, "namespace": "tenant-b"},
            ),
            a.delete("/v1/cache", params={"namespace": "tenant-b"}),
            a.delete(f"/v1/cache/entries/{'0' * 32}", params={"namespace": "tenant-b"}),
            a.post(
                "/v1/cache/feedback",
                json={"entry_id": "0" * 32, "correct": False, "namespace": "tenant-b"},
            ),
        ]
        own = a.post("/v1/cache/lookup", json={"request": chat(QUESTION), "namespace": "tenant-a"})
    for reply in cases:
        assert reply.status_code == 403, reply.text
        assert reply.json()["error"]["type"] == "forbidden_namespace"
        assert "tenant-a" in reply.json()["error"]["message"]
    assert own.status_code == 200


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_missing_or_wrong_key_is_401(tenants: Tenants, key: str | None) -> None:
    with tenants.client(key) as client:
        for reply in (
            client.post("/v1/chat/completions", json=chat(QUESTION)),
            client.post("/v1/cache/lookup", json={"request": chat(QUESTION)}),
            client.get("/v1/stats"),
        ):
            assert reply.status_code == 401
            assert reply.json()["error"]["field"] == "X-Semcached-Key"
            assert "X-Semcached-Key" in reply.json()["error"]["fix"]
        assert client.get("/healthz").status_code == 200


def test_bearer_key_on_the_cache_api_but_not_on_the_proxy(
    tenants: Tenants, upstream: Upstream
) -> None:
    """On the proxy, Authorization belongs to the upstream provider and is passed through."""
    with tenants.client(None) as client:
        bearer = {"Authorization": f"Bearer {KEY_B}"}
        lookup = client.post("/v1/cache/lookup", json={"request": chat(QUESTION)}, headers=bearer)
        assert lookup.status_code == 200
        assert lookup.json()["namespace"] == "tenant-b"
        proxied = client.post("/v1/chat/completions", json=chat(QUESTION), headers=bearer)
        assert proxied.status_code == 401
        both = {"X-Semcached-Key": KEY_A, "Authorization": "Bearer sk-provider"}
        ok = client.post("/v1/chat/completions", json=chat("A question nobody asked"), headers=both)
        assert ok.status_code == 200
    assert upstream.calls[-1].headers["authorization"] == "Bearer sk-provider"


def test_keys_are_configured_hashed() -> None:
    digest = hash_api_key(KEY_A)
    settings = Settings(api_keys={digest.upper(): "tenant-a"})
    assert settings.api_keys == {digest: "tenant-a"}
    ring = KeyRing(settings.api_keys, default_namespace="default")
    caller = ring.match(KEY_A)
    assert caller is not None
    assert caller.namespace == "tenant-a"
    assert ring.match(KEY_B) is None
    with pytest.raises(ValueError, match="SHA-256"):
        Settings(api_keys={KEY_A: "tenant-a"})


@pytest.fixture(autouse=True)
def logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """`serve` configures the root logger for its process; in the test process it must not
    (pytest's own handlers live there): record what it asked for instead."""
    import semcached.service.cli.serve as serve_module

    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(serve_module, "configure_logging", lambda *a: asked.append(a))
    return asked


def test_without_keys_the_service_binds_to_localhost_only() -> None:
    host, warning = bind_host("0.0.0.0", has_keys=False)
    assert host == "127.0.0.1"
    assert warning is not None
    assert "SEMCACHED_API_KEYS" in warning
    assert bind_host("0.0.0.0", has_keys=True) == ("0.0.0.0", None)
    assert bind_host("::1", has_keys=False) == ("::1", None)
    assert bind_host("localhost", has_keys=False) == ("localhost", None)


def test_hash_key_command_prints_the_digest() -> None:
    result = CliRunner().invoke(main, ["hash-key", KEY_A, "--namespace", "tenant-a"])
    assert result.exit_code == 0
    assert hash_api_key(KEY_A) in result.output
    assert KEY_A not in result.output


def test_serve_rejects_a_bad_upstream_url() -> None:
    result = CliRunner().invoke(main, ["serve", "--upstream-url", "api.openai.com"])
    assert result.exit_code == 2
    assert "https://api.openai.com/v1" in result.output


def test_serve_wires_settings_echo_and_localhost_binding(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`semcached serve --host 0.0.0.0 --echo-upstream` without keys: localhost, echo upstream."""
    import uvicorn

    import semcached.service.app as app_module
    from semcached.service.echo import ECHO_URL

    seen: dict[str, Any] = {}

    def fake_create_app(settings: Settings, **kwargs: Any) -> str:
        seen["settings"], seen["kwargs"] = settings, kwargs
        return "the-app"

    def fake_run(app: Any, **kwargs: Any) -> None:
        seen["app"], seen["run"] = app, kwargs

    monkeypatch.setattr(app_module, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        main,
        [
            "serve",
            *("--host", "0.0.0.0", "--port", "9999", "--echo-upstream"),
            *("--redis-url", "redis://127.0.0.1:6379/3", "--chroma-url", "http://127.0.0.1:8000"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen["app"] == "the-app"
    assert seen["run"]["host"] == "127.0.0.1"
    assert seen["run"]["port"] == 9999
    assert seen["settings"].upstream_url == ECHO_URL
    assert seen["settings"].redis_url.get_secret_value() == "redis://127.0.0.1:6379/3"
    assert seen["settings"].chroma_url == "http://127.0.0.1:8000"
    assert "redis://127.0.0.1:6379/3" not in result.output
    assert seen["kwargs"]["upstream_transport"] is not None
    assert "binds to 127.0.0.1 only" in result.output

    both = CliRunner().invoke(main, ["serve", "--echo-upstream", "--upstream-url", "http://x/v1"])
    assert both.exit_code == 2


def _fake_serve(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    import semcached.service.app as app_module

    seen: dict[str, Any] = {}

    def fake_create_app(settings: Settings, **kwargs: Any) -> str:
        seen["settings"] = settings
        return "the-app"

    monkeypatch.setattr(app_module, "create_app", fake_create_app)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(run=kwargs))
    return seen


def test_serve_can_listen_open_on_purpose_and_takes_log_and_data_flags(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, logging_left_alone: list[tuple[str, str]]
) -> None:
    """In a container network no keys and 0.0.0.0 is normal: allowed with a flag and a
    warning. --log-level / --log-format / --data-dir reach uvicorn and Settings."""
    seen = _fake_serve(monkeypatch)
    result = CliRunner().invoke(
        main,
        ["serve", "--host", "0.0.0.0", "--allow-unauthenticated", "--echo-upstream",
         "--log-level", "warning", "--log-format", "json", "--data-dir", str(tmp_path / "d")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen["run"]["host"] == "0.0.0.0" and seen["run"]["log_level"] == "warning"
    assert seen["run"]["log_config"] is None  # one handler: ours, credentials masked
    assert "without API keys (--allow-unauthenticated)" in result.output
    assert seen["settings"].data_dir == tmp_path / "d"
    assert logging_left_alone == [("warning", "json")]


def test_serve_refuses_unknown_settings_and_bad_values_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_serve(monkeypatch)
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEMCACHED_TRESHOLD", "0.9")
    result = CliRunner().invoke(main, ["serve", "--echo-upstream"])
    assert result.exit_code == 1
    assert "SEMCACHED_TRESHOLD is not a semcached setting (did you mean SEMCACHED_THRESHOLD?)" in (
        result.output
    )
    assert "Traceback" not in result.output
    monkeypatch.delenv("SEMCACHED_TRESHOLD")
    monkeypatch.setenv("SEMCACHED_THRESHOLD", "1.5")
    result = CliRunner().invoke(main, ["serve", "--echo-upstream"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert (
        len(lines) == 1
        and "SEMCACHED_THRESHOLD: Input should be less than or equal to 1" in (lines[0])
    )
    monkeypatch.delenv("SEMCACHED_THRESHOLD")
    config = tmp_path / "semcached.json"
    config.write_text(json.dumps({"threshold": 0.9, "verifier": {"min_scor": 0.7}}))
    monkeypatch.setenv("SEMCACHED_CONFIG_FILE", str(config))
    result = CliRunner().invoke(main, ["serve", "--echo-upstream"])
    assert result.exit_code == 1
    assert (
        "config key 'verifier.min_scor' is not a semcached setting (did you mean min_score?)"
        in (result.output)
    )
