"""A fake rerank server speaking Jina's and Cohere's APIs: a real HTTP server on 127.0.0.1.

* ``POST /v1/rerank`` (Jina): ``{"model", "query", "documents", "top_n",
  "return_documents"}`` → ``{"model", "usage": {"total_tokens"}, "results": [{"index",
  "relevance_score", "document": {"text"}}]}`` (documents returned unless
  ``return_documents`` is false); errors ``{"detail": "..."}``.
* ``POST /v2/rerank`` (Cohere, also what vLLM serves): ``{"model", "query", "documents",
  "top_n"}`` → ``{"id", "results": [{"index", "relevance_score"}], "meta": {...}}``;
  errors ``{"id", "message"}``.

Results are sorted by score, highest first, and cut to ``top_n``. The score is the
cosine between the query's and the passage's sets of lower-cased words (stop words
left out), so passages that
share more of the question's content words rank higher: :func:`overlap_score`.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any

from tests.fakes.http_base import FakeHandler, FakeServer, Reply, Route, words

JINA_MODEL = "jina-reranker-v2-base-multilingual"
COHERE_MODEL = "rerank-v3.5"
_WORD = re.compile(r"\w+")
STOPWORDS = frozenset(
    "a an and are as at be by do does for from how in is it of on or the this to was what "
    "when where which who why with".split()
)


def content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - STOPWORDS


def overlap_score(query: str, passage: str) -> float:
    q, p = content_words(query), content_words(passage)
    if not q or not p:
        return 0.0
    return len(q & p) / math.sqrt(len(q) * len(p))


def jina_error(status: int, detail: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply.json(status, {"detail": detail}, headers=headers)


def cohere_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply.json(status, {"id": str(uuid.uuid4()), "message": message}, headers=headers)


class FakeRerankServer(FakeServer):
    """Args:
    api_key: when set, requests need ``Authorization: Bearer <api_key>`` (the 401 echoes
        the key received, so masking is tested).
    models: model names served; others get 404 (Cohere) or 400 (Jina). ``None``: any.
    """

    def __init__(self, *, api_key: str | None = None, models: list[str] | None = None) -> None:
        super().__init__(api_key=api_key)
        self.models = [JINA_MODEL, COHERE_MODEL] if models is None else models

    @property
    def base_url(self) -> str:
        return self.root_url

    def rerank_requests(self) -> list[Any]:
        return self.requests_to("/v1/rerank") + self.requests_to("/v2/rerank")

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", "/v1/rerank"): _jina, ("POST", "/v2/rerank"): _cohere}

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        got = handler.bearer()
        if self.api_key is None or got == self.api_key:
            return None
        if handler.path.startswith("/v1/"):
            return jina_error(401, f"Unauthorized: invalid API key {got}")
        return cohere_error(401, f"invalid api token {got}")

    def error_reply(self, status: int, message: str) -> Reply:
        return cohere_error(status, message)


def _validate(fake: FakeRerankServer, body: Any) -> tuple[str, list[str], int] | str:
    """``(query, documents, top_n)`` or a problem."""
    if not isinstance(body, dict):
        return "invalid JSON body"
    query, documents = body.get("query"), body.get("documents")
    if not isinstance(query, str) or not query.strip():
        return "query: must be a non-empty string"
    if not isinstance(documents, list) or not documents:
        return "documents: must be a non-empty list"
    texts = [d.get("text") if isinstance(d, dict) else d for d in documents]
    if not all(isinstance(t, str) for t in texts):
        return "documents: every document must be a string"
    top_n = body.get("top_n", len(texts))
    if not isinstance(top_n, int) or top_n < 1:
        return "top_n: must be a positive integer"
    return query, texts, top_n


def _ranked(query: str, texts: list[str], top_n: int) -> list[tuple[int, float]]:
    scores = [(i, overlap_score(query, t)) for i, t in enumerate(texts)]
    return sorted(scores, key=lambda s: (-s[1], s[0]))[:top_n]


def _jina(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeRerankServer)
    checked = _validate(fake, body)
    if isinstance(checked, str):
        handler.send_reply(jina_error(422, checked))
        return
    if fake.models and body.get("model") not in fake.models:
        handler.send_reply(jina_error(400, f"Model {body.get('model')} not found"))
        return
    query, texts, top_n = checked
    with_documents = body.get("return_documents", True)
    results: list[dict[str, Any]] = []
    for index, score in _ranked(query, texts, top_n):
        result: dict[str, Any] = {"index": index, "relevance_score": score}
        if with_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    tokens = len(words(query)) * len(texts) + sum(len(words(t)) for t in texts)
    handler.send_json(
        200, {"model": body["model"], "usage": {"total_tokens": tokens}, "results": results}
    )


def _cohere(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeRerankServer)
    checked = _validate(fake, body)
    if isinstance(checked, str):
        handler.send_reply(cohere_error(400, checked))
        return
    if fake.models and body.get("model") not in fake.models:
        handler.send_reply(cohere_error(404, f"model '{body.get('model')}' not found"))
        return
    query, texts, top_n = checked
    results = [{"index": i, "relevance_score": s} for i, s in _ranked(query, texts, top_n)]
    handler.send_json(
        200,
        {
            "id": str(uuid.uuid4()),
            "results": results,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}},
        },
    )
