"""Settings, read from ``SEMCACHED_*`` environment variables (nested groups with ``__``).

Only the CLI, the service and the no-argument constructors (``SemanticCache()``) read these;
library classes take explicit arguments.

Examples::

    SEMCACHED_DATA_DIR=/var/lib/semcached
    SEMCACHED_REDIS_URL=redis://localhost:6379/0
    SEMCACHED_CHROMA_URL=http://localhost:8000
    SEMCACHED_THRESHOLD=0.9
    SEMCACHED_NAMESPACE_THRESHOLDS='{"support": 0.93}'
    SEMCACHED_REDIS__TIMEOUT_S=0.1
    SEMCACHED_EMBEDDING__MODEL_PATH=/models/my-sentence-transformer
    SEMCACHED_VERIFIER__ENABLED=false

Settings also come from a JSON config file (what ``semcached calibrate`` writes):
``SEMCACHED_CONFIG_FILE`` if set (empty: none), else ``<SEMCACHED_DATA_DIR>/semcached.json``.
Environment variables take precedence over the file, which takes precedence over defaults.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "DEFAULT_MIN_SCORE",
    "DEFAULT_PARTIAL_MIN_SCORE",
    "DEFAULT_STOP_AT_VETO",
    "DEFAULT_THRESHOLD",
    "AdaptiveOptions",
    "ChromaOptions",
    "EmbeddingOptions",
    "KnowledgeOptions",
    "NondeterministicPolicy",
    "RedisOptions",
    "ServiceOptions",
    "Settings",
    "UpstreamApi",
    "VerifierOptions",
    "WriteBehindOptions",
    "config_file_path",
]

# The cosine similarity a candidate needs before the verifier judges it. With the packaged pair
# model on (the default), 0.90 with a minimum score of 0.5 was chosen on semcached's dev sets
# and the public sets together (README, "Choosing the threshold": short LLM-app prompts 2.4%
# false hits / 51% of rewordings hit, PAWS 6.0% false, GPTCache 60% right / 1.0% wrong, Quora
# precision 0.86); lower thresholds hit more of our rewordings but serve more wrong answers on
# the public sets. Rerun: `python benchmarks/quality.py --data ../shared/data --sweep`.
DEFAULT_THRESHOLD = 0.90
# The pair model's minimum score to serve a candidate, and whether a veto of the closest
# candidate ends the search (see the README's "Choosing the threshold").
DEFAULT_MIN_SCORE = 0.5
# Long prompts compared by their differing parts need more (README, "Choosing the threshold").
DEFAULT_PARTIAL_MIN_SCORE = 0.8
DEFAULT_STOP_AT_VETO = True

NondeterministicPolicy = Literal["cache", "exact_only", "bypass"]
UpstreamApi = Literal["openai", "anthropic", "azure"]


class RedisOptions(BaseModel):
    """How the exact layer talks to Redis (used only when ``redis_url`` is set)."""

    key_prefix: str = Field(default="semcached", min_length=1)
    timeout_s: float = Field(default=0.25, gt=0, le=30)
    retry_after_s: float = Field(
        default=2.0, ge=0, description="After a failure, skip Redis this long before retrying."
    )
    max_connections: int = Field(default=64, ge=1)


class ChromaOptions(BaseModel):
    """ChromaDB: embedded under ``data_dir/chroma`` unless ``chroma_url`` is set."""

    collection_prefix: str = Field(default="semcached", pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
    tenant: str = "default_tenant"
    database: str = "default_database"
    http_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="A Chroma server call gives up after this long (ChromaDB's own client "
        "waits forever, so a hung server would hold every thread calling it).",
    )


class EmbeddingOptions(BaseModel):
    """The embedding model: the packaged all-MiniLM-L6-v2 unless ``model_path`` is set."""

    model_path: Path | None = None
    backend: Literal["onnx", "torch"] = Field(
        default="onnx",
        description="onnx: ONNX Runtime, the same vectors as PyTorch without loading torch "
        "(exported once, cached under SEMCACHED_ONNX_CACHE or ~/.cache/semcached/onnx); "
        "torch: sentence-transformers.",
    )
    onnx_dir: Path | None = Field(
        default=None, description="An ONNX export to load instead of the cached one."
    )
    threads: int | None = Field(
        default=None, ge=1, le=64, description="ONNX Runtime threads (default: up to 2)."
    )
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1, le=4096)
    cache_size: int = Field(default=10_000, ge=0)


class WriteBehindOptions(BaseModel):
    """Vector writes of stored answers, taken off the caller's path (journaled first)."""

    enabled: bool = Field(
        default=True,
        description="Journal a stored answer's vector entry and write it to the vector index "
        "from a background thread, in batches; false: write it before the store returns.",
    )
    journal_dir: Path | None = Field(
        default=None,
        description="The write-ahead journal's root (default: <data_dir>/journal). Give each "
        "host its own; processes on one host may share it.",
    )
    fsync: bool = Field(
        default=False,
        description="fsync every journal append: acknowledged writes then survive power loss, "
        "not only a killed process (about 1 ms per store on an SSD).",
    )
    max_delay_ms: float = Field(
        default=0.0,
        ge=0.0,
        le=60_000.0,
        description="How long the writer lets a batch form before writing it (0: write "
        "whatever is queued as soon as the last write ends; batches still form under load).",
    )
    max_pending: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Queued writes at most; past that a store is not cached (the index is "
        "down or slower than the writes).",
    )


