"""A namespace echoed in a response header is always a valid header value, and decodes back
to the namespace (a namespace from ``?namespace=`` may hold any character)."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from semcached.service.auth import namespace_header


@given(st.text(min_size=1, max_size=64))
def test_any_namespace_becomes_a_header_value_that_decodes_back(namespace: str) -> None:
    value = namespace_header(namespace)
    value.encode("latin-1")  # what Starlette does with header values
    assert value.isascii() and value.isprintable()
    if value != namespace or "%" in value:
        assert unquote(value, errors="surrogatepass") == namespace


def test_plain_namespaces_are_unchanged() -> None:
    assert namespace_header("tenant-a.prod_1") == "tenant-a.prod_1"
    assert namespace_header("Üôi\U00101c0d") == "%C3%9C%C3%B4i%F4%81%B0%8D"
    assert namespace_header("a%41") == "a%2541"  # never mistaken for "aA"
