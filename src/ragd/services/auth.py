"""Authentication: an API key or a JWT bearer token becomes a ``Principal``.

API keys look like ``ragd_<prefix>_<secret>``. The prefix is public and indexed, so a
request costs one lookup; the secret is stored only as an Argon2id hash (argon2-cffi).
Argon2 is deliberately slow and memory-hard, so a successful verification is remembered
in memory by the SHA-256 of the presented key (renewed on every use, forgotten after
``VERIFIED_TTL_SECONDS`` idle); the key's record (revoked, expired, user and tenant
disabled) is still read on every request, so revocation is immediate. Checks that have not
proven themselves that way go through the ``AuthGuard`` (failure budgets, negative cache,
bounded hashing: ``services.auth_guard``), and every failure is audited in aggregate
(``services.auth_audit``).

JWTs: ``services.auth_jwt`` verifies them and decides how far their claims are trusted;
here the token's ``sub`` is checked against the tenant's users.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ragd.domain.accounts import Principal, Status, effective_role, lesser_role
from ragd.domain.models import TenantId, utcnow
from ragd.errors import Forbidden, NotFound, Overloaded, RateLimited, Unauthenticated
from ragd.ports.accounts import Accounts
from ragd.services.auth_audit import Failure, FailureAudit
from ragd.services.auth_guard import AuthGuard
from ragd.services.auth_jwt import JwtSettings, JwtVerifier

__all__ = [
    "Attempt",
    "Authenticator",
    "JwtSettings",
    "KeyHasher",
    "new_key_material",
    "split_key",
]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class Attempt:
    """Where a credential came from: for the failure budgets and the audit log."""

    client: str | None = None
    resource: str | None = None
    request_id: str | None = None


@dataclass
class _Claim:
    """What a failing attempt revealed about its target, for its audit row."""

    method: str
    tenant: TenantId | None = None
    prefix: str | None = None


class Authenticator:
    def __init__(
        self,
        accounts: Accounts,
        hasher: KeyHasher,
        jwt_settings: JwtSettings,
        *,
        guard: AuthGuard,
        failures: FailureAudit,
    ) -> None:
        self.accounts = accounts
        self.hasher = hasher
        self.jwt = JwtVerifier(jwt_settings)
        self.guard = guard
        self.failures = failures
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def authenticate(
        self, *, api_key: str | None, bearer: str | None, attempt: Attempt | None = None
    ) -> Principal:
        """The caller, or the error to answer with; every failure is audited (aggregated)."""
        attempt = attempt or Attempt()
        self.failures.tick()
        claim = _Claim("api_key" if api_key else "bearer")
        try:
            if api_key:
                return self._from_key(api_key, attempt.client, claim)
            if bearer:
                if bearer.startswith(KEY_PREFIX + "_"):
                    return self._from_key(bearer, attempt.client, claim)
                return self._from_jwt(bearer, claim)
            raise Unauthenticated("credentials required: an X-API-Key header or a Bearer token")
        except (Unauthenticated, Forbidden, RateLimited, Overloaded) as exc:
            self.failures.record(
                Failure(
                    tenant=claim.tenant,
                    client=attempt.client,
                    prefix=claim.prefix,
                    method=claim.method,
                    outcome=_outcome(exc),
                    reason=str(exc),
                    resource=attempt.resource,
                    request_id=attempt.request_id,
                )
            )
            raise

    def close(self) -> None:
        """Write the pending failure summaries (the process is stopping)."""
        self.guard.close()
        try:
            self.failures.flush()
        except Exception:  # a database already gone must not fail the shutdown
            log.warning("could not write the last failed-authentication summaries", exc_info=True)

    # -- API keys ----------------------------------------------------------------
    def _from_key(self, plaintext: str, client: str | None, claim: _Claim) -> Principal:
        parts = split_key(plaintext)
        if parts is None:
            raise Unauthenticated("malformed API key")
        prefix, secret = parts
        digest = hashlib.sha256(f"{prefix}\0{secret}".encode()).digest()
        proven = self._recently_verified(prefix, digest)
        if not proven:
            self.guard.check_allowed(client, prefix)
        stored = self.accounts.find_key(prefix)
        if stored is None:
            raise Unauthenticated("unknown API key")
        key = stored.key
        claim.tenant, claim.prefix = key.tenant_id, prefix
        now = utcnow()
        if key.revoked_at is not None:
            raise Unauthenticated("API key revoked")
        if key.expires_at is not None and key.expires_at <= now:
            raise Unauthenticated("API key expired")
        if not proven:
            if not self._verify(stored.secret_hash, secret, digest):
                self.guard.failed(client, prefix)  # a guess at a real key's secret
                raise Unauthenticated("unknown API key")
            with self._lock:
                self._verified[prefix] = (digest, time.monotonic() + VERIFIED_TTL_SECONDS)
        user = self.accounts.get_user(key.tenant_id, key.user_id)
        self._check_active(key.tenant_id, user.status)
        self._touch(key.tenant_id, key.id, now)
        return Principal(
            key.tenant_id,
            user.id,
            effective_role(user.role, key.role),
            "api_key",
            key.id,
            key_role=key.role,
        )

    def _recently_verified(self, prefix: str, digest: bytes) -> bool:
        """A hit renews the entry: a key in use stays verified (its record is still read)."""
        with self._lock:
            hit = self._verified.get(prefix)
            if hit is None or hit[1] <= time.monotonic() or not hmac.compare_digest(hit[0], digest):
                return False
            self._verified[prefix] = (digest, time.monotonic() + VERIFIED_TTL_SECONDS)
            return True

    def _verify(self, stored_hash: str, secret: str, digest: bytes) -> bool:
        if self.guard.known_wrong(digest):
            return False
        ok = self.guard.check(lambda: self.hasher.verify(stored_hash, secret))
        if not ok:
            self.guard.remember_wrong(digest)
        return ok

    def _touch(self, tenant: TenantId, key_id: str, now: datetime) -> None:
        with self._lock:
            last = self._touched.get(key_id, 0.0)
            if time.monotonic() - last < TOUCH_EVERY_SECONDS:
                return
            self._touched[key_id] = time.monotonic()
        self.accounts.touch_key(tenant, key_id, now)

    # -- JWT ---------------------------------------------------------------------
    def _from_jwt(self, bearer: str, claim: _Claim) -> Principal:
        token = self.jwt.verify(bearer)
        self._check_active(token.tenant, Status.ACTIVE)
        claim.tenant = token.tenant  # signed, and a tenant that exists: its admins may see it
        role = token.role
        if not self.jwt.settings.external_users:
            try:
                user = self.accounts.get_user(token.tenant, token.subject)
            except NotFound:
                raise Unauthenticated(
                    "the bearer token's user is not a user of its tenant"
                ) from None
            if user.status != Status.ACTIVE:
                raise Unauthenticated("the bearer token's user is disabled")
            role = lesser_role(role, user.role)
        return Principal(token.tenant, token.subject, role, "jwt")

    def _check_active(self, tenant: TenantId, user_status: Status) -> None:
        try:
            t = self.accounts.get_tenant(tenant)
        except NotFound:
            raise Unauthenticated("tenant does not exist") from None
        if t.status != Status.ACTIVE:
            raise Forbidden(f"tenant {tenant} is disabled")
        if user_status != Status.ACTIVE:
            raise Forbidden("user is disabled")


def _outcome(exc: Exception) -> str:
    if isinstance(exc, RateLimited):
        return "throttled"
    if isinstance(exc, Overloaded):
        return "overloaded"
    return "denied"
