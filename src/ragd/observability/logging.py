"""Logging: structlog for ragd's own events, the same renderer for every stdlib logger.

``LOG_FORMAT=json`` gives one JSON object per line (for log shippers); ``console`` gives
readable lines. Every line passes a redaction step first: values under secret-sounding
keys, bearer tokens and ragd API keys never reach the output, whoever logged them.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

# "token" but not "tokens": prompt_tokens / completion_tokens are counts an operator needs.
_SECRET_KEYS = re.compile(r"(authorization|api[_-]?key|token(?!s)|secret|password|cookie)", re.I)
_KEY_PATTERN = re.compile(r"ragd_[0-9a-f]{6,}_[A-Za-z0-9_\-]{8,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-~+/=]{8,}")
_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    text = _KEY_PATTERN.sub(REDACTED, text)
    text = _JWT.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def is_secret_key(name: str) -> bool:
    """Whether a field called ``name`` holds a credential (its value is never shown)."""
    return bool(_SECRET_KEYS.search(name))


def scrub(value: Any, known: tuple[str, ...] = ()) -> Any:
    """``value`` with secrets replaced, at any depth: values under secret-sounding keys,
    key/bearer/JWT patterns in strings, and the ``known`` secret strings (configured
    provider keys). For payloads leaving the process (Sentry events); dicts and lists
    are rebuilt, other values returned as they are."""
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
        return redact_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and is_secret_key(k) and v not in (None, "")
            else scrub(v, known)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub(v, known) for v in value)
    return value


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if _SECRET_KEYS.search(key) and key not in ("event",):
            event[key] = REDACTED
        elif isinstance(value, str):
            event[key] = redact_text(value)
    return event


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # ragd logs each request itself (with tenant and request id). uvicorn writes its access
    # line whenever "uvicorn.access" has a handler, its ancestors' included, so propagating
    # it to ours would log every request twice.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False


class _StderrHandler(logging.StreamHandler[Any]):
    """Writes to whatever ``sys.stderr`` is at the time of the record, not at set-up."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
