"""A multipart/form-data upload streamed from a file, with a progress callback.

httpx reads a whole file into its multipart encoder when given ``files=``; ragd's
uploads may be tens of megabytes, so the body is produced here a chunk at a time, its
length computed in advance (``Content-Length``, no chunked encoding), and
``on_progress(sent, total)`` called after each chunk of the file.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

CHUNK = 64 * 1024

Progress = Callable[[int, int], None]
"""``on_progress(bytes_sent, total_bytes)`` of the file's bytes."""

FileSource = str | os.PathLike[str] | bytes | BinaryIO


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")


@dataclass
class Upload:
    """One file and its form fields; ``open()`` may be called once per attempt."""

    source: FileSource
    filename: str
    fields: dict[str, str]
    content_type: str = "application/octet-stream"

    @classmethod
    def of(
        cls,
        source: FileSource,
        *,
        filename: str | None,
        title: str | None,
        metadata: dict[str, Any] | None,
        content_type: str | None,
    ) -> Upload:
        if filename is None:
            if isinstance(source, (str, os.PathLike)):
                filename = Path(source).name
            else:
                filename = getattr(source, "name", None) or "upload"
                filename = Path(str(filename)).name
        fields: dict[str, str] = {}
        if title is not None:
            fields["title"] = title
        if metadata:
            fields["metadata"] = json.dumps(metadata)
        return cls(source, filename, fields, content_type or "application/octet-stream")

    def size(self) -> int:
        s = self.source
        if isinstance(s, bytes):
            return len(s)
        if isinstance(s, (str, os.PathLike)):
            return os.path.getsize(s)
        pos = s.tell()
        end = s.seek(0, io.SEEK_END)
        s.seek(pos)
        return end - pos

    def _open(self) -> tuple[BinaryIO, bool]:
        s = self.source
        if isinstance(s, bytes):
            return io.BytesIO(s), True
        if isinstance(s, (str, os.PathLike)):
            return open(s, "rb"), True
        return s, False


class Body:
    """The encoded body of one attempt: headers, and the bytes as an (a)sync iterator."""

    def __init__(self, upload: Upload, on_progress: Progress | None) -> None:
        self.upload = upload
        self.on_progress = on_progress
        self.boundary = "ragd-" + secrets.token_hex(16)
        head = []
        for name, value in upload.fields.items():
            head.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            )
        head.append(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{_quote(upload.filename)}"\r\nContent-Type: {upload.content_type}\r\n\r\n'
        )
        self.head = "".join(head).encode()
        self.tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.file_size = upload.size()
        src = upload.source
        self.start = None if isinstance(src, (bytes, str, os.PathLike)) else src.tell()

    @property
    def headers(self) -> dict[str, str]:
        length = len(self.head) + self.file_size + len(self.tail)
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(length),
        }

    def __iter__(self) -> Iterator[bytes]:
        f, owned = self.upload._open()
        if self.start is not None:
            f.seek(self.start)  # a retry re-sends from where the caller's file was
        try:
            yield self.head
            sent = 0
            if self.on_progress:
                self.on_progress(0, self.file_size)
            while sent < self.file_size:
                chunk = f.read(min(CHUNK, self.file_size - sent))
                if not chunk:
                    break
                sent += len(chunk)
                yield chunk
                if self.on_progress:
                    self.on_progress(sent, self.file_size)
            yield self.tail
        finally:
            if owned:
                f.close()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self:  # file reads are local and small (64 KiB)
            yield part
