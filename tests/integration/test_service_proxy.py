"""The OpenAI-compatible proxy, on a real uvicorn server, driven by httpx and the openai SDK."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import redis

from semcached.embeddings import CachedEmbedder
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, MemoryExactStore
from semcached.service.app import create_app
from tests.servers import free_port
from tests.servicekit import Service, chat, openai_sdk, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis]

PASSWORD = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
OTHER = "How do I delete my account?"


@pytest.fixture
def http(service: Service, ns: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, headers={"X-Semcached-Namespace": ns}) as client:
        yield client


def sdk(service: Service, ns: str, **kwargs: Any) -> openai.OpenAI:
    return openai_sdk(service.url, ns, api_key="sk-test-key", **kwargs)


def test_miss_then_exact_then_semantic_hit_with_one_upstream_call(
    http: httpx.Client, upstream: Upstream
) -> None:
    """The first request goes upstream; the same and a paraphrase come from the cache."""
    first = http.post("/v1/chat/completions", json=chat(PASSWORD))
    assert first.status_code == 200
    assert first.headers["X-Semcached-Cache"] == "miss"
    assert first.headers["X-Semcached-Stored"] == "true"

    exact = http.post("/v1/chat/completions", json=chat(PASSWORD))
    assert exact.headers["X-Semcached-Cache"] == "exact"
    assert exact.json() == first.json()

    semantic = http.post("/v1/chat/completions", json=chat(PARAPHRASE))
    assert semantic.headers["X-Semcached-Cache"] == "semantic"
    assert float(semantic.headers["X-Semcached-Similarity"]) >= 0.95
    assert semantic.headers["X-Semcached-Entry-Id"] == exact.headers["X-Semcached-Entry-Id"]
    assert semantic.json() == first.json()
    assert upstream.count == 1

    other = http.post("/v1/chat/completions", json=chat(OTHER))
    assert other.headers["X-Semcached-Cache"] == "miss"
    assert upstream.count == 2


def test_openai_sdk_through_the_proxy(service: Service, ns: str, upstream: Upstream) -> None:
    """The real openai package works unchanged with base_url pointed at the proxy."""
    client = sdk(service, ns)
    miss = client.chat.completions.with_raw_response.create(
        model="test-model", temperature=0, messages=[{"role": "user", "content": PASSWORD}]
    )
    assert miss.headers["X-Semcached-Cache"] == "miss"
    answer = miss.parse().choices[0].message.content
    assert answer is not None
    assert PASSWORD in answer

    hit = client.chat.completions.with_raw_response.create(
        model="test-model", temperature=0, messages=[{"role": "user", "content": PARAPHRASE}]
    )
    assert hit.headers["X-Semcached-Cache"] == "semantic"
    assert hit.parse().choices[0].message.content == answer
    assert upstream.count == 1
    assert upstream.calls[0].headers["authorization"] == "Bearer sk-test-key"


def _sse_events(response: httpx.Response) -> list[str]:
    return [line for line in response.iter_lines() if line]


def test_stream_is_replayed_event_for_event(http: httpx.Client, upstream: Upstream) -> None:
    """A streamed miss is relayed, recorded, and replayed as the very same events."""
    body = chat(PASSWORD, stream=True, stream_options={"include_usage": True})
    with http.stream("POST", "/v1/chat/completions", json=body) as first:
        assert first.headers["X-Semcached-Cache"] == "miss"
        assert first.headers["content-type"].startswith("text/event-stream")
        recorded = _sse_events(first)
    assert recorded[-1] == "data: [DONE]"
    assert len(recorded) > 5

    with http.stream("POST", "/v1/chat/completions", json=body) as exact:
        assert exact.headers["X-Semcached-Cache"] == "exact"
        assert _sse_events(exact) == recorded
    paraphrase = chat(PARAPHRASE, stream=True, stream_options={"include_usage": True})
    with http.stream("POST", "/v1/chat/completions", json=paraphrase) as semantic:
        assert semantic.headers["X-Semcached-Cache"] == "semantic"
        assert _sse_events(semantic) == recorded
    assert upstream.count == 1


def test_openai_sdk_streaming_replay_chunk_for_chunk(
    service: Service, ns: str, upstream: Upstream
) -> None:
    client = sdk(service, ns)
    messages = [{"role": "user", "content": PASSWORD}]

    def run() -> list[dict[str, object]]:
        stream = client.chat.completions.create(
            model="test-model", temperature=0, messages=messages, stream=True
        )
        return [chunk.model_dump() for chunk in stream]

    live, replayed = run(), run()
    assert replayed == live
    text = "".join(c["choices"][0]["delta"]["content"] or "" for c in live if c["choices"])
    assert text == f"answer #1 to: {PASSWORD}"
    assert upstream.count == 1


def test_upstream_error_is_returned_and_never_cached(
    http: httpx.Client, upstream: Upstream
) -> None:
    upstream.fail_next("status", 500)
    failed = http.post("/v1/chat/completions", json=chat(PASSWORD))
    assert failed.status_code == 500
    assert failed.json()["error"]["message"] == "upstream exploded"
    assert failed.headers["Retry-After"] == "7"
    assert failed.headers["X-Request-Id"] == "req-123"
    assert "X-Internal" not in failed.headers

    retried = http.post("/v1/chat/completions", json=chat(PASSWORD))
    assert retried.status_code == 200
    assert retried.headers["X-Semcached-Cache"] == "miss"
    assert http.post("/v1/chat/completions", json=chat(PASSWORD)).headers["X-Semcached-Cache"] == (
        "exact"
    )
    assert upstream.count == 2


def test_a_rate_limited_upstream_is_relayed_with_its_retry_after_and_never_cached(
    service: Service, ns: str, upstream: Upstream
) -> None:
    """429 from the provider: the SDK sees the provider's own 429 (and would back off by its
    Retry-After); nothing is stored, so the retry reaches the provider."""
    client = sdk(service, ns)
    upstream.fail_next("status", 429)
    question = "How many requests may I send per minute?"
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(
            model="test-model", temperature=0, messages=[{"role": "user", "content": question}]
        )
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.response.headers["x-semcached-cache"] == "miss"
    answer = client.chat.completions.with_raw_response.create(
        model="test-model", temperature=0, messages=[{"role": "user", "content": question}]
    )
    assert answer.headers["x-semcached-cache"] == "miss" and upstream.count == 2


def test_a_slow_upstream_is_a_504_after_the_timeout_and_nothing_is_stored(
    service: Service, ns: str, upstream: Upstream
) -> None:
    """An upstream that does not answer within SEMCACHED_SERVICE__UPSTREAM_TIMEOUT_S: a JSON
    504 in OpenAI's error shape, no entry stored, and the service answers the next call."""
    settings = service_settings(service.settings.upstream_url)
    settings = settings.model_copy(
        update={"service": settings.service.model_copy(update={"upstream_timeout_s": 0.5})}
    )
    question = "Why is the provider so slow today?"
    gate = upstream.hold()
    try:
        with serving(create_app(settings, cache=service.cache)) as server:
            headers = {"X-Semcached-Namespace": ns}
            slow = httpx.post(f"{server.url}/v1/chat/completions", json=chat(question),
                              headers=headers, timeout=30)  # fmt: skip
            gate.set()
            upstream.gate = None
            assert slow.status_code == 504, slow.text
            error = slow.json()["error"]
            assert error["type"] == "upstream_timeout" and error["code"] == "upstream_timeout"
            again = httpx.post(f"{server.url}/v1/chat/completions", json=chat(question),
                               headers=headers, timeout=30)  # fmt: skip
            assert again.status_code == 200 and again.headers["x-semcached-cache"] == "miss"
    finally:
        gate.set()
        upstream.gate = None


