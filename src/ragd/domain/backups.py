"""Backups as named objects: their names, which ones retention keeps, which one a date picks.

A backup is one archive whose name carries the UTC second it was taken
(``ragd-backup-20261201T020000Z.tar.gz``), so listing the bucket is enough to know what
exists and when: no catalogue to keep in step with the objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ragd.errors import NotFound

_PREFIX = "ragd-backup-"
_SUFFIX = ".tar.gz"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAME = re.compile(r"ragd-backup-(\d{8}T\d{6}Z)\.tar\.gz$")


@dataclass(frozen=True, order=True)
class BackupEntry:
    """One stored backup: when it was taken, its object key and size."""

    created_at: datetime
    key: str
    size: int = 0

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def backup_name(created_at: datetime) -> str:
    """The archive's file name for a backup taken at ``created_at`` (made UTC)."""
    return f"{_PREFIX}{created_at.astimezone(UTC).strftime(_STAMP)}{_SUFFIX}"


def parse_backup_key(key: str, size: int = 0) -> BackupEntry | None:
    """The entry a key names, or ``None`` for any other object under the prefix."""
    found = _NAME.search(key)
    if found is None:
        return None
    created = datetime.strptime(found.group(1), _STAMP).replace(tzinfo=UTC)
    return BackupEntry(created_at=created, key=key, size=size)


def retained(entries: Iterable[BackupEntry], *, daily: int, weekly: int) -> set[BackupEntry]:
    """What a daily+weekly rotation keeps: the newest backup of each of the ``daily``
    most recent UTC days that have one, the newest of each of the ``weekly`` most recent
    ISO weeks that have one, and always the newest backup of all (so a retention of
    zero never empties the bucket). Days and weeks without a backup do not count, so a
    paused schedule does not expire the last good backups."""
    ordered = sorted(entries, reverse=True)
    keep: set[BackupEntry] = set(ordered[:1])
    days: list[date] = []
    weeks: list[tuple[int, int]] = []
    for entry in ordered:
        day = entry.created_at.date()
        if day not in days and len(days) < daily:
            days.append(day)
            keep.add(entry)
        iso = entry.created_at.isocalendar()
        week = (iso.year, iso.week)
        if week not in weeks and len(weeks) < weekly:
            weeks.append(week)
            keep.add(entry)
    return keep


def pick(
    entries: Iterable[BackupEntry], *, on: date | None = None, name: str | None = None
) -> BackupEntry:
    """The backup to restore: the one named, else the newest taken on the UTC date
    ``on``, else the newest of all. ``NotFound`` says which dates do have one."""
    ordered = sorted(entries, reverse=True)
    if name is not None:
        for entry in ordered:
            if name in (entry.name, entry.key, entry.name.removesuffix(_SUFFIX)):
                return entry
        raise NotFound(f"no backup named {name}")
    chosen = [e for e in ordered if on is None or e.created_at.date() == on]
    if chosen:
        return chosen[0]
    if not ordered:
        raise NotFound("no backup exists yet")
    dates = sorted({e.created_at.date().isoformat() for e in ordered}, reverse=True)
    raise NotFound(
        f"no backup was taken on {on}; backups exist for {', '.join(dates[:10])}"
        + (" ..." if len(dates) > 10 else "")
    )
