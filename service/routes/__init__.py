"""The service's routers, one module per API: cache, OpenAI-compatible proxy, knowledge, ops."""

from __future__ import annotations

__all__: list[str] = []
