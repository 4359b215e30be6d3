"""What every adapter behind a provider's HTTP API shows the rest of ragd, once.

The embedders, LLMs and rerankers that call a remote API each hold a
:class:`~ragd.adapters.http.client.ProviderHTTP` and a model name; the properties built
on those two (the model, the URL, whether a connection is open, closing it, a
``repr`` that never shows the key) are the same for all of them and live here.
"""

from __future__ import annotations

from ragd.adapters.http.client import ProviderHTTP


class RemoteAdapter:
    """Base of the remote adapters: a model name behind one provider connection.

    Args:
        http: the provider connection (created lazily; nothing is sent here).
        model: what :attr:`model` reports.
    """

    def __init__(self, *, http: ProviderHTTP, model: str) -> None:
        self._http = http
        self._model = model

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}(model={self._model!r}, base_url={self._http.base_url!r})"

    @property
    def model(self) -> str:
        return self._model

    @property
    def provider(self) -> str:
        """The provider's name in messages and logs (``openai``, ``jina``…)."""
        return self._http.provider

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def is_connected(self) -> bool:
        """Whether an HTTP client exists yet (building an adapter makes no request)."""
        return self._http.is_open

    def close(self) -> None:
        """Close the connection pool; a later call opens a new one."""
        self._http.close()