class KnowledgeOptions(BaseModel):
    """Knowledge search: per-item limits, per-namespace quotas, the local lexical index."""

    max_collections_per_namespace: int = Field(default=32, ge=1)
    max_items_per_namespace: int = Field(default=1_000_000, ge=1)
    max_bytes_per_namespace: int = Field(default=1 << 30, ge=1, description="Of item text.")
    max_item_chars: int = Field(default=1_000_000, ge=1)
    max_metadata_keys: int = Field(default=32, ge=0, le=1024)
    max_metadata_key_chars: int = Field(default=128, ge=1, le=4096)
    max_metadata_value_chars: int = Field(default=4096, ge=1, le=1_000_000)
    max_metadata_bytes: int = Field(default=16_384, ge=2, le=4_000_000)
    lexical_dir: Path | None = Field(
        default=None, description="Where the lexical index lives; default <data_dir>/lexical."
    )
    refresh_s: float = Field(
        default=1.0, ge=0, description="How often a replica looks for other replicas' writes."
    )
    recovery_grace_s: float = Field(
        default=120.0, ge=0, description="Another writer's unfinished write is rolled back after."
    )


class ServiceOptions(BaseModel):
    """The HTTP service (``semcached serve``): where it listens and what it accepts."""

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=8080, ge=1, le=65535)
    upstream_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_prompt_chars: int = Field(default=100_000, ge=1)
    strict_readiness: bool = Field(
        default=False,
        description="/readyz answers 503 while any backend is down. Off by default: lookups "
        "fail open, so a replica whose Redis or Chroma is down still answers every request, "
        "and with one shared backend a strict probe takes every replica out at once.",
    )


class VerifierOptions(BaseModel):
    """The verifier: cheap checks that veto near-threshold candidates (semcached.policy.guards)."""

    enabled: bool = Field(default=True, description="Run the verifier on every lookup.")
    checks: list[str] | None = Field(
        default=None,
        description="Which checks (names in semcached.policy.guards.GUARD_NAMES); all.",
    )
    cross_encoder_path: Path | None = Field(
        default=None, description="A local cross-encoder model directory (optional, slower)."
    )
    cross_encoder_min_score: float = Field(default=0.5, ge=0.0, le=1.0)
    stop_at_veto: bool = Field(
        default=DEFAULT_STOP_AT_VETO,
        description="A veto of the closest candidate is a miss (no fallback).",
    )
    model: bool = Field(
        default=True, description="Judge candidates with the pair model (the packaged one)."
    )
    model_path: Path | None = Field(
        default=None,
        description="An exported pair model directory instead of the packaged one "
        "(what `semcached train-verifier` writes).",
    )
    min_score: float = Field(
        default=DEFAULT_MIN_SCORE, ge=0.0, le=1.0, description="The pair model's score to serve."
    )
    partial_min_score: float = Field(
        default=DEFAULT_PARTIAL_MIN_SCORE,
        ge=0.0,
        le=1.0,
        description="The score needed when parts of two long prompts are judged (the same "
        "document, another question: the costliest near miss).",
    )
    max_candidates: int = Field(
        default=1,
        ge=1,
        le=20,
        description="How many of the closest candidates are judged. 1 (the default): a "
        "closest candidate the pair model doubts is a miss; serving a farther one instead "
        "doubled GPTCache's wrong hits (README).",
    )
    threads: int = Field(default=1, ge=1, le=64, description="Threads of the pair model.")


