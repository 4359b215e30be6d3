"""A real S3-compatible server for tests: moto's server mode on loopback.

``moto[server]`` (pinned in the ``test`` extra) answers the S3 REST API over HTTP, so the
backup adapter is exercised through boto3 exactly as against AWS or MinIO: signing,
multipart uploads, pagination, batch deletes. Each test gets a server of its own on a free
port and a fresh bucket: moto keeps its buckets in process-global state, shared by every
server started in the test process, so the bucket's name is unique per server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BUCKET_PREFIX = "ragd-backups"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        """The environment ``ragd backup`` reads to reach this server."""
        return {
            "RAGD_BACKUP_BUCKET": self.bucket,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "RAGD_BACKUP_S3_ADDRESSING_STYLE": "path",
        }

    def client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def keys(self) -> list[str]:
        reply = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in reply.get("Contents", []))


@contextmanager
def s3_server(bucket: str | None = None) -> Iterator[S3Server]:
    import uuid

    from moto.server import ThreadedMotoServer

    bucket = bucket or f"{BUCKET_PREFIX}-{uuid.uuid4().hex[:12]}"

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(endpoint=f"http://{host}:{port}", bucket=bucket)
        s3.client().create_bucket(Bucket=bucket)
        yield s3
    finally:
        server.stop()
