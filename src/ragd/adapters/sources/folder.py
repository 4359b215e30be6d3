"""A folder on the server, scanned in full each run. Between runs the worker watches it
(``folder_watch``) and makes the source due when it changes; the scan is what syncs.

Only folders below an allow-listed root (``RAGD_SOURCES_FOLDER_ROOTS``) may be a source: a
tenant must not be able to index ``/etc`` or another tenant's share. Symbolic links are not
followed out of the root (each file is resolved and checked), hidden files and folders are
skipped. The change key is the file's modification time and size.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ragd.domain.access import check_slug
from ragd.domain.source_permissions import COMMON_SETTINGS, check_common, parse_readers
from ragd.domain.sources import ReadItem, ScanReport, SourceAccess, SourceItem, SourceKind
from ragd.errors import BackendUnavailable, InvalidRequest, RagdError

DEFAULT_MAX_ITEMS = 100_000


class FolderReader:
    kind: SourceKind = "folder"

    def __init__(self, roots: list[str], *, max_bytes: int) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.max_bytes = max_bytes

    def check(self, config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - {"path", "max_items"} - COMMON_SETTINGS
        if unknown:
            raise InvalidRequest(f"unknown folder source setting(s): {', '.join(sorted(unknown))}")
        raw = config.get("path")
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidRequest("a folder source needs 'path'")
        if not self.roots:
            raise InvalidRequest(
                "folder sources are off: set RAGD_SOURCES_FOLDER_ROOTS to the directories "
                "they may read"
            )
        path = Path(raw).expanduser().resolve()
        if not any(path == r or path.is_relative_to(r) for r in self.roots):
            raise InvalidRequest(f"{raw} is outside the allowed roots (RAGD_SOURCES_FOLDER_ROOTS)")
        max_items = _positive(config.get("max_items", DEFAULT_MAX_ITEMS), "max_items")
        common = check_common(config, frozenset({"sidecar", "posix_group"}))
        sidecar = common.get("permissions", {}).get("sidecar")
        if sidecar is True or (isinstance(sidecar, str) and not sidecar.startswith(".")):
            raise InvalidRequest("'permissions.sidecar' is a file suffix such as '.readers'")
        return {"path": str(path), "max_items": max_items, **common}

    def scan(
        self,
        access: SourceAccess,
        known: Callable[[str], SourceItem | None],  # noqa: ARG002 - listing carries the change key
        report: ScanReport,
        *,
        deadline: float,
    ) -> Iterator[ReadItem]:
        config = self.check(access.config)  # the roots may have changed since it was saved
        root = Path(config["path"])
        perms = config.get("permissions", {})
        sidecar: str | None = perms.get("sidecar")
        if not root.is_dir():
            raise BackendUnavailable(f"{root} is not a readable folder")
        count = 0
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith(".") or (sidecar and name.endswith(sidecar)):
                    continue  # hidden, or a sidecar (read with its file)
                if time.monotonic() > deadline:
                    report.stop("time limit reached (RAGD_SOURCES_MAX_RUN_SECONDS)")
                    return
                if count >= config["max_items"]:
                    report.notes.append(f"item limit {config['max_items']} reached")
                    return
                path = Path(dirpath) / name
                item = self._item(root, path)
                if item is not None and perms and item.error is None:
                    item = _with_readers(item, path, sidecar)
                if item is not None:
                    count += 1
                    yield item

    def _item(self, root: Path, path: Path) -> ReadItem | None:
        key = path.relative_to(root).as_posix()
        try:
            real = path.resolve()
            if not real.is_relative_to(root):
                return None  # a link out of the folder: not part of the source
            st = real.stat()
        except OSError as exc:
            return ReadItem(key=key, uri=str(path), change_key=None, error=f"cannot read: {exc}")
        if not real.is_file():
            return None
        if st.st_size > self.max_bytes:
            return ReadItem(
                key=key,
                uri=str(path),
                change_key=None,
                error=f"file is {st.st_size} bytes, over the {self.max_bytes}-byte limit "
                "(RAGD_MAX_DOCUMENT_BYTES)",
            )
        return ReadItem(
            key=key,
            uri=str(path),
            change_key=f"{st.st_mtime_ns}:{st.st_size}",
            size=st.st_size,
            load=lambda: _read(real, self.max_bytes),
        )


def _with_readers(item: ReadItem, path: Path, sidecar: str | None) -> ReadItem:
    """The file's allow-list: its sidecar's principals, or its POSIX group as the ragd
    group of the same name (if the tenant has one: ``groups_if_known``)."""
    try:
        if sidecar is not None:
            side = path.with_name(path.name + sidecar)
            try:
                with side.open("rb") as f:
                    raw = f.read(MAX_SIDECAR_BYTES + 1)
            except FileNotFoundError:
                item.readers = ()
                return item
            if len(raw) > MAX_SIDECAR_BYTES:
                raise InvalidRequest(f"{side.name} is over {MAX_SIDECAR_BYTES} bytes")
            item.readers = parse_readers(raw.decode("utf-8", errors="strict"))
            return item
        import grp

        try:
            name = grp.getgrgid(path.stat().st_gid).gr_name.lower()
            item.readers = (f"g:{check_slug(name, 'group')}",)
            item.groups_if_known = True
        except (KeyError, InvalidRequest):  # no name for the gid, or not a ragd group id
            item.readers = ()
    except (OSError, UnicodeDecodeError, RagdError) as exc:
        item.error = f"cannot read its permissions: {exc}"
    return item


MAX_SIDECAR_BYTES = 16_384


def _read(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise _Gone(str(path)) from None
    except OSError as exc:
        raise BackendUnavailable(f"cannot read {path}: {exc}") from exc
    if len(data) > limit:
        raise InvalidRequest(f"file grew over the {limit}-byte limit while read")
    return data


class _Gone(BackendUnavailable):
    """Deleted between the listing and the read: the next run sees it gone."""


def _raise(exc: OSError) -> None:
    raise BackendUnavailable(f"cannot list {exc.filename}: {exc.strerror}")


def _positive(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidRequest(f"'{name}' must be a positive integer")
    return value
