"""PostgresDump: the Store on Postgres through ``pg_dump`` and ``pg_restore``.

Why the client tools and not a logical export through SQLAlchemy: ``pg_dump`` takes one
snapshot of every table at once (a consistent copy while ragd writes, without locking it
out), and it carries what a table-by-table export would have to rebuild by hand: the
pgvector and full-text indexes, the row-level-security policies, sequences and the Alembic
version. The image ships PostgreSQL 17's client, which dumps servers from 9.2 to 17 (a
newer server needs a newer client: ``RAGD_PG_BIN_DIR``).

The password goes to the tools in ``PGPASSWORD``, never on their command line. Row-level
security is forced on ragd's tables, also for their owner: both tools run with the
system scope ragd's own cross-tenant operations use (``ragd.system=on``, see
``ragd.adapters.sql.rls``), so ragd's own role (not a superuser) sees and writes every
tenant's rows. Extensions (pgvector, btree_gin) are left out of the restore: dropping or
creating them needs their owner, and the database's set-up (the chart's init script, or
ragd's first migration as a role that may) already made them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest

DUMP_FILE = "postgres.dump"


class PostgresDump:
    """The Store's Postgres database at ``url`` (SQLAlchemy form, any driver)."""

    kind = "postgres"

    def __init__(self, url: str, bin_dir: Path | None = None, timeout: float = 6 * 3600) -> None:
        parsed = make_url(url)
        self._password = parsed.password
        self._dsn = parsed.set(drivername="postgresql", password=None).render_as_string(
            hide_password=False
        )
        self.bin_dir = bin_dir
        self.timeout = timeout

    def dump(self, dest: Path) -> None:
        self._run(
            "pg_dump",
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            "--enable-row-security",
            f"--file={dest / DUMP_FILE}",
            f"--dbname={self._dsn}",
        )

    def restore(self, source: Path, *, force: bool) -> None:
        if not force and self._holds_data():
            raise InvalidRequest(
                "the database already holds ragd's tables; stop ragd (API and workers) and "
                "pass --force to replace them"
            )
        contents = self._run("pg_restore", "--list", str(source / DUMP_FILE))
        wanted = source / "restore.list"
        wanted.write_text(
            "\n".join(line for line in contents.splitlines() if " EXTENSION " not in line) + "\n"
        )
        self._run(
            "pg_restore",
            f"--use-list={wanted}",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={self._dsn}",
            str(source / DUMP_FILE),
        )

    def _holds_data(self) -> bool:
        out = self._run(
            "psql",
            "--no-psqlrc",
            "--tuples-only",
            "--no-align",
            f"--dbname={self._dsn}",
            "--command=SELECT to_regclass('documents') IS NOT NULL",
        )
        return out.strip() == "t"

    def _tool(self, name: str) -> str:
        if self.bin_dir is not None:
            path = self.bin_dir / name
            if not path.is_file():
                raise ConfigError(f"{name} not found in RAGD_PG_BIN_DIR={self.bin_dir}")
            return str(path)
        found = shutil.which(name)
        if found is None:
            raise ConfigError(
                f"{name} not found on PATH: install PostgreSQL's client tools (the ragd "
                "image has them) or set RAGD_PG_BIN_DIR"
            )
        return found

    def _run(self, tool: str, *args: str) -> str:
        env = dict(os.environ)
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} -c ragd.system=on".strip()
        if self._password is not None:
            env["PGPASSWORD"] = self._password
        try:
            proc = subprocess.run(
                [self._tool(tool), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BackendUnavailable(f"{tool} ran past {self.timeout:.0f} s") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            errors = [line for line in detail if "error:" in line]
            message = (errors or detail or [f"exit status {proc.returncode}"])[0]
            if self._password:
                message = message.replace(self._password, "***")
            raise BackendUnavailable(f"{tool} failed: {message}")
        return proc.stdout
