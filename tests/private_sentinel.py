"""A Redis kept by Sentinel, private to the test run: a master with a password, optional
replicas, and one Sentinel monitoring them, all real processes of the test services' Redis
binary (``RAGD_TEST_REDIS_SERVER``; ``redis-server --sentinel`` with a config file) on free
loopback ports. ``url`` is what ragd is given: ``redis+sentinel://:<pw>@127.0.0.1:<port>/<master>/0``.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis

MASTER = "ragdmaster"
PASSWORD = "s3nt1nel-7c41b9e2d0a5f836"  # not a placeholder shape (the audit refuses those)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateSentinel:
    """``start()`` brings everything up and waits until the Sentinel names the master."""

    def __init__(self, binary: str, workdir: Path, *, replicas: int = 0) -> None:
        self.binary, self.workdir = binary, workdir
        self.redis_ports = [free_port() for _ in range(replicas + 1)]
        self.sentinel_port = free_port()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"redis+sentinel://:{PASSWORD}@127.0.0.1:{self.sentinel_port}/{MASTER}/0"

    def start(self) -> None:
        master = self.redis_ports[0]
        for i, port in enumerate(self.redis_ports):
            args = [
                "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                "--requirepass", PASSWORD, "--masterauth", PASSWORD, "--dir", str(self.workdir),
                "--logfile", str(self.workdir / f"redis-{port}.log"), "--daemonize", "no",
                "--dbfilename", f"dump-{port}.rdb",
            ]  # fmt: skip
            if i:
                args += ["--replicaof", "127.0.0.1", str(master)]
            self._spawn([self.binary, *args])
        conf = self.workdir / "sentinel.conf"  # Sentinel rewrites it: a file of its own
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndaemonize no\n"
            f"dir {self.workdir}\nlogfile {self.workdir / 'sentinel.log'}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {master} 1\n"
            f"sentinel auth-pass {MASTER} {PASSWORD}\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 3000\n"
        )
        self._spawn([self.binary, str(conf), "--sentinel"])
        if not self.wait(lambda: self.master_port() == master, 15):
            log = (self.workdir / "sentinel.log").read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError(f"the private Sentinel did not name its master:\n{log}")
        replicas = len(self.redis_ports) - 1
        if replicas and not self.wait(lambda: self._known_replicas() >= replicas, 20):
            self.stop()
            raise RuntimeError("the private Sentinel never saw its replicas in sync")

    def _spawn(self, argv: list[str]) -> None:
        self.procs.append(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def sentinel(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.sentinel_port, socket_timeout=2)

    def master_port(self) -> int | None:
        try:
            with self.sentinel() as s:
                addr = s.sentinel_get_master_addr_by_name(MASTER)
        except redis.RedisError:
            return None
        return int(addr[1]) if addr else None

    def _known_replicas(self) -> int:
        try:
            with self.sentinel() as s:
                replicas = s.sentinel_slaves(MASTER)
        except redis.RedisError:
            return 0
        # A replica can be promoted only once the Sentinel is connected to it and the
        # replica's own link to the master is up; counting merely *known* replicas let a
        # failover on a loaded machine answer NOGOODSLAVE.
        return sum(
            1
            for r in replicas
            if not (r.get("is_sdown") or r.get("is_odown") or r.get("is_disconnected"))
            and r.get("master-link-status") == "ok"
        )

    def failover(self) -> int:
        """Makes a replica the master (``SENTINEL FAILOVER``); returns its port."""
        before = self.master_port()
        deadline = time.monotonic() + 20
        while True:  # NOGOODSLAVE until the Sentinel's next INFO round marks the replica fit
            try:
                with self.sentinel() as s:
                    s.sentinel_failover(MASTER)
                break
            except redis.ResponseError as exc:
                if "NOGOODSLAVE" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        if not self.wait(lambda: self.master_port() not in (None, before), 20):
            raise RuntimeError("the Sentinel did not fail over")
        port = self.master_port()
        assert port is not None
        return port

    @staticmethod
    def wait(check: object, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(timeout=10)
        self.procs.clear()