class AdaptiveOptions(BaseModel):
    """Thresholds that learn from feedback, bounded by a maximum false-hit rate."""

    enabled: bool = False
    max_false_hit_rate: float = Field(default=0.05, gt=0.0, lt=1.0)
    floor: float = Field(default=0.80, ge=0.0, le=1.0, description="Never go below this.")
    min_observations: int = Field(default=30, ge=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)


def config_file_path() -> Path | None:
    """The JSON config file Settings read: ``SEMCACHED_CONFIG_FILE`` (empty string: none), else
    ``<SEMCACHED_DATA_DIR or .semcached>/semcached.json``."""
    explicit = os.environ.get("SEMCACHED_CONFIG_FILE")
    if explicit is not None:
        return Path(explicit) if explicit.strip() else None
    return Path(os.environ.get("SEMCACHED_DATA_DIR") or ".semcached") / "semcached.json"


class Settings(BaseSettings):
    """Every knob of semcached. All fields have working defaults (the embedded setup)."""

    model_config = SettingsConfigDict(
        env_prefix="SEMCACHED_", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Field(default=Path(".semcached"), description="Where embedded data lives.")
    redis_url: SecretStr | None = Field(
        default=None, description="Put the exact layer on Redis (redis://host:port/db)."
    )
    chroma_url: str | None = Field(
        default=None, description="Use a ChromaDB server (http://host:port) for vectors."
    )
    namespace: str = Field(default="default", min_length=1)
    threshold: float = Field(default=DEFAULT_THRESHOLD, ge=0.0, le=1.0)
    namespace_thresholds: dict[str, float] = Field(default_factory=dict)
    top_k: int = Field(default=4, ge=1, le=100)
    ttl_s: float | None = Field(default=None, gt=0, description="Entry lifetime; None = forever.")
    max_entries_per_namespace: int = Field(default=100_000, ge=1)
    memory_max_entries: int = Field(default=10_000, ge=1)
    nondeterministic: NondeterministicPolicy = "cache"
    redis: RedisOptions = Field(default_factory=RedisOptions)
    chroma: ChromaOptions = Field(default_factory=ChromaOptions)
    embedding: EmbeddingOptions = Field(default_factory=EmbeddingOptions)
    verifier: VerifierOptions = Field(default_factory=VerifierOptions)
    adaptive: AdaptiveOptions = Field(default_factory=AdaptiveOptions)
    write_behind: WriteBehindOptions = Field(default_factory=WriteBehindOptions)
    upstream_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL the proxy sends misses to (https://host/v1).",
    )
    upstream_urls: dict[UpstreamApi, str] = Field(
        default_factory=dict,
        description="A base URL per API, overriding upstream_url for it: openai (chat, "
        "completions, responses, embeddings, other /v1 paths), anthropic (/v1/messages...: "
        "https://api.anthropic.com/v1), azure (/openai/...: https://RESOURCE.openai.azure.com).",
    )
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 hex digest of an API key -> the one namespace that key may use. "
        "Empty: no authentication, and the service binds to localhost only.",
    )
    service: ServiceOptions = Field(default_factory=ServiceOptions)
    knowledge: KnowledgeOptions = Field(default_factory=KnowledgeOptions)

    @field_validator("api_keys")
    @classmethod
    def _api_keys_are_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        checked: dict[str, str] = {}
        for digest, namespace in value.items():
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(
                    "api_keys must map the SHA-256 hex digest of each key (64 hex characters) "
                    f"to a namespace, got a {len(digest)}-character name; store "
                    "`semcached hash-key KEY` instead of the key itself"
                )
            if not namespace:
                raise ValueError(f"api_keys: the key {digest[:8]}... needs a non-empty namespace")
            checked[digest.lower()] = namespace
        return checked

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Arguments, then SEMCACHED_* variables, then the config file, then defaults.
        path = config_file_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if path is not None and path.is_file() and path.stat().st_size > 0:
            sources.append(JsonConfigSettingsSource(settings_cls, json_file=path))
        sources.append(file_secret_settings)
        return tuple(sources)

    @field_validator("upstream_url")
    @classmethod
    def _upstream_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) base URL, got {value!r}")
        return value

    @field_validator("upstream_urls")
    @classmethod
    def _upstreams_are_http(cls, value: dict[str, str]) -> dict[str, str]:
        for api, url in value.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(
                    f"upstream_urls[{api!r}]: expected an http(s) base URL, got {url!r}"
                )
        return value

    @field_validator("namespace_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for namespace, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(
                    f"threshold for namespace {namespace!r} must be within [0, 1], got {threshold}"
                )
        return value
