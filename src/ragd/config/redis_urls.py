"""The shapes of ``REDIS_URL`` ragd accepts, read in one place for the audit and the client.

A plain server is redis-py's own URL (``redis://``, ``rediss://``, ``unix://``). A Redis
kept highly available by Sentinel is reached through the Sentinels, in the form several
clients and the deployment components (``deploy/k8s/components/redis-sentinel``, Helm's
``redisSentinel.enabled``) use::

    redis+sentinel://[[user]:password@]host[:port][,host2[:port2]...]/<master>[/<db>][?options]

The password is the Redis servers' (``requirepass``), given to the master's connections,
not to the Sentinels (the shipped Sentinels take none). The port defaults to 26379, the
database to 0; the query takes redis-py's connection options (``max_connections``,
``socket_keepalive``, as ``REDIS_MAX_CONNECTIONS`` writes them).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

PLAIN_SCHEMES = ("redis://", "rediss://", "unix://")
SENTINEL_SCHEME = "redis+sentinel://"
SENTINEL_PORT = 26379
FORM = "redis+sentinel://[:password@]host[:26379][,host2[:port]]/<master>[/<db>]"


@dataclass(frozen=True)
class SentinelURL:
    """A ``redis+sentinel://`` URL, taken apart."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int
    username: str | None
    password: str | None
    query: str


def is_sentinel(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME)


def parse_sentinel_url(url: str) -> SentinelURL:
    """``url`` taken apart.

    Raises:
        ValueError: one sentence saying what is wrong and the form expected.
    """
    if not is_sentinel(url):
        raise ValueError(f"not a {SENTINEL_SCHEME} URL")
    rest, _, query = url.removeprefix(SENTINEL_SCHEME).partition("?")
    rest = rest.partition("#")[0]
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    sentinels = tuple(_host_port(h.strip()) for h in hosts.split(",") if h.strip())
    if not sentinels:
        raise ValueError(f"REDIS_URL names no Sentinel host: write {FORM}")
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts or len(parts) > 2:
        raise ValueError(f"REDIS_URL must name the Sentinel master (and a db): write {FORM}")
    db = 0
    if len(parts) == 2:
        if not parts[1].isdigit():
            raise ValueError(f"REDIS_URL's database {parts[1]!r} is not a number: write {FORM}")
        db = int(parts[1])
    return SentinelURL(sentinels, parts[0], db, username, password, query)


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):  # [::1]:26379
        host, _, port = text[1:].partition("]")
        port = port.removeprefix(":")
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, ""
    if not host:
        raise ValueError(f"REDIS_URL has an empty Sentinel host: write {FORM}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"REDIS_URL's Sentinel port {port!r} is not a port: write {FORM}")
    return host, int(port) if port else SENTINEL_PORT


def problem(url: str) -> str | None:
    """Why ragd cannot use ``url`` as ``REDIS_URL`` (one sentence), or ``None``."""
    if is_sentinel(url):
        try:
            parse_sentinel_url(url)
        except ValueError as exc:
            return str(exc)
        return None
    if url.startswith(PLAIN_SCHEMES):
        return None
    scheme = url.partition("://")[0] if "://" in url else url[:20]
    return (
        f"REDIS_URL's scheme {scheme!r} is not one ragd reads: use redis://, rediss://, "
        f"unix:// or {SENTINEL_SCHEME}"
    )
