"""JWT bearer tokens: verifying the signature, and how far the claims are trusted.

Tokens are HS256 with ``JWT_SECRET``, or RS256/ES256 verified against the keys published at
``RAGD_JWT_JWKS_URL``. Claims: ``sub`` (user id), ``tenant`` (or ``tid``), ``role`` (default
reader), ``exp`` (required), and ``iss``/``aud``, required and checked when
``RAGD_JWT_ISSUER``/``RAGD_JWT_AUDIENCE`` are set.

A valid signature says who issued the token, not that its claims hold in ragd, so:

- ``platform_admin`` is granted only to a token whose ``iss`` is listed in
  ``RAGD_JWT_PLATFORM_ADMIN_ISSUERS`` (default: none) and that names the platform tenant;
  any other token claiming it is treated as ``tenant_admin`` (then capped as below);
- ``sub`` must be an active user of the named tenant, and the role granted is the lesser of
  the token's and the user's: disabling a user or lowering their role takes effect on their
  tokens at once. With ``RAGD_JWT_EXTERNAL_USERS=true`` the identity provider's users are
  trusted instead (``sub`` need not exist in ragd; the token's role stands);
- the tenant must exist and be active in every case;
- with a JWKS, ``RAGD_JWT_AUDIENCE`` is required (refused at start without it): an identity
  provider's keys sign tokens for every application it serves, and without an audience a
  token minted for another one would be accepted here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from ragd.domain.accounts import PLATFORM_TENANT, Role
from ragd.domain.models import TenantId
from ragd.errors import ConfigError, Unauthenticated

if TYPE_CHECKING:
    from jwt.types import Options


@dataclass(frozen=True)
class JwtSettings:
    secret: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None
    platform_admin_issuers: frozenset[str] = frozenset()
    external_users: bool = False


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature, expiry, issuer and audience hold; claims not yet trusted."""

    tenant: TenantId
    subject: str
    role: Role
    """The role claimed, already capped below platform_admin unless the issuer may grant it."""


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        if settings.jwks_url and not settings.audience:
            raise ConfigError(
                "RAGD_JWT_JWKS_URL needs RAGD_JWT_AUDIENCE: without an audience, a token the "
                "identity provider issued for another application would be accepted"
            )
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url) if settings.jwks_url else None

    def verify(self, token: str) -> VerifiedToken:
        claims = self._decode(token)
        tenant = claims.get("tenant") or claims.get("tid")
        if not isinstance(tenant, str) or not tenant:
            raise Unauthenticated("bearer token has no tenant claim")
        try:
            role = Role(claims.get("role", Role.READER.value))
        except ValueError:
            raise Unauthenticated("bearer token has an unknown role") from None
        if role == Role.PLATFORM_ADMIN and not (
            claims.get("iss") in self.settings.platform_admin_issuers and tenant == PLATFORM_TENANT
        ):
            role = Role.TENANT_ADMIN
        return VerifiedToken(TenantId(tenant), str(claims["sub"]), role)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthenticated("malformed bearer token") from None
        alg = header.get("alg")
        options: Options = {"require": ["exp", "sub"]}
        s = self.settings
        try:
            if alg == "HS256" and s.secret:
                key: Any = s.secret
            elif alg in ("RS256", "ES256") and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                shown = str(alg)[:16]
                raise Unauthenticated(f"bearer tokens signed with {shown!r} are not accepted")
            return dict(
                jwt.decode(
                    token,
                    key,
                    algorithms=[str(alg)],
                    audience=s.audience,
                    issuer=s.issuer,
                    options=options,
                )
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("bearer token expired") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("bearer token signing key not found") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid bearer token: {type(exc).__name__}") from None
