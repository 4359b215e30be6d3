"""``AsyncRagdClient``: the asyncio client, the same methods as ``RagdClient`` awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying

from ragd_client import _core
from ragd_client._multipart import Body, FileSource, Progress, Upload
from ragd_client._sse import aanswer_events
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


class AsyncRagdClient:
    """An asyncio client of one ragd server (see ``RagdClient`` for the arguments)."""

    def __init__(
        self,
        base_url: str = _core.DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        retry: _core.RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.retry = retry or _core.RetryPolicy()
        self._own = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._base = base_url.rstrip("/")
        self._headers = _core.headers(api_key, token)

    async def __aenter__(self) -> AsyncRagdClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own:
            await self._http.aclose()

    async def _request(
        self, build: Callable[[], httpx.Request], *, stream: bool = False
    ) -> httpx.Response:
        async def once() -> httpx.Response:
            try:
                response = await self._http.send(build(), stream=stream)
            except httpx.ConnectError as exc:
                raise RagdConnectionError(f"cannot reach {self._base}: {exc}") from exc
            if not response.is_success:
                if stream:
                    await response.aread()
                    await response.aclose()
                _core.check(response)
            return response

        response: httpx.Response = await AsyncRetrying(**self.retry.arguments())(once)
        return response

    def _build(self, method: str, path: str, **kw: Any) -> Callable[[], httpx.Request]:
        headers = {**self._headers, **kw.pop("headers", {})}
        return lambda: self._http.build_request(method, self._base + path, headers=headers, **kw)

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = await self._request(self._build(method, path, **kw))
        return response.json() if response.content else None

    async def upload(
        self,
        file: FileSource,
        *,
        filename: str | None = None,
        title: str | None = None,
        metadata: dict[str, Any] | None = None,
        content_type: str | None = None,
        on_progress: Progress | None = None,
    ) -> Document:
        upload = Upload.of(
            file, filename=filename, title=title, metadata=metadata, content_type=content_type
        )

        def build() -> httpx.Request:
            body = Body(upload, on_progress)
            return self._http.build_request(
                "POST",
                self._base + "/api/v1/documents",
                headers={**self._headers, **body.headers},
                content=body.__aiter__(),
            )

        return Document.from_json((await self._request(build)).json())

    async def add_text(
        self,
        text: str,
        *,
        title: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Document:
        body: dict[str, Any] = {"text": text}
        for key, value in (("title", title), ("source", source), ("metadata", metadata)):
            if value is not None:
                body[key] = value
        return Document.from_json(await self._json("POST", "/api/v1/documents", json=body))

    async def list_documents(
        self, *, status: str | None = None, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> DocumentPage:
        params = _core.list_params(status, q, limit, offset)
        return DocumentPage.from_json(await self._json("GET", "/api/v1/documents", params=params))

    async def iter_documents(
        self, *, status: str | None = None, q: str | None = None, page_size: int = 100
    ) -> AsyncIterator[Document]:
        offset = 0
        while True:
            page = await self.list_documents(status=status, q=q, limit=page_size, offset=offset)
            for doc in page.documents:
                yield doc
            offset += len(page.documents)
            if not page.documents or offset >= page.total:
                return

    async def get_document(self, document_id: str) -> Document:
        return Document.from_json(await self._json("GET", f"/api/v1/documents/{document_id}"))

    async def delete_document(self, document_id: str) -> None:
        await self._json("DELETE", f"/api/v1/documents/{document_id}")

    async def wait_indexed(
        self, document_id: str, *, timeout: float = 300, poll: float = 0.5
    ) -> Document:
        deadline = time.monotonic() + timeout
        while True:
            doc = await self.get_document(document_id)
            if doc.status in _core.TERMINAL:
                return doc
            if time.monotonic() > deadline:
                raise RagdError(f"document {document_id} still {doc.status} after {timeout}s")
            await asyncio.sleep(poll)

    async def search(
        self,
        query: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
    ) -> SearchResult:
        body = _core.query_body(query, top_k=top_k, mode=mode, filters=filters)
        return SearchResult.from_json(await self._json("POST", "/api/v1/search", json=body))

    async def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        conversation_id: str | None = None,
    ) -> Answer:
        body = _core.query_body(
            question,
            top_k=top_k,
            mode=mode,
            filters=filters,
            history=history,
            conversation_id=conversation_id,
        )
        return Answer.from_json(await self._json("POST", "/api/v1/query", json=body))

    async def ask_stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        filters: dict[str, Any] | None = None,
        history: list[dict[str, str]] | None = None,
        conversation_id: str | None = None,
    ) -> AsyncIterator[StreamEvent]:
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
        response = await self._request(build, stream=True)
        try:
            async for event in aanswer_events(response.aiter_lines()):
                yield event
        finally:
            await response.aclose()

    async def me(self) -> Me:
        return Me.from_json(await self._json("GET", "/api/v1/me"))

    # -- conversations and feedback ----------------------------------------------------

    async def create_conversation(self, title: str = "") -> Conversation:
        body = {"title": title}
        return Conversation.from_json(await self._json("POST", "/api/v1/conversations", json=body))

    async def list_conversations(
        self, *, shared: bool = False, limit: int = 50, offset: int = 0
    ) -> ConversationPage:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if shared:
            params["shared"] = "true"
        data = await self._json("GET", "/api/v1/conversations", params=params)
        return ConversationPage.from_json(data)

    async def iter_conversations(
        self, *, shared: bool = False, page_size: int = 50
    ) -> AsyncIterator[Conversation]:
        offset = 0
        while True:
            page = await self.list_conversations(shared=shared, limit=page_size, offset=offset)
            for conv in page.conversations:
                yield conv
            offset += len(page.conversations)
            if len(page.conversations) < page_size:
                return

    async def get_conversation(self, conversation_id: str) -> ConversationDetail:
        data = await self._json("GET", _core.conversation_path(conversation_id))
        return ConversationDetail.from_json(data)

    async def rename_conversation(self, conversation_id: str, title: str) -> Conversation:
        path = _core.conversation_path(conversation_id)
        return Conversation.from_json(await self._json("PATCH", path, json={"title": title}))

    async def share_conversation(self, conversation_id: str, shared: bool = True) -> Conversation:
        path = _core.conversation_path(conversation_id)
        return Conversation.from_json(await self._json("PATCH", path, json={"shared": shared}))

    async def delete_conversation(self, conversation_id: str) -> None:
        await self._json("DELETE", _core.conversation_path(conversation_id))

    async def feedback(
        self,
        answer_id: str,
        rating: Rating,
        reason: Reason | None = None,
        comment: str | None = None,
    ) -> Feedback:
        body = _core.feedback_body(rating, reason, comment)
        path = _core.answer_feedback_path(answer_id)
        return Feedback.from_json(await self._json("POST", path, json=body))
