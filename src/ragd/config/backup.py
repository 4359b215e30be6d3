"""Backups: where ``ragd backup`` uploads and how many it keeps.

The object storage is anything that speaks S3 (AWS S3, MinIO, Ceph, GCS's XML API, R2).
Its endpoint, region and credentials use the AWS SDK's standard names, so the variables
an operator already sets for ``aws s3 cp`` work unchanged; unset credentials leave boto3
its own chain (IRSA, an instance role, ``~/.aws``). Only the bucket, the prefix and the
retention have no standard name and carry the ``RAGD_`` prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from ragd.config.section import Section, env


class BackupSettings(Section):
    """What ``ragd backup`` and ``ragd restore`` read (see ``BackupFields`` for each)."""

    bucket: str | None = Field(validation_alias="backup_bucket")
    prefix: str = Field(validation_alias="backup_prefix")
    endpoint_url: str | None = Field(validation_alias="backup_endpoint_url")
    region: str | None = Field(validation_alias="backup_region")
    access_key_id: str | None = Field(validation_alias="aws_access_key_id")
    secret_access_key: SecretStr | None = Field(validation_alias="aws_secret_access_key")
    addressing_style: Literal["auto", "path", "virtual"] = Field(
        validation_alias="backup_s3_addressing_style"
    )
    keep_daily: int = Field(validation_alias="backup_keep_daily")
    keep_weekly: int = Field(validation_alias="backup_keep_weekly")
    work_dir: Path | None = Field(validation_alias="backup_work_dir")
    pg_bin_dir: Path | None


class BackupFields(BaseModel):
    """The environment variables of ``BackupSettings``."""

    backup_bucket: str | None = Field(None, validation_alias=env("RAGD_BACKUP_BUCKET"))
    """The bucket backups go to; unset: ``ragd backup`` refuses to run."""
    backup_prefix: str = Field("ragd/", validation_alias=env("RAGD_BACKUP_PREFIX"))
    """Key prefix inside the bucket (one per installation when several share a bucket)."""
    backup_endpoint_url: str | None = Field(
        None, validation_alias=env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )
    """An S3-compatible server (MinIO: ``http://minio:9000``); unset: AWS S3."""
    backup_region: str | None = Field(
        None, validation_alias=env("AWS_REGION", "AWS_DEFAULT_REGION")
    )
    aws_access_key_id: str | None = Field(None, validation_alias=env("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=env("AWS_SECRET_ACCESS_KEY")
    )
    """Static credentials; unset: boto3's own chain (IRSA, instance role, profile)."""
    backup_s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        "auto", validation_alias=env("RAGD_BACKUP_S3_ADDRESSING_STYLE")
    )
    """``path`` for servers without virtual-host buckets (MinIO, Ceph without DNS)."""
    backup_keep_daily: int = Field(7, ge=0, validation_alias=env("RAGD_BACKUP_KEEP_DAILY"))
    backup_keep_weekly: int = Field(4, ge=0, validation_alias=env("RAGD_BACKUP_KEEP_WEEKLY"))
    """Retention after each backup: the newest backup of each of the last N days and of
    each of the last M ISO weeks that have one; the newest backup is always kept."""
    backup_work_dir: Path | None = Field(None, validation_alias=env("RAGD_BACKUP_WORK_DIR"))
    """Where a backup is staged before upload (needs room for one backup); unset: the
    system's temporary directory."""
    pg_bin_dir: Path | None = Field(None, validation_alias=env("RAGD_PG_BIN_DIR", "PG_BIN_DIR"))
    """Directory of ``pg_dump`` and ``pg_restore`` (as new as the server or newer);
    unset: the ones on ``PATH`` (the image ships PostgreSQL 17's client)."""

    @property
    def backup(self) -> BackupSettings:
        return BackupSettings.of(self)
