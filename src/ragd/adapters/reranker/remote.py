"""Rerankers behind an HTTP API: Jina's ``POST /v1/rerank`` and Cohere's
``POST /v2/rerank``.

Both take ``{"model", "query", "documents": [str], "top_n"}`` and answer
``{"results": [{"index", "relevance_score"}, ...]}`` sorted by score; vLLM serves both
paths for its cross-encoders, and Infinity and LiteLLM copy them. ``RERANKER_MODEL`` is
``<api>:<model>``:

* ``jina:jina-reranker-v2-base-multilingual`` (``JINA_API_KEY``),
* ``cohere:rerank-v3.5`` (``COHERE_API_KEY``),
* either with ``RERANKER_BASE_URL`` for a self-hosted server (``cohere:BAAI/bge-reranker-v2-m3``
  with ``RERANKER_BASE_URL=http://vllm:8000``); a key there is ``RERANKER_API_KEY``.

``RERANKER_BASE_URL`` is the server's root; a trailing ``/v1`` or ``/v2`` is dropped, so
an OpenAI-style base URL works too. ``top_n`` is the number of passages: the port wants
a score for every passage, and an answer that leaves one out is malformed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ragd.adapters.http.base import RemoteAdapter
from ragd.adapters.http.client import ProviderHTTP, bearer, secret
from ragd.adapters.http.errors import WireError
from ragd.errors import ConfigError

if TYPE_CHECKING:
    from ragd.config import ProviderSettings, RerankSettings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RerankAPI:
    """One provider's flavour of the rerank API."""

    provider: str
    path: str
    default_base_url: str
    key_hint: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Fixed fields of the request body."""


JINA = RerankAPI(
    "jina",
    "/v1/rerank",
    "https://api.jina.ai",
    "JINA_API_KEY or RERANKER_API_KEY",
    {"return_documents": False},
)
COHERE = RerankAPI(
    "cohere", "/v2/rerank", "https://api.cohere.com", "COHERE_API_KEY or RERANKER_API_KEY"
)
APIS = {api.provider: api for api in (JINA, COHERE)}


def parse_results(payload: object, count: int) -> list[float]:
    """One score per passage, in the passages' order, from a rerank answer.

    Raises:
        WireError: not the wire format, or not exactly one finite score per passage.
    """
    if not isinstance(payload, Mapping):
        raise WireError(f"expected a JSON object, got {type(payload).__name__}")
    results = payload.get("results")
    if not isinstance(results, list):
        raise WireError("the answer has no 'results' list")
    scores: dict[int, float] = {}
    for position, item in enumerate(results):
        index = item.get("index") if isinstance(item, Mapping) else None
        score = item.get("relevance_score") if isinstance(item, Mapping) else None
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
            raise WireError(f"results[{position}] has a bad index {index!r}")
        if index in scores:
            raise WireError(f"passage {index} is scored twice")
        if not isinstance(score, int | float) or isinstance(score, bool):
            raise WireError(f"results[{position}] has no numeric relevance_score")
        if not math.isfinite(score):
            raise WireError(f"results[{position}] has a non-finite relevance_score")
        scores[index] = float(score)
    if len(scores) != count:
        raise WireError(f"scores for {len(scores)} of {count} passages")
    return [scores[i] for i in range(count)]


class HttpReranker(RemoteAdapter):
    """The ``Reranker`` port over a Jina- or Cohere-style rerank endpoint.

    Thread-safe; nothing is sent until the first call. Errors: ``ConfigError`` (key,
    model), ``BackendUnavailable`` (429, 5xx, timeouts, malformed answers),
    ``InvalidRequest`` (other 4xx); the answer path keeps the retrieval order on any.
    """

    def __init__(
        self,
        *,
        api: RerankAPI,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        name: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError(f"RERANKER_MODEL={api.provider}: names no model")
        root = (base_url or api.default_base_url).rstrip("/")
        for suffix in ("/v1", "/v2"):
            root = root.removesuffix(suffix)
        http = ProviderHTTP(
            provider=api.provider,
            base_url=root,
            headers=bearer(api_key),
            secret=api_key,
            timeout=timeout,
            key_hint=api.key_hint,
            model_hint="RERANKER_MODEL and RERANKER_BASE_URL",
            url_hint="RERANKER_BASE_URL",
            timeout_hint="RAGD_RERANKER_TIMEOUT_SECONDS",
            transport=transport,
        )
        # ``model`` reports RERANKER_MODEL as configured; the API is sent its own name
        super().__init__(http=http, model=name or f"{api.provider}:{model}")
        self._api = api
        self._api_model = model

    def rerank(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, in the passages' order (no call for none)."""
        if not passages:
            return []
        body = {
            "model": self._api_model,
            "query": query,
            "documents": list(passages),
            "top_n": len(passages),
            **self._api.extra,
        }
        started = time.perf_counter()
        payload = self._http.post_json(self._api.path, body)
        try:
            scores = parse_results(payload, len(passages))
        except WireError as exc:
            raise self._http.malformed(exc) from exc
        logger.debug(
            "rerank done: provider=%s model=%s passages=%d seconds=%.3f",
            self._api.provider,
            self._api_model,
            len(passages),
            time.perf_counter() - started,
        )
        return scores


def build(rerank: RerankSettings, providers: ProviderSettings) -> HttpReranker | None:
    """The reranker named by ``RERANKER_MODEL``; ``None`` when it is empty or ``none``.
    Its key is ``RERANKER_API_KEY``, else the account's (``JINA_API_KEY``, shared with
    Jina's embedder, or ``COHERE_API_KEY``).

    Raises:
        ConfigError: an unknown API prefix, or no key for Jina's or Cohere's own server.
    """
    name = rerank.model.strip()
    if not name or name.lower() == "none":
        return None
    provider, sep, model = name.partition(":")
    api = APIS.get(provider)
    if not sep or api is None:
        raise ConfigError(
            f"unknown RERANKER_MODEL {name!r}; write api:model with api one of "
            f"{', '.join(APIS)} (e.g. jina:jina-reranker-v2-base-multilingual, "
            "cohere:rerank-v3.5)"
        )
    own_key = providers.jina_api_key if api is JINA else providers.cohere_api_key
    api_key = secret(rerank.api_key) or secret(own_key)
    if not api_key and not rerank.base_url:
        raise ConfigError(f"RERANKER_MODEL={name} needs {api.key_hint}")
    return HttpReranker(
        api=api,
        model=model,
        api_key=api_key,
        base_url=rerank.base_url,
        name=name,
        timeout=rerank.timeout_seconds,
    )
