"""Reading the cache controls of a request: three spellings, one meaning."""

from __future__ import annotations

import pytest

from semcached.errors import ApiError
from semcached.service.cache_controls import CacheControls, read_controls


def test_nothing_asked_is_the_default() -> None:
    payload = {"model": "m"}
    assert read_controls(payload) == CacheControls()
    assert payload == {"model": "m"}


def test_cache_control_directives() -> None:
    got = read_controls({}, cache_control="No-Cache, no-store, max-age=60, max-stale=5")
    assert got == CacheControls(skip_lookup=True, skip_store=True, max_age_s=60.0)
    assert read_controls({}, cache_control='max-age=60, s-maxage="5"').max_age_s == 5.0


def test_the_body_field_is_read_and_removed() -> None:
    payload = {
        "model": "m",
        "cache": {"no-store": True, "ttl": 30, "s-maxage": 0, "namespace": "a"},
    }
    got = read_controls(payload, ttl_s=None)
    assert got == CacheControls(skip_store=True, ttl_s=30.0, max_age_s=0.0, namespace="a")
    assert "cache" not in payload
    # an explicit header wins over the body's TTL; a skip asked anywhere wins
    both = read_controls({"cache": {"ttl": 30}}, ttl_s=5.0, skip_lookup="true")
    assert both.ttl_s == 5.0 and both.skip_lookup


@pytest.mark.parametrize(
    ("payload", "kwargs", "field"),
    [
        ({"cache": {"ttl": 0}}, {}, "cache.ttl"),
        ({"cache": {"ttl": True}}, {}, "cache.ttl"),
        ({"cache": {"s-maxage": -1}}, {}, "cache.s-maxage"),
        ({"cache": {"namespace": ""}}, {}, "cache.namespace"),
        ({"cache": {"namespace": "a"}}, {"namespace": "b"}, "cache.namespace"),
        ({}, {"cache_control": "max-age=-3"}, "Cache-Control"),
    ],
)
def test_bad_controls_name_their_field(
    payload: dict[str, object], kwargs: dict[str, str], field: str
) -> None:
    with pytest.raises(ApiError) as error:
        read_controls(payload, **kwargs)  # type: ignore[arg-type]
    assert error.value.status == 422 and error.value.field == field and error.value.fix


def test_metric_labels_are_bounded() -> None:
    from semcached.service.metrics import OTHER, BoundedLabel

    label = BoundedLabel(limit=3)
    assert [label(f"ns{i}") for i in range(5)] == ["ns0", "ns1", "ns2", OTHER, OTHER]
    assert label("ns1") == "ns1" and label(None) == "none"
