"""Backups: an object store to keep archives in, and a dump of the Store's database.

Two ports because they vary apart: the database decides how a consistent copy is made
(SQLite's online backup API, ``pg_dump``), the installation decides where copies go (any
S3-compatible storage). ``ragd.services.backup`` packs, checks and rotates between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredObject:
    """One object of the store: its key and size in bytes."""

    key: str
    size: int


@runtime_checkable
class ObjectStore(Protocol):
    """A bucket of objects by key. Raises ``BackendUnavailable`` when the store cannot be
    reached, ``ConfigError`` for a missing bucket or refused credentials."""

    @property
    def location(self) -> str:
        """Where objects go, for messages (``s3://bucket/prefix``); never a credential."""
        ...

    def put(self, key: str, source: Path) -> int:
        """Upload ``source`` under ``key`` and return the size the store reports."""
        ...

    def get(self, key: str, dest: Path) -> None:
        """Download ``key`` into the file ``dest`` (``NotFound`` if it does not exist)."""
        ...

    def list(self, prefix: str) -> list[StoredObject]:
        """Every object whose key starts with ``prefix``."""
        ...

    def delete(self, keys: Sequence[str]) -> None:
        """Remove these objects (absent ones are no error)."""
        ...


@runtime_checkable
class StoreDump(Protocol):
    """A consistent copy of the Store's database, taken while ragd runs, and put back."""

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgres``: a backup restores only into the same kind."""
        ...

    def dump(self, dest: Path) -> None:
        """Write the copy as files into the empty directory ``dest``."""
        ...

    def restore(self, source: Path, *, force: bool) -> None:
        """Replace the database with the copy in ``source``. Refuses (``InvalidRequest``)
        to overwrite a database that holds data unless ``force``."""
        ...
