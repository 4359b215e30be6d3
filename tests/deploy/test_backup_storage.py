"""``ragd backup``'s upload, rotation and pick-by-date against a real S3-compatible server.

The server is moto in server mode on loopback (tests/objectstore.py); the service is the
one ``ragd backup`` builds (``build_backup``: the S3 adapter through boto3 and the SQLite
dump), with only its clock moved so that 40 nights of backups take a second.
"""

from __future__ import annotations

import sqlite3
import tarfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ragd.config import Settings
from ragd.domain.backups import BackupEntry, pick, retained
from ragd.errors import ConfigError, InvalidRequest, NotFound
from ragd.services.backup import BackupService
from ragd.services.container import build_backup
from tests.objectstore import S3Server, s3_server

pytestmark = [pytest.mark.deploy]


@pytest.fixture
def s3() -> S3Server:
    with s3_server() as server:
        yield server


def service(s3: S3Server, data: Path, **extra: object) -> BackupService:
    env = {k.lower(): v for k, v in s3.env().items()}
    fields = {
        "backup_bucket": env["ragd_backup_bucket"],
        "backup_endpoint_url": env["aws_endpoint_url"],
        "backup_region": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "backup_s3_addressing_style": "path",
    }
    settings = Settings(data_dir=data, database_url=None, **{**fields, **extra})  # type: ignore[arg-type]
    return build_backup(settings)


def write_db(data: Path, marker: str) -> None:
    data.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(data / "ragd.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS t (v TEXT)")
        db.execute("DELETE FROM t")
        db.execute("INSERT INTO t VALUES (?)", (marker,))


def read_db(data: Path) -> str:
    with sqlite3.connect(data / "ragd.db") as db:
        return str(db.execute("SELECT v FROM t").fetchone()[0])


def test_nightly_backups_are_rotated_to_7_daily_and_4_weekly(s3: S3Server, tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = service(s3, data)
    start = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)  # a Thursday
    made: list[BackupEntry] = []
    for night in range(40):
        now = start + timedelta(days=night)
        write_db(data, f"night {night}")
        svc.clock = lambda now=now: now
        made.append(svc.backup().entry)
        if night == 20:  # a manual backup the same day: the day keeps its newest
            svc.clock = lambda now=now: now + timedelta(hours=9)
            made.append(svc.backup().entry)

    stored = svc.entries()
    expected = retained(made, daily=7, weekly=4)
    assert {e.key for e in stored} == {e.key for e in expected}
    assert s3.keys() == sorted(e.key for e in expected)
    days = sorted({e.created_at.date() for e in stored})
    last = (start + timedelta(days=39)).date()
    # The seven newest nights (Tue 3 to Mon 9 November: two ISO weeks), and the newest
    # backup of each of the two weeks before: the Sundays 1 November and 25 October.
    assert days[-7:] == [last - timedelta(days=d) for d in range(6, -1, -1)]
    assert days[:-7] == [date(2026, 10, 25), date(2026, 11, 1)]
    assert len({e.created_at.isocalendar()[:2] for e in stored}) == 4
    assert all(e.size > 0 for e in stored)


def test_restore_by_date_picks_that_days_backup(s3: S3Server, tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = service(s3, data)
    for day, marker in ((1, "first"), (2, "second"), (2, "second, later"), (3, "third")):
        write_db(data, marker)
        svc.clock = lambda day=day, m=marker: datetime(2026, 12, day, 2 + len(m), tzinfo=UTC)
        svc.backup()

    # A Store with data is not replaced without --force.
    with pytest.raises(InvalidRequest, match="--force"):
        svc.restore(on=date(2026, 12, 1))
    report = svc.restore(on=date(2026, 12, 2), force=True)
    assert read_db(data) == "second, later"
    assert report.entry.created_at.date() == date(2026, 12, 2)
    assert list(data.glob("ragd.db.before-restore-*")), "the replaced file was kept aside"

    for aside in data.glob("ragd.db.before-restore-*"):
        aside.unlink()
    (data / "ragd.db").unlink()  # the disaster: nothing to force over
    svc.restore(on=date(2026, 12, 1))
    assert read_db(data) == "first"
    svc.restore(force=True)  # no date: the newest
    assert read_db(data) == "third"

    with pytest.raises(NotFound, match=r"2026-12-03, 2026-12-02, 2026-12-01"):
        svc.restore(on=date(2026, 11, 30), force=True)


def test_a_damaged_backup_is_refused_before_the_store_is_touched(
    s3: S3Server, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_db(data, "kept")
    svc = service(s3, data)
    entry = svc.backup().entry
    archive = tmp_path / "a.tar.gz"
    s3.client().download_file(s3.bucket, entry.key, str(archive))
    # Rewrite the archive with one byte of the database flipped (a valid tar, bad data).
    unpacked = tmp_path / "x"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    raw = bytearray((unpacked / "ragd.db").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (unpacked / "ragd.db").write_bytes(bytes(raw))
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(unpacked.iterdir()):
            tar.add(path, arcname=path.name)
    s3.client().upload_file(str(archive), s3.bucket, entry.key)
    (data / "ragd.db").unlink()
    with pytest.raises(InvalidRequest, match="damaged"):
        svc.restore()
    assert not (data / "ragd.db").exists()

    s3.client().put_object(Bucket=s3.bucket, Key=entry.key, Body=b"not a tarball")
    with pytest.raises(InvalidRequest, match="not a readable ragd backup"):
        svc.restore()


def test_settings_that_cannot_work_are_refused_with_one_line(s3: S3Server, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="RAGD_BACKUP_BUCKET"):
        build_backup(Settings(data_dir=tmp_path, database_url=None))  # type: ignore[call-arg]
    svc = service(s3, tmp_path, backup_bucket="no-such-bucket")
    write_db(tmp_path, "x")
    with pytest.raises(ConfigError, match="NoSuchBucket"):
        svc.backup()
    dead = service(s3, tmp_path, backup_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(Exception) as caught:
        dead.entries()
    assert type(caught.value).__name__ == "BackendUnavailable"


def test_pick_and_retention_edge_cases() -> None:
    assert retained([], daily=7, weekly=4) == set()
    one = BackupEntry(datetime(2026, 1, 1, tzinfo=UTC), "ragd/ragd-backup-20260101T000000Z.tar.gz")
    assert retained([one], daily=0, weekly=0) == {one}  # the newest is always kept
    assert pick([one], name="ragd-backup-20260101T000000Z") == one
    with pytest.raises(NotFound, match="no backup exists yet"):
        pick([], on=date(2026, 1, 1))
