"""Live ``ragd`` processes for end-to-end tests: ``ragd serve`` on a free loopback port, and
``ragd worker``, each a real subprocess with its own environment.

stderr goes to a file, never a pipe nobody drains: a chatty process blocked on a full pipe
looks exactly like a hung server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_when(
    args: list[str], env: dict[str, str], ready: Callable[[], bool], *, what: str,
    timeout: float = 120.0, poll: float = 0.02,
) -> None:  # fmt: skip
    """Run ``ragd <args>`` and SIGKILL it as soon as ``ready()`` holds: a crash at a chosen
    moment. Fails if that moment never comes, or if the process exits before it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragd.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            if time.monotonic() > deadline:
                pytest.fail(f"{what} never happened")
            time.sleep(poll)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()


class Process:
    """A ``python -m ragd.cli …`` subprocess whose stderr lands in ``log``."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ragd.cli", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
        )

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (a graceful stop, as Kubernetes does), SIGKILL if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


class Server(Process):
    """``ragd serve`` on a free port, returned once ``/ready`` answers 200."""

    def __init__(self, env: dict[str, str], log: Path, *, timeout: float = 90) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", "--host", "127.0.0.1", "--port", str(self.port)], env, log)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.base + "/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"ragd serve did not start: {self.stderr()[-3000:]}")
            time.sleep(0.1)


@contextmanager
def live_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """A running ``ragd serve``'s base URL, stopped (SIGTERM) afterwards."""
    server = Server(env, log)
    try:
        yield server.base
    finally:
        server.stop()
