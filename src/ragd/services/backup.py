"""BackupService: ``ragd backup`` and ``ragd restore`` between the Store and object storage.

A backup is one ``tar.gz`` object: the database's dump (``StoreDump``) and a
``manifest.json`` with the sha256 of every file, so a restore refuses a damaged or
truncated archive before it touches the database. One object per backup makes an upload
all or nothing (a half-written backup is never listed) and lets the bucket's listing be
the catalogue. After each upload the rotation deletes what ``retained`` lets go.

The index: SQLite and pgvector live in the Store's database, so they are in the dump.
An external index (Qdrant) is not copied: its vectors are derived from the Store, and
``ragd restore`` rebuilds it with ``ragd reindex`` (the manifest says which it was).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ragd.domain.backups import BackupEntry, backup_name, parse_backup_key, pick, retained
from ragd.errors import InvalidRequest
from ragd.ports.backup import ObjectStore, StoreDump

MANIFEST = "manifest.json"
FORMAT = 1


@dataclass(frozen=True)
class BackupPolicy:
    """Where under the bucket backups go and how many are kept."""

    prefix: str = "ragd/"
    keep_daily: int = 7
    keep_weekly: int = 4


@dataclass(frozen=True)
class BackupReport:
    """What one backup made and what its rotation removed."""

    entry: BackupEntry
    location: str
    kind: str
    seconds: float
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "key": self.entry.key,
            "location": self.location,
            "created_at": self.entry.created_at.isoformat(),
            "bytes": self.entry.size,
            "kind": self.kind,
            "seconds": round(self.seconds, 3),
            "deleted": self.deleted,
        }


@dataclass(frozen=True)
class RestoreReport:
    """Which backup was put back, and what it says about the index."""

    entry: BackupEntry
    kind: str
    manifest: dict[str, Any]
    seconds: float

    @property
    def index_in_backup(self) -> bool:
        return bool(self.manifest.get("index_in_store", True))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "created_at": self.entry.created_at.isoformat(),
            "kind": self.kind,
            "index_backend": self.manifest.get("index_backend"),
            "index_in_backup": self.index_in_backup,
            "seconds": round(self.seconds, 3),
        }


class BackupService:
    """Back up, list, rotate and restore; the database and the bucket come as ports."""

    def __init__(
        self,
        dump: StoreDump,
        objects: ObjectStore,
        policy: BackupPolicy,
        *,
        index_backend: str,
        meta: dict[str, Any] | None = None,
        work_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.dump = dump
        self.objects = objects
        self.policy = policy
        self.index_backend = index_backend
        self.meta = meta or {}
        self.work_dir = work_dir
        self.clock = clock

    def entries(self) -> list[BackupEntry]:
        """Every backup under the prefix, newest first."""
        found = (parse_backup_key(o.key, o.size) for o in self.objects.list(self.policy.prefix))
        return sorted((e for e in found if e is not None), reverse=True)

    def backup(self, *, prune: bool = True) -> BackupReport:
        """Dump, pack with a manifest, upload, then rotate (unless ``prune`` is off)."""
        started = time.monotonic()
        created = self.clock().replace(microsecond=0)
        name = backup_name(created)
        with self._scratch() as scratch:
            content = scratch / "content"
            content.mkdir()
            self.dump.dump(content)
            manifest = {
                "format": FORMAT,
                "kind": self.dump.kind,
                "created_at": created.isoformat(),
                "index_backend": self.index_backend,
                "index_in_store": self.index_backend in ("sqlite", "pgvector"),
                **self.meta,
                "files": {p.name: _describe(p) for p in sorted(content.iterdir())},
            }
            (content / MANIFEST).write_text(json.dumps(manifest, indent=2))
            archive = scratch / name
            with tarfile.open(archive, "w:gz", compresslevel=1) as tar:  # vectors barely compress
                for path in sorted(content.iterdir()):
                    tar.add(path, arcname=path.name)
            key = self.policy.prefix + name
            size = self.objects.put(key, archive)
        entry = BackupEntry(created_at=created, key=key, size=size)
        deleted = self.prune() if prune else []
        return BackupReport(
            entry=entry,
            location=self.objects.location,
            kind=self.dump.kind,
            seconds=time.monotonic() - started,
            deleted=deleted,
        )

    def prune(self) -> list[str]:
        """Delete the backups the rotation no longer keeps; return their keys."""
        entries = self.entries()
        keep = retained(entries, daily=self.policy.keep_daily, weekly=self.policy.keep_weekly)
        doomed = [e.key for e in entries if e not in keep]
        if doomed:
            self.objects.delete(doomed)
        return doomed

    def restore(
        self, *, on: date | None = None, name: str | None = None, force: bool = False
    ) -> RestoreReport:
        """Put back the backup ``pick`` chooses, after checking every file against its
        manifest. The database must be of the backup's kind."""
        started = time.monotonic()
        entry = pick(self.entries(), on=on, name=name)
        with self._scratch() as scratch:
            archive = scratch / entry.name
            self.objects.get(entry.key, archive)
            content = scratch / "content"
            content.mkdir()
            manifest = _unpack(archive, content)
            if manifest.get("kind") != self.dump.kind:
                raise InvalidRequest(
                    f"{entry.name} is a {manifest.get('kind')} backup; this ragd's Store is "
                    f"{self.dump.kind} (set DATABASE_URL to a database of the backup's kind)"
                )
            self.dump.restore(content, force=force)
        return RestoreReport(
            entry=entry,
            kind=self.dump.kind,
            manifest=manifest,
            seconds=time.monotonic() - started,
        )

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        if self.work_dir is not None:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix="ragd-backup-", dir=self.work_dir))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _describe(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(archive: Path, dest: Path) -> dict[str, Any]:
    """Extract the archive's plain files (nothing outside ``dest``: the ``data`` filter),
    then check each against the manifest."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
        manifest: dict[str, Any] = json.loads((dest / MANIFEST).read_text())
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise InvalidRequest(f"{archive.name} is not a readable ragd backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise InvalidRequest(f"{archive.name}: unknown backup format {manifest.get('format')}")
    for name, meta in manifest.get("files", {}).items():
        path = dest / name
        if not path.is_file() or _sha256(path) != meta.get("sha256"):
            raise InvalidRequest(
                f"{archive.name}: {name} does not match its checksum: the backup is damaged"
            )
    return manifest
