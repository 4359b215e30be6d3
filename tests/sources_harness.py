"""One harness per kind of source, each over a real server the test starts: moto's S3 in
server mode, a ``http.server`` web site, a folder under ``tmp_path``.

A harness holds named text items and can ``put`` (add or change), ``delete`` and ``rename``
them on its server; ``config()`` is the source's settings; ``uri(name)`` the document
source the sync gives an item. The reader contract suite and the sync tests both drive
these, so every reader is checked against the same script of changes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from tests.fakes.web_site import Site, html, web_site
from tests.objectstore import S3Server, s3_server

KINDS = ["s3", "web", "folder"]


class Harness(Protocol):
    kind: str

    def put(self, name: str, text: str) -> None: ...
    def delete(self, name: str) -> None: ...
    def rename(self, old: str, new: str) -> None: ...
    def config(self) -> dict[str, Any]: ...
    def secret(self) -> dict[str, str]: ...
    def uri(self, name: str) -> str: ...
    def key(self, name: str) -> str: ...
    def names(self) -> set[str]: ...


class S3Harness:
    kind = "s3"

    def __init__(self, server: S3Server) -> None:
        self.server = server
        self.client = server.client()
        self.prefix = "docs/"
        self.client.put_object(Bucket=server.bucket, Key="other/outside.txt", Body=b"not ours")

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}.txt"

    def put(self, name: str, text: str) -> None:
        self.client.put_object(Bucket=self.server.bucket, Key=self.key(name), Body=text.encode())

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.server.bucket, Key=self.key(name))

    def rename(self, old: str, new: str) -> None:
        self.client.copy_object(
            Bucket=self.server.bucket,
            Key=self.key(new),
            CopySource={"Bucket": self.server.bucket, "Key": self.key(old)},
        )
        self.delete(old)

    def config(self) -> dict[str, Any]:
        return {
            "bucket": self.server.bucket,
            "prefix": self.prefix,
            "endpoint_url": self.server.endpoint,
            "addressing_style": "path",
        }

    def secret(self) -> dict[str, str]:
        return {"access_key_id": "testing", "secret_access_key": "testing"}

    def uri(self, name: str) -> str:
        return f"s3://{self.server.bucket}/{self.key(name)}"

    def names(self) -> set[str]:
        reply = self.client.list_objects_v2(Bucket=self.server.bucket, Prefix=self.prefix)
        return {o["Key"][len(self.prefix) : -4] for o in reply.get("Contents", [])}


class WebHarness:
    kind = "web"

    def __init__(self, site: Site) -> None:
        self.site = site
        self.items: dict[str, str] = {}
        self.site.calendar = False
        self._index()

    def _index(self) -> None:
        links = [f"/docs/{n}" for n in sorted(self.items)]
        self.site.set_page("/", html("Index", "All documents.", links))
        for name, text in self.items.items():
            if self.site.pages.get(f"/docs/{name}") != html(name, text):
                self.site.set_page(f"/docs/{name}", html(name, text))

    def key(self, name: str) -> str:
        return f"{self.site.base}/docs/{name}"

    def put(self, name: str, text: str) -> None:
        self.items[name] = text
        self._index()

    def delete(self, name: str) -> None:
        del self.items[name]
        self.site.pages.pop(f"/docs/{name}", None)
        self._index()

    def rename(self, old: str, new: str) -> None:
        self.items[new] = self.items.pop(old)
        self.site.pages.pop(f"/docs/{old}", None)
        self._index()

    def config(self) -> dict[str, Any]:
        return {"start_urls": [f"{self.site.base}/"], "max_pages": 50, "max_depth": 3}

    def secret(self) -> dict[str, str]:
        return {}

    def uri(self, name: str) -> str:
        return self.key(name)

    def names(self) -> set[str]:
        return set(self.items)


class FolderHarness:
    kind = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sub").mkdir(parents=True, exist_ok=True)
        (root / ".hidden.txt").write_text("hidden files are not part of the source")

    def path(self, name: str) -> Path:
        return self.root / "sub" / f"{name}.txt"

    def key(self, name: str) -> str:
        return f"sub/{name}.txt"

    def put(self, name: str, text: str) -> None:
        path = self.path(name)
        before = path.stat().st_mtime_ns if path.exists() else 0
        path.write_text(text)
        if path.stat().st_mtime_ns == before:  # a coarse clock: make the change visible
            time.sleep(0.01)
            path.write_text(text)

    def delete(self, name: str) -> None:
        self.path(name).unlink()

    def rename(self, old: str, new: str) -> None:
        self.path(old).rename(self.path(new))

    def config(self) -> dict[str, Any]:
        return {"path": str(self.root)}

    def secret(self) -> dict[str, str]:
        return {}

    def uri(self, name: str) -> str:
        return str(self.path(name))

    def names(self) -> set[str]:
        return {p.stem for p in (self.root / "sub").glob("*.txt")}


@contextmanager
def harness(kind: str, tmp_path: Path) -> Iterator[Harness]:
    with ExitStack() as stack:
        if kind == "s3":
            yield S3Harness(stack.enter_context(s3_server()))
        elif kind == "web":
            yield WebHarness(stack.enter_context(web_site()))
        else:
            yield FolderHarness(tmp_path / "share")
