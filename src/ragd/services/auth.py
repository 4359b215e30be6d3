"""Authentication: an API key or a JWT bearer token becomes a ``Principal``.

API keys look like ``ragd_<prefix>_<secret>``. The prefix is public and indexed, so a
request costs one lookup; the secret is stored only as an Argon2id hash (argon2-cffi).
Argon2 is deliberately slow, so a successful verification is remembered in memory for a
few minutes by the SHA-256 of the presented key; the key's record (revoked, expired,
user and tenant disabled) is still read on every request, so revocation is immediate.

JWTs: HS256 with ``JWT_SECRET``, or RS256/ES256 verified against the keys published at
``RAGD_JWT_JWKS_URL``. Claims: ``sub`` (user id), ``tenant`` (tenant id), ``role`` (one of
the four roles; default reader) and ``exp`` (required).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ragd.domain.accounts import Principal, Role, Status
from ragd.domain.models import TenantId, utcnow
from ragd.errors import Forbidden, NotFound, Unauthenticated
from ragd.ports.accounts import Accounts

if TYPE_CHECKING:
    from jwt.types import Options

KEY_PREFIX = "ragd"
VERIFIED_TTL_SECONDS = 300.0
TOUCH_EVERY_SECONDS = 60.0


def new_key_material() -> tuple[str, str, str]:
    """(plaintext, prefix, secret): 72 bits of public prefix, 256 bits of secret."""
    prefix = secrets.token_hex(9)
    secret = secrets.token_urlsafe(32)
    return f"{KEY_PREFIX}_{prefix}_{secret}", prefix, secret


def split_key(plaintext: str) -> tuple[str, str] | None:
    parts = plaintext.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


@dataclass(frozen=True)
class JwtSettings:
    secret: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None


class KeyHasher:
    """Argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored: str, secret: str) -> bool:
        try:
            return bool(self._hasher.verify(stored, secret))
        except (VerificationError, InvalidHashError):
            return False


class Authenticator:
    def __init__(self, accounts: Accounts, hasher: KeyHasher, jwt_settings: JwtSettings) -> None:
        self.accounts = accounts
        self.hasher = hasher
        self.jwt = jwt_settings
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        self._jwks = jwt.PyJWKClient(jwt_settings.jwks_url) if jwt_settings.jwks_url else None

    def authenticate(self, *, api_key: str | None, bearer: str | None) -> Principal:
        if api_key:
            return self._from_key(api_key)
        if bearer:
            if bearer.startswith(KEY_PREFIX + "_"):
                return self._from_key(bearer)
            return self._from_jwt(bearer)
        raise Unauthenticated("credentials required: an X-API-Key header or a Bearer token")

    def tenant_of_key(self, plaintext: str) -> TenantId | None:
        """The tenant a (possibly wrong) key claims, for auditing failed attempts."""
        parts = split_key(plaintext)
        stored = self.accounts.find_key(parts[0]) if parts else None
        return stored.key.tenant_id if stored else None

    # -- API keys ----------------------------------------------------------------
    def _from_key(self, plaintext: str) -> Principal:
        parts = split_key(plaintext)
        if parts is None:
            raise Unauthenticated("malformed API key")
        prefix, secret = parts
        stored = self.accounts.find_key(prefix)
        if stored is None:
            raise Unauthenticated("unknown API key")
        key = stored.key
        now = utcnow()
        if key.revoked_at is not None:
            raise Unauthenticated("API key revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthenticated("API key expired")
        if not self._verify(key.id, stored.secret_hash, secret):
            raise Unauthenticated("unknown API key")
        user = self.accounts.get_user(key.tenant_id, key.user_id)
        self._check_active(key.tenant_id, user.status)
        self._touch(key.tenant_id, key.id, now)
        return Principal(key.tenant_id, user.id, user.role, "api_key", key.id)

    def _verify(self, key_id: str, stored_hash: str, secret: str) -> bool:
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            hit = self._verified.get(key_id)
        if hit and hit[1] > time.monotonic() and hmac.compare_digest(hit[0], digest):
            return True
        if not self.hasher.verify(stored_hash, secret):
            return False
        with self._lock:
            self._verified[key_id] = (digest, time.monotonic() + VERIFIED_TTL_SECONDS)
        return True

    def _touch(self, tenant: TenantId, key_id: str, now: datetime) -> None:
        with self._lock:
            last = self._touched.get(key_id, 0.0)
            if time.monotonic() - last < TOUCH_EVERY_SECONDS:
                return
            self._touched[key_id] = time.monotonic()
        self.accounts.touch_key(tenant, key_id, now)

    # -- JWT ---------------------------------------------------------------------
    def _from_jwt(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed bearer token") from None
        alg = header.get("alg")
        options: Options = {"require": ["exp", "sub"]}
        try:
            if alg == "HS256" and self.jwt.secret:
                claims = jwt.decode(
                    token,
                    self.jwt.secret,
                    algorithms=["HS256"],
                    audience=self.jwt.audience,
                    issuer=self.jwt.issuer,
                    options=options,
                )
            elif alg in ("RS256", "ES256") and self._jwks is not None:
                signing_key = self._jwks.get_signing_key_from_jwt(token)
                claims = jwt.decode(
                    token,
                    signing_key.key,
                    algorithms=[alg],
                    audience=self.jwt.audience,
                    issuer=self.jwt.issuer,
                    options=options,
                )
            else:
                raise Unauthenticated(f"bearer tokens signed with {alg!r} are not accepted")
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("bearer token expired") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("bearer token signing key not found") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {type(exc).__name__}") from None
        tenant = claims.get("tenant") or claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            raise Unauthenticated("bearer token has no tenant claim")
        try:
            role = Role(claims.get("role", Role.READER.value))
        except ValueError:
            raise Unauthenticated("bearer token has an unknown role") from None
        self._check_active(TenantId(tenant), Status.ACTIVE)
        return Principal(TenantId(tenant), str(claims["sub"]), role, "jwt")

    def _check_active(self, tenant: TenantId, user_status: Status) -> None:
        try:
            t = self.accounts.get_tenant(tenant)
        except NotFound:
            raise Unauthenticated("tenant does not exist") from None
        if t.status != Status.ACTIVE:
            raise Forbidden(f"tenant {tenant} is disabled")
        if user_status != Status.ACTIVE:
            raise Forbidden("user is disabled")
