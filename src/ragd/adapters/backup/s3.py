"""S3ObjectStore: backups in any S3-compatible bucket through boto3.

boto3 reads ``AWS_*`` variables itself; they are passed explicitly from the settings so
that ``ragd config``-style reports and the one ``Settings`` object stay the truth, and
left to boto3's chain (IRSA, instance roles, profiles) when unset. Every failure becomes
a ``ragd.errors`` type: an unreachable endpoint is ``BackendUnavailable`` (a retry may
cure it), a missing bucket or refused credentials ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ragd.config import BackupSettings
from ragd.errors import BackendUnavailable, ConfigError, NotFound, RagdError
from ragd.ports.backup import StoredObject

_CONFIG_CODES = {
    "NoSuchBucket",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AllAccessDisabled",
    "PermanentRedirect",
}


class S3ObjectStore:
    """One bucket; keys are used as given (the service adds the prefix)."""

    def __init__(self, client: Any, bucket: str, endpoint_url: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint_url = endpoint_url

    @property
    def location(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}{where}"

    def put(self, key: str, source: Path) -> int:
        with self._errors(key):
            self.client.upload_file(str(source), self.bucket, key)
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        size = int(head["ContentLength"])
        if size != source.stat().st_size:
            raise BackendUnavailable(
                f"{key}: the store holds {size} bytes of {source.stat().st_size} uploaded"
            )
        return size

    def get(self, key: str, dest: Path) -> None:
        with self._errors(key):
            self.client.download_file(self.bucket, key, str(dest))

    def list(self, prefix: str) -> list[StoredObject]:
        found: list[StoredObject] = []
        with self._errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                found.extend(
                    StoredObject(key=o["Key"], size=int(o["Size"]))
                    for o in page.get("Contents", [])
                )
        return found

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):  # the API's limit per request
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            with self._errors(batch[0]["Key"]):
                reply = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if errors := reply.get("Errors"):
                first = errors[0]
                raise BackendUnavailable(
                    f"could not delete {len(errors)} backup(s), e.g. {first.get('Key')}: "
                    f"{first.get('Code')} {first.get('Message')}"
                )

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (ClientError, BotoCoreError, Boto3Error) as exc:
            # boto3's transfers wrap the ClientError that says what went wrong.
            inner = exc.__cause__ or exc.__context__
            cause = inner if isinstance(exc, Boto3Error) and inner is not None else exc
            raise self._translate(cause, key) from exc

    def _translate(self, exc: BaseException, key: str) -> RagdError:
        from botocore.exceptions import ClientError, NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            return ConfigError(
                "no credentials for the backup bucket: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or give the pod a role (IRSA)"
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return NotFound(f"{key} is not in {self.location}")
            text = f"{self.location}: {code} {error.get('Message', '')}".strip()
            if code in _CONFIG_CODES:
                return ConfigError(f"object storage refused {key}: {text}")
            return BackendUnavailable(f"object storage failed on {key}: {text}")
        return BackendUnavailable(f"object storage unreachable ({self.location}): {exc}")


def build(section: BackupSettings) -> S3ObjectStore:
    """The bucket ``RAGD_BACKUP_BUCKET`` names; opens no connection yet."""
    if not section.bucket:
        raise ConfigError("backups need RAGD_BACKUP_BUCKET (and AWS_ENDPOINT_URL for non-AWS S3)")
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise ConfigError("backups need boto3: pip install 'ragd[backup]'") from exc
    secret = section.secret_access_key
    client = boto3.client(
        "s3",
        endpoint_url=section.endpoint_url or None,
        region_name=section.region or None,
        aws_access_key_id=section.access_key_id or None,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            s3={"addressing_style": section.addressing_style},
        ),
    )
    return S3ObjectStore(client, section.bucket, section.endpoint_url)
