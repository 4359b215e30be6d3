"""A fake embeddings server for three wire formats: a real HTTP server on 127.0.0.1.

* ``POST /v1/embeddings`` as OpenAI (``flavor="openai"``): ``input`` a string or a list,
  empty strings refused, ``dimensions`` only for the ``text-embedding-3-*`` models,
  ``encoding_format`` ``float`` or ``base64``, inputs over ``max_input_tokens`` refused
  (400, as OpenAI does), errors ``{"error": {"message", "type", "param", "code"}}``.
* The same path as Jina (``flavor="jina"``): plus ``task`` (v3 models; an unknown task is
  422), ``dimensions``, ``truncate`` (cut instead of refusing), ``embedding_type``;
  errors ``{"detail": "..."}``.
* ``POST /api/embed`` as Ollama (either flavor): ``{"model", "input", "truncate"}`` →
  ``{"model", "embeddings": [...]}``; errors ``{"error": "..."}``.

Vectors are deterministic and lexical, so "similar" texts are similar: signed feature
hashing of lower-cased word unigrams and bigrams (as ``ragd.adapters.embedder.hashing``),
plus a weak feature for the instruction the text came with (Jina's ``task``, or a
``search_query:``-style prefix, which is stripped from the text as a model would treat
it), so a text's query and document vectors differ a little, as they do for real
asymmetric models. :func:`fake_vector` is the model; tests can compare against it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from tests.fakes.http_base import FakeHandler, FakeServer, Reply, Route, words

NATIVE = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "jina-embeddings-v3": 1024,
    "jina-embeddings-v2-base-en": 768,
    "nomic-embed-text": 768,
    "all-minilm": 384,
    "fake-embed": 64,
}
"""Models served and their dimension without ``dimensions``."""
SHORTENABLE = {"text-embedding-3-small", "text-embedding-3-large", "jina-embeddings-v3"}
JINA_TASKS = {
    "retrieval.query",
    "retrieval.passage",
    "separation",
    "classification",
    "text-matching",
}
PREFIXES = (
    "search_query: ",
    "search_document: ",
    "Represent this sentence for searching relevant passages: ",
)
INSTRUCTION_WEIGHT = 0.25
_WORD = re.compile(r"\w+")


def fake_vector(text: str, dimension: int, *, instruction: str = "") -> list[float]:
    """The fake model: a unit vector of hashed word unigrams and bigrams."""
    for prefix in PREFIXES:
        if text.startswith(prefix):
            text, instruction = text[len(prefix) :], instruction or prefix.strip()
    vector = np.zeros(dimension, dtype=np.float64)
    tokens = [w.lower() for w in _WORD.findall(text)]
    features = [(f, 1.0) for f in [*tokens, *(f"{a} {b}" for a, b in pairwise(tokens))]]
    if instruction:
        features.append((f"instruction={instruction}", INSTRUCTION_WEIGHT))
    for feature, weight in features:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        vector[h % dimension] += weight if (h >> 63) & 1 else -weight
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        vector[0] = 1.0
        norm = 1.0
    return [float(x) for x in vector / norm]


def openai_error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return Reply.json(status, body, headers=headers)


def jina_error(status: int, detail: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply.json(status, {"detail": detail}, headers=headers)


def ollama_error(status: int, message: str, *, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply.json(status, {"error": message}, headers=headers)


class FakeEmbeddingsServer(FakeServer):
    """Args:
    flavor: ``openai`` or ``jina``: the semantics and errors of ``/v1/embeddings``.
    api_key: when set, ``/v1/embeddings`` needs ``Authorization: Bearer <api_key>``
        (the 401 echoes the key received, so masking is tested).
    max_input_tokens: longest input (in words) before a 400, or a cut where asked to.
    normalize: unit vectors (as the providers send); ``False`` scales them by 3.
    """

    def __init__(
        self,
        *,
        flavor: str = "openai",
        api_key: str | None = None,
        max_input_tokens: int = 512,
        normalize: bool = True,
    ) -> None:
        super().__init__(api_key=api_key)
        if flavor not in ("openai", "jina"):
            raise ValueError(flavor)
        self.flavor = flavor
        self.max_input_tokens = max_input_tokens
        self.normalize = normalize

    @property
    def base_url(self) -> str:
        """What OpenAI-style clients take as ``base_url`` (ends in ``/v1``)."""
        return f"{self.root_url}/v1"

    def embedding_requests(self) -> list[Any]:
        return self.requests_to("/v1/embeddings") + self.requests_to("/api/embed")

    def routes(self) -> Mapping[tuple[str, str], Route]:
        return {("POST", "/v1/embeddings"): _embeddings, ("POST", "/api/embed"): _ollama_embed}

    def auth_error(self, handler: FakeHandler) -> Reply | None:
        if self.api_key is None or handler.path.startswith("/api/"):
            return None
        got = handler.bearer()
        if got == self.api_key:
            return None
        if self.flavor == "jina":
            return jina_error(401, f"Unauthorized: invalid API key {got}")
        return openai_error(401, f"Incorrect API key provided: {got}.", code="invalid_api_key")

    def error_reply(self, status: int, message: str) -> Reply:
        return self.error(status, message)

    def error(self, status: int, message: str, **kwargs: Any) -> Reply:
        """An error in this server's flavor."""
        if self.flavor == "jina":
            return jina_error(status, message, **kwargs)
        return openai_error(status, message, **kwargs)

    def vectors(self, texts: list[str], dimension: int, instruction: str = "") -> list[Any]:
        scale = 1.0 if self.normalize else 3.0
        return [
            [x * scale for x in fake_vector(t, dimension, instruction=instruction)] for t in texts
        ]


