"""Sources' secrets sealed with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``).

The key is ``RAGD_SOURCES_SECRET_KEY``: a Fernet key (``ragd sources keygen``), or any
passphrase of 32 characters or more (stretched by SHA-256). Several keys, comma-separated,
rotate: the first seals, every one opens. Without a key, a development installation gets
a key file of its own under the data directory (mode 0600); anywhere else storing or using
a secret is refused, never done in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ragd.errors import ConfigError, InvalidRequest

log = logging.getLogger(__name__)

KEY_FILE = "sources.key"
MIN_PASSPHRASE = 32
NO_KEY = (
    "storing a source's credentials needs RAGD_SOURCES_SECRET_KEY (a Fernet key: "
    "`ragd sources keygen`); refused outside development rather than kept in the clear"
)


def _fernet(key: str) -> Fernet:
    try:
        return Fernet(key.encode())
    except ValueError:
        if len(key) < MIN_PASSPHRASE:
            raise ConfigError(
                "RAGD_SOURCES_SECRET_KEY is neither a Fernet key nor a passphrase of "
                f"{MIN_PASSPHRASE}+ characters"
            ) from None
        return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()))


def generate_key() -> str:
    return Fernet.generate_key().decode()


class FernetBox:
    """Seals a source's secret (a small JSON object of strings) and opens it again."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError(NO_KEY)
        self._fernet = MultiFernet([_fernet(k) for k in keys])

    def seal(self, secret: dict[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(secret, sort_keys=True).encode())

    def open(self, sealed: bytes) -> dict[str, str]:
        try:
            raw = self._fernet.decrypt(sealed)
        except InvalidToken:
            raise ConfigError(
                "a source's credentials cannot be opened with RAGD_SOURCES_SECRET_KEY "
                "(was the key changed? keep the old one after the new, comma-separated)"
            ) from None
        data = json.loads(raw)
        return {str(k): str(v) for k, v in data.items()}


class NoKeyBox:
    """No key configured outside development: every seal and open is refused."""

    def seal(self, secret: dict[str, str]) -> bytes:  # noqa: ARG002
        raise ConfigError(NO_KEY)

    def open(self, sealed: bytes) -> dict[str, str]:  # noqa: ARG002
        raise ConfigError(NO_KEY)


def _dev_key(data_dir: Path) -> str:
    path = data_dir / KEY_FILE
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    log.warning("RAGD_SOURCES_SECRET_KEY is not set: sources' secrets are sealed with %s", path)
    return key


def build(secret_key: str | None, *, development: bool, data_dir: Path) -> FernetBox | NoKeyBox:
    keys = [k.strip() for k in (secret_key or "").split(",") if k.strip()]
    if keys:
        return FernetBox(keys)
    if development:
        try:
            return FernetBox([_dev_key(data_dir)])
        except OSError as exc:
            raise InvalidRequest(f"cannot keep a development key under {data_dir}: {exc}") from exc
    return NoKeyBox()
