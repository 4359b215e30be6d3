"""HttpWebhookSender: one signed POST per delivery, never to a private address unless
allowed.

A webhook URL is chosen by a tenant admin, so without a guard ragd could be made to call
its own network (cloud metadata at 169.254.169.254, the database, an admin port): server
side request forgery. Every send resolves the host, refuses it when any address is
loopback, private, link-local, multicast, reserved or unspecified (unless
``RAGD_WEBHOOK_ALLOW_PRIVATE_URLS``), and then connects to the address it checked, not
to a second resolution (the Host header and TLS SNI keep the name): a DNS answer that
changes between check and connect (rebinding) cannot redirect the request. Redirects are
not followed (a 3xx is a failed attempt). The answer's body is never read beyond 1 KiB.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import httpx

from ragd.errors import InvalidRequest
from ragd.ports.webhooks import SendResult

MAX_URL_CHARS = 2000
ERROR_BODY_BYTES = 1024


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _blocked(ip.ipv4_mapped)
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


class HttpWebhookSender:
    def __init__(self, *, timeout_s: float, allow_private: bool) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._http = httpx.Client(timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def check_url(self, url: str) -> None:
        self._target(url)

    def _target(self, url: str) -> tuple[str, str, str]:
        """(URL to connect to, Host header, SNI name), or ``InvalidRequest``."""
        if len(url) > MAX_URL_CHARS:
            raise InvalidRequest(f"the webhook URL is over {MAX_URL_CHARS} characters")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("a webhook URL must be http:// or https:// with a host")
        if parts.username or parts.password:
            raise InvalidRequest("a webhook URL must not carry credentials; use the secret")
        host = parts.hostname
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidRequest("the webhook URL's port is not a number in range") from None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise InvalidRequest(f"the webhook host {host!r} does not resolve: {exc}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses:
            raise InvalidRequest(f"the webhook host {host!r} does not resolve")
        if not self.allow_private and any(_blocked(a) for a in addresses):
            raise InvalidRequest(
                f"the webhook host {host!r} resolves to a private or local address; ragd "
                "does not send there unless RAGD_WEBHOOK_ALLOW_PRIVATE_URLS=true"
            )
        ip = addresses[0]
        literal = f"[{ip}]" if ip.version == 6 else str(ip)
        netloc = f"{literal}:{port}"
        host_header = parts.netloc.rsplit("@", 1)[-1]
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        return pinned, host_header, host

    def send(self, url: str, headers: dict[str, str], body: bytes) -> SendResult:
        try:
            pinned, host_header, sni = self._target(url)
        except InvalidRequest as exc:
            return SendResult(None, str(exc))
        try:
            with self._http.stream(
                "POST",
                pinned,
                content=body,
                headers={**headers, "Host": host_header, "Content-Type": "application/json"},
                extensions={"sni_hostname": sni},
            ) as response:
                if 200 <= response.status_code < 300:
                    return SendResult(response.status_code)
                head = b""
                for chunk in response.iter_bytes():
                    head += chunk
                    if len(head) >= ERROR_BODY_BYTES:
                        break
                text = head[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
                return SendResult(response.status_code, f"HTTP {response.status_code}: {text}")
        except httpx.TimeoutException:
            return SendResult(None, f"no answer within {self.timeout_s:g}s")
        except httpx.HTTPError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}")


def build(*, timeout_s: float, allow_private: bool) -> HttpWebhookSender:
    return HttpWebhookSender(timeout_s=timeout_s, allow_private=allow_private)
