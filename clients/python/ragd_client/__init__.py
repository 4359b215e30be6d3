"""ragd-client: a typed Python client for ragd's HTTP API, sync (``RagdClient``) and
async (``AsyncRagdClient``), on httpx.

    from ragd_client import RagdClient

    with RagdClient("http://127.0.0.1:8000", api_key="rgd_...") as ragd:
        doc = ragd.upload("handbook.pdf", on_progress=lambda sent, total: ...)
        ragd.wait_indexed(doc.id)
        answer = ragd.ask("How many days of leave?")
        for event in ragd.ask_stream("How many days of leave?"): ...
        chat = ragd.create_conversation()
        ragd.ask("Who approves leave?", conversation_id=chat.id)
        ragd.ask("How long do they take?", conversation_id=chat.id)  # a follow-up
"""

from __future__ import annotations

__version__ = "0.1.0"

from ragd_client._async import AsyncRagdClient
from ragd_client._core import RetryPolicy
from ragd_client._sync import RagdClient
from ragd_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RagdConnectionError,
    RagdError,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from ragd_client.models import (
    Answer,
    Citation,
    Citations,
    Conversation,
    ConversationDetail,
    ConversationPage,
    ConversationTurn,
    Document,
    DocumentPage,
    Done,
    Feedback,
    Hit,
    Me,
    SearchResult,
    StreamEvent,
    Token,
    Usage,
)

__all__ = [
    "APIError",
    "Answer",
    "AsyncRagdClient",
    "AuthenticationError",
    "BadRequestError",
    "Citation",
    "Citations",
    "ConflictError",
    "Conversation",
    "ConversationDetail",
    "ConversationPage",
    "ConversationTurn",
    "Document",
    "DocumentPage",
    "Done",
    "Feedback",
    "Hit",
    "Me",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RagdClient",
    "RagdConnectionError",
    "RagdError",
    "RateLimitError",
    "RetryPolicy",
    "SearchResult",
    "ServerError",
    "ServiceUnavailableError",
    "StreamError",
    "StreamEvent",
    "Token",
    "UnsupportedMediaTypeError",
    "Usage",
    "ValidationError",
    "__version__",
]
