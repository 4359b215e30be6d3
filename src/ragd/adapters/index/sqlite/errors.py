"""SQLite failures as ragd errors: what the caller may retry, what is misconfiguration.

Kept apart so every part of the SQLite index translates the same way; a query bug (SQL
syntax, a bad vec0/FTS5 argument) is not translated and stays loud.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

from ragd.errors import BackendUnavailable, ConfigError

# OperationalError messages that mean "the database cannot serve us right now" (another
# writer holds the lock, the file vanished, the disk failed) as opposed to a bug in a query.
_TRANSIENT = (
    "locked",
    "busy",
    "unable to open",
    "disk i/o",
    "interrupted",
    "database or disk is full",
    "readonly database",
    "attempt to write a readonly",
)


@contextmanager
def translate_errors() -> Iterator[None]:
    """Backend failures become ragd errors; query bugs stay loud.

    A locked, missing or failing database file is ``BackendUnavailable`` (retryable);
    missing index tables mean nobody ran ``ensure_ready``/``ragd reindex``. Any other
    OperationalError (SQL syntax, a bad vec0/FTS5 argument) is a bug and propagates.
    """
    try:
        yield
    except OperationalError as exc:
        message = str(exc.orig).lower()
        if any(marker in message for marker in _TRANSIENT):
            raise BackendUnavailable(f"index database unavailable: {exc.orig}") from exc
        if "no such table" in message:
            raise ConfigError(
                f"index tables are missing ({exc.orig}); start ragd normally or run "
                "`ragd reindex` to create them"
            ) from exc
        raise
