"""The deployment files stay in step with the code: every setting they name exists, each
replica of the compose stack has its own data volume and the shared stores, the proxy balances
exactly the replicas compose defines, and the image builds torch-free and runs as non-root."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from semcached.settings_check import unknown_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILES = [ROOT / "Dockerfile", ROOT / "deploy" / "compose.yaml", ROOT / "docs" / "deploy.md"]
# A name in prose ends before a wildcard or a shortened sibling (`SEMCACHED_VERIFIER__*`,
# `SEMCACHED_CHROMA__TENANT` / `__DATABASE`).
NAME = re.compile(r"SEMCACHED_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    return loaded


def replicas(spec: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in spec["services"].items() if name.startswith("semcached-")}


@pytest.mark.parametrize("path", DEPLOY_FILES, ids=lambda p: p.name)
def test_every_setting_named_in_the_deploy_files_exists(path: Path) -> None:
    names = set(NAME.findall(path.read_text()))
    assert names, f"{path.name} names no setting: is the pattern still right?"
    assert unknown_settings(environ=dict.fromkeys(names, "x")) == []


def test_each_replica_has_its_own_volume_and_the_shared_stores() -> None:
    spec = compose()
    found = replicas(spec)
    assert len(found) >= 2
    sources = [v.split(":")[0] for s in found.values() for v in s["volumes"]]
    assert len(set(sources)) == len(sources), "replicas must not share a data volume"
    for name, service in found.items():
        assert all(v.endswith(":/data") for v in service["volumes"]), name
        env = service["environment"]
        assert env["SEMCACHED_REDIS_URL"].startswith("redis://redis:"), name
        assert env["SEMCACHED_CHROMA_URL"].startswith("http://chroma:"), name
        assert "SEMCACHED_API_KEYS" in env, name
        assert set(service["depends_on"]) == {"redis", "chroma"}, name
    assert "--appendonly" in spec["services"]["redis"]["command"]
    assert set(spec["services"]["proxy"]["depends_on"]) == set(found)


def test_the_proxy_balances_exactly_the_compose_replicas() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = set(re.findall(r"^\s*server\s+([\w.-]+):8080\b", conf, re.M))
    assert servers == set(replicas(compose()))


def test_the_image_installs_cpu_torch_first_and_runs_without_it_as_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    torch_at = dockerfile.index('pip install "torch==${TORCH_VERSION}" --index-url')
    assert (
        torch_at
        < dockerfile.index("RUN pip install /src")
        < dockerfile.index("RUN semcached export")
    )
    runtime = dockerfile[dockerfile.rindex("FROM ") :]
    assert "pip uninstall" not in runtime and "COPY --from=prune /opt/venv" in runtime
    assert re.search(r"^USER (?!root)\S+", runtime, re.M)
    assert "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert "'torch' not in sys.modules" in dockerfile  # the build fails if serving needs torch