def _inputs(value: object) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _embeddings(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeEmbeddingsServer)
    jina = fake.flavor == "jina"
    texts = _inputs(body.get("input")) if isinstance(body, dict) else None
    if texts is None or not texts:
        handler.send_reply(fake.error(400, "'input' must be a string or a non-empty array"))
        return
    model = body.get("model")
    if model not in NATIVE:
        message = f"The model `{model}` does not exist or you do not have access to it."
        handler.send_reply(
            jina_error(400, f"Model {model} not found")
            if jina
            else openai_error(404, message, code="model_not_found")
        )
        return
    dimension = body.get("dimensions", NATIVE[model])
    if "dimensions" in body and (model not in SHORTENABLE or not 1 <= dimension <= NATIVE[model]):
        handler.send_reply(fake.error(400, "This model does not support specifying dimensions."))
        return
    task = body.get("task", "")
    if jina and task and task not in JINA_TASKS:
        handler.send_reply(jina_error(422, f"task: Input should be one of {sorted(JINA_TASKS)}"))
        return
    if not jina and any(not t for t in texts):
        handler.send_reply(openai_error(400, "'$.input' is invalid: empty strings are not allowed"))
        return
    limit = fake.max_input_tokens
    longest = max(len(words(t)) for t in texts)
    if longest > limit:
        if jina and body.get("truncate"):
            texts = [" ".join(words(t)[:limit]) for t in texts]
        else:
            message = (
                f"This model's maximum context length is {limit} tokens, however you "
                f"requested {longest} tokens. Please reduce your prompt."
            )
            handler.send_reply(fake.error(400, message))
            return
    vectors = fake.vectors(texts, dimension, task)
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
            if as_base64
            else v,
        }
        for i, v in enumerate(vectors)
    ]
    tokens = sum(len(words(t)) for t in texts)
    handler.send_json(
        200,
        {
            "object": "list",
            "data": data,
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def _ollama_embed(handler: FakeHandler, body: Any) -> None:
    fake = handler.server_fake
    assert isinstance(fake, FakeEmbeddingsServer)
    if not isinstance(body, dict):
        handler.send_reply(ollama_error(400, "invalid request body"))
        return
    model = body.get("model")
    base = model.split(":", 1)[0] if isinstance(model, str) else None
    if base not in NATIVE:
        handler.send_reply(ollama_error(404, f'model "{model}" not found, try pulling it first'))
        return
    texts = _inputs(body.get("input"))
    if texts is None:
        handler.send_reply(ollama_error(400, "invalid input type"))
        return
    limit = fake.max_input_tokens
    if any(len(words(t)) > limit for t in texts):
        if body.get("truncate", True) is False:
            handler.send_reply(ollama_error(400, "input length exceeds maximum context length"))
            return
        texts = [" ".join(words(t)[:limit]) for t in texts]
    handler.send_json(
        200,
        {
            "model": model,
            "embeddings": fake.vectors(texts, NATIVE[base]),
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": sum(len(words(t)) for t in texts),
        },
    )
