"""SqlImageStore: image chunks' previews in the Store's ``chunk_images`` table (0013)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert, select

from ragd.adapters.sql.database import Database
from ragd.adapters.sql.rls import scoped
from ragd.adapters.sql.schema import chunk_images
from ragd.domain.models import DocumentImage, TenantId
from ragd.errors import InvalidRequest
from ragd.ports.store import Transaction


class SqlImageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def replace_images(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        images: Sequence[DocumentImage],
    ) -> None:
        conn = scoped(tx, tenant)
        conn.execute(
            delete(chunk_images).where(
                chunk_images.c.tenant_id == tenant, chunk_images.c.document_id == document_id
            )
        )
        if len({i.key for i in images}) != len(images):
            raise InvalidRequest("two images of one document share a key")
        for image in images:  # one row at a time: each may be a few hundred kB
            conn.execute(
                insert(chunk_images).values(
                    document_id=document_id,
                    image_key=image.key,
                    tenant_id=tenant,
                    media_type=image.media_type,
                    data=image.data,
                )
            )

    def get_image(self, tenant: TenantId, document_id: str, key: str) -> DocumentImage | None:
        row = self.db.run_read(
            lambda conn: conn.execute(
                select(chunk_images.c.media_type, chunk_images.c.data).where(
                    chunk_images.c.tenant_id == tenant,
                    chunk_images.c.document_id == document_id,
                    chunk_images.c.image_key == key,
                )
            ).first(),
            tenant,
        )
        if row is None:
            return None
        return DocumentImage(key=key, data=bytes(row[1]), media_type=str(row[0]))
