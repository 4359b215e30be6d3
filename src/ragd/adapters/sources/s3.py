"""An S3-compatible bucket (AWS S3, MinIO, Ceph, R2, GCS's XML API) as a source.

Objects under the prefix are the items, their ETag the change key (a new version of an
object has a new ETag; an unchanged object is never downloaded). The listing is paginated
(1,000 keys a page), so a bucket of any size is read in bounded memory. Credentials are the
source's sealed secret (``access_key_id``, ``secret_access_key``, optional
``session_token``); without them boto3's own chain applies (IRSA, an instance role).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from ragd.adapters.sources.network import check_host
from ragd.domain.source_permissions import COMMON_SETTINGS, check_common, parse_readers
from ragd.domain.sources import ReadItem, ScanReport, SourceAccess, SourceItem, SourceKind
from ragd.errors import BackendUnavailable, ConfigError, InvalidRequest, NotFound, RagdError

SECRET_FIELDS = frozenset({"access_key_id", "secret_access_key", "session_token"})
_CONFIG_CODES = {
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "PermanentRedirect",
}
_SETTINGS = {"bucket", "prefix", "endpoint_url", "region", "addressing_style", "max_items"}
DEFAULT_MAX_ITEMS = 100_000


class S3Reader:
    kind: SourceKind = "s3"

    def __init__(self, *, max_bytes: int, timeout_seconds: float, allow_private: bool) -> None:
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.allow_private = allow_private

    def check(self, config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - _SETTINGS - COMMON_SETTINGS
        if unknown:
            raise InvalidRequest(f"unknown s3 source setting(s): {', '.join(sorted(unknown))}")
        bucket = config.get("bucket")
        if not isinstance(bucket, str) or not bucket.strip():
            raise InvalidRequest("an s3 source needs 'bucket'")
        out: dict[str, Any] = {"bucket": bucket.strip(), "prefix": str(config.get("prefix") or "")}
        endpoint = config.get("endpoint_url")
        if endpoint:
            parts = urlsplit(str(endpoint))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise InvalidRequest("'endpoint_url' must be an http(s) URL")
            check_host(parts.hostname, allow_private=self.allow_private, unresolvable_ok=True)
            out["endpoint_url"] = str(endpoint).rstrip("/")
        if config.get("region"):
            out["region"] = str(config["region"])
        style = config.get("addressing_style", "auto")
        if style not in ("auto", "path", "virtual"):
            raise InvalidRequest("'addressing_style' is auto, path or virtual")
        out["addressing_style"] = style
        max_items = config.get("max_items", DEFAULT_MAX_ITEMS)
        if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items < 1:
            raise InvalidRequest("'max_items' must be a positive integer")
        out["max_items"] = max_items
        out.update(check_common(config, frozenset({"metadata", "tag"})))
        if any(v is True for v in out.get("permissions", {}).values()):
            raise InvalidRequest(
                "'permissions.metadata' or '.tag' names the key, e.g. ragd-readers"
            )
        return out

    def scan(
        self,
        access: SourceAccess,
        known: Callable[[str], SourceItem | None],  # noqa: ARG002 - listing carries the change key
        report: ScanReport,
        *,
        deadline: float,
    ) -> Iterator[ReadItem]:
        config = self.check(access.config)
        client = self._client(config, access.secret)
        bucket = config["bucket"]
        where = f"s3://{bucket}/{config['prefix']}"
        count = 0
        with _errors(where):
            pages = client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=config["prefix"]
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    key = str(obj["Key"])
                    if key.endswith("/"):
                        continue  # a "folder" marker
                    if time.monotonic() > deadline:
                        report.stop("time limit reached (RAGD_SOURCES_MAX_RUN_SECONDS)")
                        return
                    if count >= config["max_items"]:
                        report.notes.append(f"item limit {config['max_items']} reached")
                        return
                    count += 1
                    item = self._item(client, bucket, key, obj)
                    if config.get("permissions") and item.error is None:
                        _with_readers(client, bucket, item, config["permissions"])
                    yield item

    def _item(self, client: Any, bucket: str, key: str, obj: dict[str, Any]) -> ReadItem:
        size = int(obj.get("Size", 0))
        etag = str(obj.get("ETag", "")).strip('"')
        uri = f"s3://{bucket}/{key}"
        if size > self.max_bytes:
            return ReadItem(
                key=key,
                uri=uri,
                change_key=None,
                error=f"object is {size} bytes, over the {self.max_bytes}-byte limit "
                "(RAGD_MAX_DOCUMENT_BYTES)",
            )

        def load() -> bytes:
            with _errors(uri):
                reply = client.get_object(Bucket=bucket, Key=key)
                body = reply["Body"]
                try:
                    data: bytes = body.read(self.max_bytes + 1)
                finally:
                    body.close()
            if len(data) > self.max_bytes:
                raise InvalidRequest(f"object is over the {self.max_bytes}-byte limit")
            return data

        return ReadItem(key=key, uri=uri, change_key=f"etag:{etag}", size=size, load=load)

    def _client(self, config: dict[str, Any], secret: dict[str, str]) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - boto3 comes with the extra
            raise ConfigError("s3 sources need boto3: pip install 'ragd[sources]'") from exc
        if endpoint := config.get("endpoint_url"):
            host = urlsplit(endpoint).hostname or ""
            check_host(host, allow_private=self.allow_private)
        kwargs: dict[str, Any] = {
            "endpoint_url": config.get("endpoint_url"),
            "region_name": config.get("region") or "us-east-1",
            "config": Config(
                s3={"addressing_style": config["addressing_style"]},
                connect_timeout=self.timeout_seconds,
                read_timeout=self.timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        }
        if secret.get("access_key_id"):
            kwargs["aws_access_key_id"] = secret["access_key_id"]
            kwargs["aws_secret_access_key"] = secret.get("secret_access_key", "")
            if secret.get("session_token"):
                kwargs["aws_session_token"] = secret["session_token"]
        return boto3.session.Session().client("s3", **kwargs)


def _with_readers(client: Any, bucket: str, item: ReadItem, perms: dict[str, str]) -> None:
    """The object's allow-list from its user metadata (``x-amz-meta-<name>``, one HEAD) or
    its tag ``<name>`` (one GetObjectTagging): a request per object, only for a source that
    maps permissions. A failure fails the item (its document keeps its allow-list)."""
    try:
        with _errors(item.uri):
            if "metadata" in perms:
                head = client.head_object(Bucket=bucket, Key=item.key)
                meta = {str(k).lower(): str(v) for k, v in head.get("Metadata", {}).items()}
                raw = meta.get(perms["metadata"].lower())
            else:
                tags = client.get_object_tagging(Bucket=bucket, Key=item.key).get("TagSet", [])
                raw = next((str(t["Value"]) for t in tags if t.get("Key") == perms["tag"]), None)
        item.readers = parse_readers(raw)
    except RagdError as exc:
        item.error = f"cannot read its permissions: {exc}"


class _errors:
    """boto3's failures as ragd errors: a missing object ``NotFound`` (gone since the
    listing), refused credentials or a missing bucket ``ConfigError``, the rest
    ``BackendUnavailable``."""

    def __init__(self, where: str) -> None:
        self.where = where

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, RagdError) or not isinstance(exc, Exception):
            return
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            raise ConfigError(f"no credentials for {self.where}") from exc
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            text = f"{code} {error.get('Message', '')}".strip()
            if code in ("404", "NoSuchKey", "NotFound"):
                raise NotFound(f"{self.where}: {text}") from exc
            if code in _CONFIG_CODES:
                raise ConfigError(f"object storage refused {self.where}: {text}") from exc
            raise BackendUnavailable(f"object storage failed on {self.where}: {text}") from exc
        if isinstance(exc, BotoCoreError):
            raise BackendUnavailable(f"object storage unreachable ({self.where}): {exc}") from exc
