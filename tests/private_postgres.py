"""A PostgreSQL server of one test, for fault tests that restart or kill it.

The shared test server (scripts/test-services.sh) must never be restarted under other
tests, so a fault test starts its own from the same binaries (``RAGD_TEST_PG_BIN``), on a
free loopback port, in a throw-away directory, and stops it as it likes: ``pg_ctl restart
-m fast`` (what a rolling update or a failover looks like to clients: every connection is
closed, then the server comes back) or ``-m immediate`` (a crash).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.live import free_port
from tests.services import postgres_bin_dir


class PrivatePostgres:
    """initdb + pg_ctl on a free port; ``url`` reaches it as the superuser ``postgres``."""

    def __init__(self) -> None:
        self.bin_dir, self.os_user = postgres_bin_dir()
        self.port = free_port()
        # Not pytest's tmp_path: that is private to root, and the server runs as os_user.
        self.root = Path(tempfile.mkdtemp(prefix="ragd-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        if self.os_user:
            pw = pwd.getpwnam(self.os_user)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [os.path.join(self.bin_dir, tool), *args]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        done = subprocess.run(cmd, cwd="/", capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr}\n{log}")

    def init(self) -> PrivatePostgres:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root}"
            # fsync off is safe for these tests: the server process may crash, the machine
            # does not. synchronous_commit stays on: a crash must not lose acknowledged commits.
            " -c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
