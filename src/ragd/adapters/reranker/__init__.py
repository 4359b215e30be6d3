"""Reranker adapters, each implementing ``ragd.ports.reranker.Reranker``.

``remote`` speaks the rerank APIs that Jina (``POST /v1/rerank``) and Cohere
(``POST /v2/rerank``) define and that vLLM, Infinity and LiteLLM copy;
the provider registry (``ragd.adapters.providers``) builds one from ``RERANKER_MODEL``
with ``remote.build``.
No local cross-encoder ships here: no PyPI package carries cross-encoder weights in its
wheel (FlashRank and its forks download theirs from a model hub at run time).
"""
