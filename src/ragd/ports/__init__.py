"""Ports: the replaceable parts of ragd as ``typing.Protocol``s.

Services depend on these only; adapters implement them; ``ragd.services.container`` is the
one place that picks adapters from Settings. Every method takes the tenant explicitly:
there is no ambient tenant anywhere. The ports of the rarer parts (accounts, audit,
limiter, reranker, index sync) are imported from their own modules.
"""

from ragd.ports.cache import Cache
from ragd.ports.embedder import Embedder, Tokenizer
from ragd.ports.index import Index, IndexQuery
from ragd.ports.llm import LLM, ChatMessage, Completion, GenerationRequest, Usage
from ragd.ports.parser import Parser, Parsing
from ragd.ports.queue import Queue
from ragd.ports.store import Store, Transaction

__all__ = [
    "LLM",
    "Cache",
    "ChatMessage",
    "Completion",
    "Embedder",
    "GenerationRequest",
    "Index",
    "IndexQuery",
    "Parser",
    "Parsing",
    "Queue",
    "Store",
    "Tokenizer",
    "Transaction",
    "Usage",
]
