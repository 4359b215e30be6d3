"""``RagdClient``: the blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from tenacity import Retrying

from ragd_client import _core
from ragd_client._multipart import Body, FileSource, Progress, Upload
from ragd_client._sse import answer_events
from ragd_client.errors import RagdConnectionError, RagdError
from ragd_client.models import (
    Answer,
    Conversation,
    ConversationDetail,
    ConversationPage,
    Document,
    DocumentPage,
    Feedback,
    Me,
    Mode,
    Rating,
    Reason,
    SearchResult,
    StreamEvent,
)


class RagdClient:
    """A blocking client of one ragd server.

    Credentials: ``api_key`` (sent as ``X-API-Key``) or ``token`` (a JWT or key, sent as
    ``Authorization: Bearer``). Every call retries 429 and 503 answers per ``retry``
    (``Retry-After`` honoured) and raises a typed ``APIError`` for any other error.
    Pass ``http_client`` to bring your own ``httpx.Client`` (proxies, TLS, a transport).
    """

    def __init__(
        self,
        base_url: str = _core.DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        retry: _core.RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.retry = retry or _core.RetryPolicy()
        self._own = http_client is None
        self._http = http_client or httpx.Client(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = _core.headers(api_key, token)

    def __enter__(self) -> RagdClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._own:
            self._http.close()

    # -- transport -------------------------------------------------------------------

    def _request(
        self, build: Callable[[], httpx.Request], *, stream: bool = False
    ) -> httpx.Response:
        def once() -> httpx.Response:
            try:
                response = self._http.send(build(), stream=stream)
            except httpx.ConnectError as exc:
                raise RagdConnectionError(f"cannot reach {self._base}: {exc}") from exc
            if not response.is_success:
                if stream:
                    response.read()
                    response.close()
                _core.check(response)
            return response

        return Retrying(**self.retry.arguments())(once)

    def _build(self, method: str, path: str, **kw: Any) -> Callable[[], httpx.Request]:
        headers = {**self._headers, **kw.pop("headers", {})}
        return lambda: self._http.build_request(method, self._base + path, headers=headers, **kw)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = self._request(self._build(method, path, **kw))
        return response.json() if response.content else None

    # -- documents -------------------------------------------------------------------

    def upload(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        content_type: str | None = None,
        on_progress: Progress | None = None,
    ) -> Document:
        """Upload a file (a path, bytes or a binary file object), streamed from disk;
        ``on_progress(sent, total)`` follows its bytes. The same content again is a
        no-op (``outcome == "unchanged"``)."""
        upload = Upload.of(
            file, filename=filename, title=title, metadata=metadata, content_type=content_type
        )

        def build() -> httpx.Request:
            body = Body(upload, on_progress)
            return self._http.build_request(
                "POST",
                self._base + "/api/v1/documents",
                headers={**self._headers, **body.headers},
                content=iter(body),
            )

        return Document.from_json(self._request(build).json())

    def add_text(
        self,
        text: str,
        *,
        title: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Document:
        """Add a document from text."""
        body: dict[str, Any] = {"text": text}
        for key, value in (("title", title), ("source", source), ("metadata", metadata)):
            if value is not None:
                body[key] = value
        return Document.from_json(self._json("POST", "/api/v1/documents", json=body))

    def list_documents(
        self, *, status: str | None = None, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentPage:
        """One page of documents, newest first."""
        params = _core.list_params(status, q, limit, offset)
        return DocumentPage.from_json(self._json("GET", "/api/v1/documents", params=params))

    def iter_documents(
        self, *, status: str | None = None, q: str | None = None, page_size: int = 100
    ) -> Iterator[Document]:
        """Every document, a page at a time (newest first; a document added meanwhile
        can shift a later page by one)."""
        offset = 0
        while True:
            page = self.list_documents(status=status, q=q, limit=page_size, offset=offset)
            yield from page.documents
            offset += len(page.documents)
            if not page.documents or offset >= page.total:
                return

    def get_document(self, document_id: str) -> Document:
        return Document.from_json(self._json("GET", f"/api/v1/documents/{document_id}"))

    def delete_document(self, document_id: str) -> None:
        self._json("DELETE", f"/api/v1/documents/{document_id}")

    def wait_indexed(
        self, document_id: str, *, timeout: float = 300, poll: float = 0.5
    ) -> Document:
        """Poll until the document is ``indexed`` or ``failed`` (returned either way)."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.get_document(document_id)
            if doc.status in _core.TERMINAL:
                return doc
            if time.monotonic() > deadline:
                raise RagdError(f"document {document_id} still {doc.status} after {timeout}s")
            time.sleep(poll)

    # -- retrieval -------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
    ) -> SearchResult:
        body = _core.query_body(query, top_k=top_k, mode=mode, filters=filters)
        return SearchResult.from_json(self._json("POST", "/api/v1/search", json=body))

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        """A grounded answer with checked citations."""
        body = _core.query_body(
            question,
            top_k=top_k,
            mode=mode,
            filters=filters,
            history=history,
            conversation_id=conversation_id,
        )
        return Answer.from_json(self._json("POST", "/api/v1/query", json=body))

    def ask_stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        conversation_id: str | None = None,
    ) -> Iterator[StreamEvent]:
        """The answer as it is written: ``Token``…, ``Citations``, then ``Done`` with the
        whole answer. Errors before the stream starts are raised as usual (and retried);
        an error inside it is a ``StreamError``."""
        body = _core.query_body(
            question,
            top_k=top_k,
            mode=mode,
            filters=filters,
            history=history,
            stream=True,
            conversation_id=conversation_id,
        )
        build = self._build(
            "POST", "/api/v1/query", json=body, headers={"Accept": "text/event-stream"}
        )
        response = self._request(build, stream=True)
        try:
            yield from answer_events(response.iter_lines())
        finally:
            response.close()

    def me(self) -> Me:
        """Who the credentials are."""
        return Me.from_json(self._json("GET", "/api/v1/me"))

    # -- conversations and feedback ----------------------------------------------------

    def create_conversation(self, title: str = "") -> Conversation:
        """A stored conversation to ask in (``ask(..., conversation_id=c.id)``): each
        answer is appended as a turn, and the earlier turns steer the search for a
        follow-up. The title defaults to the first question."""
        body = {"title": title}
        return Conversation.from_json(self._json("POST", "/api/v1/conversations", json=body))

    def list_conversations(
        self, *, shared: bool = False, limit: int = 50, offset: int = 0
    ) -> ConversationPage:
        """One page of your conversations, latest first; ``shared=True`` adds the
        tenant's shared ones (``owned`` False)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if shared:
            params["shared"] = "true"
        data = self._json("GET", "/api/v1/conversations", params=params)
        return ConversationPage.from_json(data)

    def iter_conversations(
        self, *, shared: bool = False, page_size: int = 50
    ) -> Iterator[Conversation]:
        """Every conversation, a page at a time (latest first)."""
        offset = 0
        while True:
            page = self.list_conversations(shared=shared, limit=page_size, offset=offset)
            yield from page.conversations
            offset += len(page.conversations)
            if len(page.conversations) < page_size:
                return

    def get_conversation(self, conversation_id: str) -> ConversationDetail:
        """A conversation with its turns (question, search query, answer with citations)."""
        data = self._json("GET", _core.conversation_path(conversation_id))
        return ConversationDetail.from_json(data)

    def rename_conversation(self, conversation_id: str, title: str) -> Conversation:
        path = _core.conversation_path(conversation_id)
        return Conversation.from_json(self._json("PATCH", path, json={"title": title}))

    def share_conversation(self, conversation_id: str, shared: bool = True) -> Conversation:
        """Make it readable (not writable) by every user of the tenant, or private again."""
        path = _core.conversation_path(conversation_id)
        return Conversation.from_json(self._json("PATCH", path, json={"shared": shared}))

    def delete_conversation(self, conversation_id: str) -> None:
        self._json("DELETE", _core.conversation_path(conversation_id))

    def feedback(
        self,
        answer_id: str,
        rating: Rating,
        reason: Reason | None = None,
        comment: str | None = None,
    ) -> Feedback:
        """Thumbs ``up`` or ``down`` on an answer (its ``answer_id``); a ``reason``
        (wrong, incomplete, bad_citation) goes with ``down`` only. Giving it again
        replaces yours."""
        body = _core.feedback_body(rating, reason, comment)
        path = _core.answer_feedback_path(answer_id)
        return Feedback.from_json(self._json("POST", path, json=body))