@pytest.mark.parametrize("failure", ["cut", "error_event"])
def test_failed_stream_is_never_stored(
    http: httpx.Client, upstream: Upstream, failure: str
) -> None:
    """A stream cut mid-way, or carrying an error event, ends with an error and is not cached."""
    upstream.fail_next(failure, 0)
    body = chat(PASSWORD, stream=True)
    with http.stream("POST", "/v1/chat/completions", json=body) as broken:
        events = _sse_events(broken)
    assert "data: [DONE]" not in events
    assert '"error"' in events[-1]

    with http.stream("POST", "/v1/chat/completions", json=body) as again:
        assert again.headers["X-Semcached-Cache"] == "miss"
        assert _sse_events(again)[-1] == "data: [DONE]"
    assert upstream.count == 2


def test_sdk_raises_on_a_failed_stream(service: Service, ns: str, upstream: Upstream) -> None:
    upstream.fail_next("error_event", 0)
    stream = sdk(service, ns).chat.completions.create(
        model="test-model",
        temperature=0,
        messages=[{"role": "user", "content": PASSWORD}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_authorization_is_passed_through_and_never_stored_or_logged(
    service: Service,
    http: httpx.Client,
    upstream: Upstream,
    redis_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-very-secret-0123456789"
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": f"Bearer {secret}", "OpenAI-Organization": "org-1"}
    for question in (PASSWORD, PASSWORD):
        http.post("/v1/chat/completions", json=chat(question), headers=headers)
    with http.stream(
        "POST", "/v1/chat/completions", json=chat(OTHER, stream=True), headers=headers
    ) as streamed:
        streamed.read()
    assert upstream.calls[0].headers["authorization"] == f"Bearer {secret}"
    assert upstream.calls[0].headers["openai-organization"] == "org-1"
    client = redis.Redis.from_url(redis_url)
    stored = [client.get(key) for key in client.scan_iter(match=f"{service.redis_prefix}:*")]
    client.close()
    assert stored
    assert all(secret.encode() not in value for value in stored if value)
    assert secret not in caplog.text


def test_per_call_headers(
    service: Service, http: httpx.Client, upstream: Upstream, ns: str, redis_url: str
) -> None:
    """Skip the lookup, skip the store, raise the threshold, set the TTL, for one call."""
    url = "/v1/chat/completions"
    http.post(url, json=chat(PASSWORD))
    bypass = http.post(url, json=chat(PASSWORD), headers={"X-Semcached-Skip-Lookup": "true"})
    assert bypass.headers["X-Semcached-Cache"] == "bypass"
    assert upstream.count == 2
    strict = http.post(url, json=chat(PARAPHRASE), headers={"X-Semcached-Threshold": "1.0"})
    assert strict.headers["X-Semcached-Cache"] == "miss"
    assert upstream.count == 3

    http.post(url, json=chat(OTHER), headers={"X-Semcached-Skip-Store": "1"})
    assert http.post(url, json=chat(OTHER)).headers["X-Semcached-Cache"] == "miss"
    nocache = http.post(url, json=chat(OTHER), headers={"Cache-Control": "no-cache"})
    assert nocache.headers["X-Semcached-Cache"] == "bypass"

    timed = http.post(url, json=chat("What is a TTL?"), headers={"X-Semcached-TTL": "30"})
    entry = service.cache.canonicalize(chat("What is a TTL?"), ns).exact_key
    client = redis.Redis.from_url(redis_url)
    ttl_ms = client.pttl(f"{service.redis_prefix}:{ns}:{entry}")
    client.close()
    assert timed.headers["X-Semcached-Cache"] == "miss"
    assert 0 < ttl_ms <= 30_000

    other_ns = http.post(url, json=chat(PASSWORD), headers={"X-Semcached-Namespace": ns + "-b"})
    assert other_ns.headers["X-Semcached-Cache"] == "miss"


def _metrics(http: httpx.Client) -> dict[str, float]:
    """Every sample of /metrics, by its full name with labels."""
    samples: dict[str, float] = {}
    for line in http.get("/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_count_hits_misses_tokens_and_upstream_errors(
    http: httpx.Client, upstream: Upstream, ns: str
) -> None:
    """Each outcome moves its own counter by exactly what happened."""
    before = _metrics(http)
    url = "/v1/chat/completions"
    http.post(url, json=chat(PASSWORD))
    http.post(url, json=chat(PASSWORD))
    http.post(url, json=chat(PARAPHRASE))
    upstream.fail_next("status", 503)
    http.post(url, json=chat(OTHER))
    after = _metrics(http)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('semcached_cache_hits_total{kind="exact"}') == 1
    assert delta('semcached_cache_hits_total{kind="semantic"}') == 1
    assert delta("semcached_cache_misses_total") == 2

    def labelled(metric: str, **labels: str) -> float:
        """The delta of the one sample of ``metric`` with exactly these labels (any order)."""
        want = {**labels, "namespace": ns, "model": "test-model"}

        def value(samples: dict[str, float]) -> float:
            for key, number in samples.items():
                name, _, rest = key.partition("{")
                pairs = dict(p.split("=", 1) for p in rest.rstrip("}").split(",") if p)
                if name == metric and {k: v.strip('"') for k, v in pairs.items()} == want:
                    return number
            return 0.0

        return value(after) - value(before)

    assert labelled("semcached_tokens_saved_total", kind="exact") == 30  # usage.total_tokens
    assert labelled("semcached_tokens_saved_total", kind="semantic") == 30
    assert delta('semcached_upstream_errors_total{reason="http_503"}') == 1
    assert labelled("semcached_proxy_responses_total", cache="miss", endpoint="chat") == 1
    assert labelled("semcached_proxy_responses_total", cache="upstream_error", endpoint="chat") == 1
    assert not any(name.endswith("_created") for name in after)  # one series per counter
    assert delta("semcached_provider_calls_total") == 2
    assert delta('semcached_stage_latency_seconds_count{stage="embed"}') >= 2
    assert delta("semcached_false_hit_reports_total") == 0
    stats = http.get("/v1/stats").json()
    assert stats["tokens_saved"] >= 60


def test_upstream_unreachable_is_a_json_502_and_no_upstream_is_a_503(
    service: Service, ns: str
) -> None:
    dead = service_settings(f"http://127.0.0.1:{free_port()}/v1")
    with serving(create_app(dead, cache=service.cache)) as server:
        reply = httpx.post(
            f"{server.url}/v1/chat/completions",
            json=chat(OTHER),
            headers={"X-Semcached-Namespace": ns},
        )
    assert reply.status_code == 502
    assert reply.json()["error"]["type"] == "upstream_unreachable"
    assert reply.json()["error"]["fix"]

    with serving(create_app(service_settings(None), cache=service.cache)) as server:
        reply = httpx.post(
            f"{server.url}/v1/chat/completions",
            json=chat(OTHER),
            headers={"X-Semcached-Namespace": ns},
        )
    assert reply.status_code == 503
    assert reply.json()["error"]["type"] == "upstream_not_configured"
    assert "SEMCACHED_UPSTREAM_URL" in reply.json()["error"]["fix"]


def _followers(service: Service, kind: str, ns: str, question: str, **params: Any) -> int:
    key = service.cache.canonicalize(chat(question, **params), ns).exact_key
    flight = service.cache.flights.get((kind, key))
    return -1 if flight is None else flight.followers


def _wait(condition: Any, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_concurrent_identical_requests_make_one_upstream_call(
    service: Service, ns: str, upstream: Upstream
) -> None:
    """Five identical requests arriving while the upstream holds the first one open make one
    upstream call, and all five get its answer."""
    import asyncio

    release = upstream.hold()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=service.url, headers={"X-Semcached-Namespace": ns}, timeout=60
        ) as client:
            calls = [
                asyncio.create_task(client.post("/v1/chat/completions", json=chat(OTHER)))
                for _ in range(5)
            ]
            await asyncio.to_thread(_wait, lambda: _followers(service, "call", ns, OTHER) == 4)
            release.set()
            return await asyncio.gather(*calls)

    replies = asyncio.run(burst())
    assert {r.status_code for r in replies} == {200}
    assert len({json.dumps(r.json(), sort_keys=True) for r in replies}) == 1
    assert sorted(r.headers["X-Semcached-Cache"] for r in replies) == ["coalesced"] * 4 + ["miss"]
    assert upstream.count == 1


def test_concurrent_identical_streams_share_one_upstream_stream(
    service: Service, ns: str, upstream: Upstream
) -> None:
    """Twins of a streamed miss receive the leader's events (every one, from the first) from a
    single upstream stream; the stream is then stored and replayed."""
    import asyncio

    release = upstream.hold()
    body = chat(OTHER, stream=True)

    async def burst() -> list[bytes]:
        async with httpx.AsyncClient(
            base_url=service.url, headers={"X-Semcached-Namespace": ns}, timeout=60
        ) as client:

            async def read() -> bytes:
                reply = await client.post("/v1/chat/completions", json=body)
                assert reply.status_code == 200
                return reply.content

            calls = [asyncio.create_task(read()) for _ in range(4)]
            await asyncio.to_thread(
                _wait,
                lambda: _followers(service, "stream", ns, OTHER) == 3,  # keyed without stream
            )
            release.set()
            return await asyncio.gather(*calls)

    bodies = asyncio.run(burst())
    assert len(set(bodies)) == 1 and bodies[0].endswith(b"data: [DONE]\n\n")
    assert upstream.count == 1
    replay = httpx.post(
        f"{service.url}/v1/chat/completions", json=body, headers={"X-Semcached-Namespace": ns}
    )
    assert replay.headers["X-Semcached-Cache"] == "exact" and replay.content == bodies[0]
    assert upstream.count == 1


def test_echo_upstream_answers_misses_like_a_provider(service: Service, ns: str) -> None:
    """`semcached serve --echo-upstream` (what `make run` uses): a miss, then hits."""
    from semcached.service.echo import ECHO_URL, echo_transport

    app = create_app(
        service_settings(ECHO_URL), cache=service.cache, upstream_transport=echo_transport()
    )
    with serving(app) as server:
        client = openai_sdk(server.url, ns, api_key="unused")
        kinds, texts = [], []
        for question in (PASSWORD, PASSWORD, PARAPHRASE):
            raw = client.chat.completions.with_raw_response.create(
                model="m", temperature=0, messages=[{"role": "user", "content": question}]
            )
            kinds.append(raw.headers["X-Semcached-Cache"])
            texts.append(raw.parse().choices[0].message.content)
        stream = client.chat.completions.create(
            model="m", temperature=0, stream=True, messages=[{"role": "user", "content": OTHER}]
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        models = [m.id for m in client.models.list().data]  # relayed to the in-memory echo
        unknown = httpx.get(f"{server.url}/v1/files")
        metrics = httpx.get(f"{server.url}/metrics").text
    assert models == ["echo"]
    assert unknown.status_code == 404 and "echo upstream" in unknown.json()["error"]["message"]
    assert kinds == ["miss", "exact", "semantic"]
    assert texts == [f"(echo) You asked: {PASSWORD}"] * 3
    assert streamed == f"(echo) You asked: {OTHER}"
    assert 'route="/v1/chat/completions"' in metrics


def test_policy_bypass_for_sampled_requests_is_reported(
    service: Service, upstream: Upstream, st_embedder: Any, tmp_path: Any
) -> None:
    """With nondeterministic='bypass', temperature > 0 is never cached, and the header says so."""
    cache = SemanticCache(
        embedder=CachedEmbedder(st_embedder),
        exact_store=MemoryExactStore(),
        vector_backend=ChromaBackend(path=tmp_path / "chroma"),
        nondeterministic="bypass",
    )
    app = create_app(service_settings(service.settings.upstream_url), cache=cache)
    with serving(app) as server:
        kinds = [
            httpx.post(
                f"{server.url}/v1/chat/completions", json=chat(PASSWORD, temperature=0.7)
            ).headers["X-Semcached-Cache"]
            for _ in range(2)
        ]
    cache.close()
    assert kinds == ["bypass", "bypass"]
    assert upstream.count == 2


def test_upstream_headers_reach_the_caller_on_misses(
    http: httpx.Client, upstream: Upstream
) -> None:
    """The upstream's request id, timing and rate-limit headers come back on a miss (streamed
    or not); a hit says so in X-Semcached-* instead; internal headers never leak."""
    question = "Which headers does the provider send back?"
    miss = http.post("/v1/chat/completions", json=chat(question))
    assert miss.headers["x-request-id"].startswith("req-chat-")
    assert miss.headers["openai-processing-ms"] == "5"
    assert miss.headers["x-ratelimit-remaining-requests"] == "99"
    assert "x-internal" not in miss.headers
    hit = http.post("/v1/chat/completions", json=chat(question))
    assert hit.headers["x-semcached-cache"] == "exact" and "x-request-id" not in hit.headers
    with http.stream("POST", "/v1/chat/completions", json=chat("And streamed?", stream=True)) as s:
        assert s.headers["x-request-id"].startswith("req-chat-")
        b"".join(s.iter_bytes())
