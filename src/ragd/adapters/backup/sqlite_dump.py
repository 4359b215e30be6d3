"""SqliteDump: the embedded Store copied online with SQLite's backup API.

The backup API copies page by page and starts over by itself when a writer changes the
source, so the copy is consistent while ragd serves and indexes; ``integrity_check`` then
proves it. The rest of the data dir (Qdrant's local mode, anything else ragd keeps there)
goes beside it as ``files.tar.gz``. The index tables (sqlite-vec, FTS5) are pages of the
same file: nothing to load to copy them.
"""

from __future__ import annotations

import sqlite3
import tarfile
from datetime import UTC, datetime
from pathlib import Path

from ragd.errors import InvalidRequest, NotFound

DB_FILE = "ragd.db"
FILES = "files.tar.gz"
_SIDE_FILES = ("-wal", "-shm", "-journal")


class SqliteDump:
    """The Store at ``db_path``, with the data dir around it."""

    kind = "sqlite"

    def __init__(self, db_path: Path, data_dir: Path) -> None:
        self.db_path = db_path
        self.data_dir = data_dir

    def dump(self, dest: Path) -> None:
        if not self.db_path.is_file():
            raise NotFound(f"no SQLite database at {self.db_path}: nothing to back up")
        copy = dest / DB_FILE
        src = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.backup(dst)
            ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if ok != "ok":
                raise InvalidRequest(f"the copy of {self.db_path} fails integrity_check: {ok}")
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
            src.close()
        with tarfile.open(dest / FILES, "w:gz", compresslevel=1) as tar:
            if self.data_dir.is_dir():
                for path in sorted(self.data_dir.iterdir()):
                    if not self._is_database(path):
                        tar.add(path, arcname=path.name)

    def restore(self, source: Path, *, force: bool) -> None:
        if self.db_path.exists():
            if not force:
                raise InvalidRequest(
                    f"{self.db_path} exists; stop ragd (API and workers) and pass --force "
                    "to replace it (the old file is moved aside, not deleted)"
                )
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            self.db_path.rename(
                self.db_path.with_name(f"{self.db_path.name}.before-restore-{stamp}")
            )
        for suffix in _SIDE_FILES:
            self.db_path.with_name(self.db_path.name + suffix).unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        if (source / FILES).is_file():
            with tarfile.open(source / FILES, "r:gz") as tar:
                tar.extractall(self.data_dir, filter="data")
        staged = self.db_path.with_name(self.db_path.name + ".restoring")
        staged.write_bytes((source / DB_FILE).read_bytes())
        staged.replace(self.db_path)

    def _is_database(self, path: Path) -> bool:
        name = self.db_path.name
        return path.resolve().parent == self.db_path.resolve().parent and (
            path.name == name
            or path.name.startswith(f"{name}.before-restore-")
            or any(path.name == name + s for s in _SIDE_FILES)
        )
