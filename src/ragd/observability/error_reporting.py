"""Sentry error reporting, on when ``SENTRY_DSN`` is set.

Events carry no personal data (``send_default_pii=False``, no request bodies: they hold
questions and documents) and pass the same redaction as log lines on the way out, plus
the configured provider keys by value, at any depth (exception messages, local variables
of stack frames, headers, breadcrumbs).
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from ragd import __version__
from ragd.config import Settings
from ragd.observability.logging import scrub

if TYPE_CHECKING:
    from sentry_sdk.types import Event, Hint

log = logging.getLogger("ragd.sentry")


def configured_secrets(settings: Settings) -> tuple[str, ...]:
    """Every secret value in the settings (provider keys, JWT secret, the DSN itself),
    longest first so that a key containing another is replaced whole.

    It walks every section, not only observability's: a secret of any subsystem can end up
    in an exception message or a stack frame's locals.
    """
    values = {
        v.get_secret_value()
        for section in settings.sections().values()
        for v in section.model_dump().values()
        if isinstance(v, SecretStr)
    }
    return tuple(sorted((v for v in values if len(v) >= 6), key=len, reverse=True))


def scrubber(settings: Settings) -> Callable[[Event, Hint], Event | None]:
    """A ``before_send`` that redacts secrets anywhere in the event."""
    known = configured_secrets(settings)

    def before_send(event: Event, _hint: Hint) -> Event | None:
        scrubbed: Event = scrub(event, known)
        return scrubbed

    return before_send


def init_sentry(settings: Settings) -> bool:
    """Start reporting to Sentry if ``SENTRY_DSN`` is set; True when it started.

    It takes the whole ``Settings``, not its section, on purpose: the scrubber must know
    every configured secret (see ``configured_secrets``).
    """
    obs = settings.observability
    dsn = obs.sentry_dsn.get_secret_value() if obs.sentry_dsn else ""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    with warnings.catch_warnings():
        # sentry-sdk 2.7x deprecates send_default_pii for data_collection; False still
        # maps to "no personal data" there, and it is the one spelling every 2.x reads.
        warnings.filterwarnings("ignore", "The send_default_pii", DeprecationWarning)
        sentry_sdk.init(
            dsn=dsn,
            environment=obs.environment,
            release=f"ragd@{__version__}",
            send_default_pii=False,
            max_request_body_size="never",  # bodies hold questions and documents
            include_local_variables=True,  # useful, and scrubbed by before_send
            before_send=scrubber(settings),
            integrations=[StarletteIntegration(), FastApiIntegration()],
        )
    log.info("error reporting to Sentry is on")
    return True


def report_exception(exc: BaseException) -> None:
    """Send an exception that was answered (so never reached Sentry's ASGI middleware) to
    Sentry, when reporting is on; nothing otherwise."""
    sentry_sdk = sys.modules.get("sentry_sdk")  # imported by init_sentry, if ever
    if sentry_sdk is not None and sentry_sdk.get_client().is_active():
        sentry_sdk.capture_exception(exc)


def close_sentry(timeout: float = 2.0) -> None:
    """Send what is queued and stop (app shutdown)."""
    import sentry_sdk

    sentry_sdk.get_client().close(timeout=timeout)
