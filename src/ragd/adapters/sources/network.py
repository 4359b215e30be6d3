"""Where a source may send requests: not to the server's own networks, by default.

A tenant names the web site or the S3 endpoint, and ragd's server makes the requests: left
alone, that lets a tenant read the cloud metadata service (169.254.169.254), the cluster's
internal services or loopback (SSRF). Every host is resolved first and refused when any of
its addresses is loopback, private, link-local, multicast, reserved or unspecified, unless
``RAGD_SOURCES_ALLOW_PRIVATE_NETWORKS`` is on (tests, on-premises sites).

Known limit: the check and the connection resolve the name separately, so a DNS server
that changes its answer in between (DNS rebinding) is not caught.
"""

from __future__ import annotations

import ipaddress
import socket

from ragd.errors import BackendUnavailable, InvalidRequest

HINT = "set RAGD_SOURCES_ALLOW_PRIVATE_NETWORKS=true to allow it"


class PrivateAddress(InvalidRequest):
    """The host resolves to an address a source may not reach."""


def check_host(host: str, *, allow_private: bool, unresolvable_ok: bool = False) -> None:
    """Raise ``PrivateAddress`` for a host on the server's own networks,
    ``BackendUnavailable`` when it does not resolve (unless ``unresolvable_ok``: a source's
    settings are saved while its site is down; its runs check again)."""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        if unresolvable_ok:
            return
        raise BackendUnavailable(f"cannot resolve {host}: {exc}") from exc
    for info in infos:
        addr = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (
            addr.is_private
            or addr.is_loopback
            or addr.is_link_local
            or addr.is_multicast
            or addr.is_reserved
            or addr.is_unspecified
        ):
            raise PrivateAddress(f"{host} resolves to {addr}, a private address; {HINT}")
