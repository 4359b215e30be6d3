"""The HTTP layer every remote provider adapter (embedders, LLMs, rerankers) goes through.

* :mod:`.errors`: the one map from an HTTP status to a ``ragd.errors`` type and retry
  decision, ``Retry-After``, and reading a provider's error body;
* :mod:`.client`: :class:`ProviderHTTP`, one provider's lazily created ``httpx`` client;
* :mod:`.base`: :class:`RemoteAdapter`, the properties every remote adapter shares;
* :mod:`.sse`: server-sent events.
"""

from ragd.adapters.http.base import RemoteAdapter
from ragd.adapters.http.client import ProviderHTTP, bearer, secret
from ragd.adapters.http.errors import (
    ProviderUnavailable,
    WireError,
    error_for_status,
    parse_retry_after,
)
from ragd.adapters.http.sse import sse_data

__all__ = [
    "ProviderHTTP",
    "ProviderUnavailable",
    "RemoteAdapter",
    "WireError",
    "bearer",
    "error_for_status",
    "parse_retry_after",
    "secret",
    "sse_data",
]
