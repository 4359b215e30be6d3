"""ImageStore port: the previews of a document's image chunks, served as thumbnails.

Written in the Store transaction that replaces the document's chunks (so a new version's
images replace the old ones atomically), deleted with the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ragd.domain.models import DocumentImage, TenantId
from ragd.ports.store import Transaction


class ImageStore(Protocol):
    def replace_images(
        self,
        tx: Transaction,
        tenant: TenantId,
        document_id: str,
        images: Sequence[DocumentImage],
    ) -> None:
        """Delete the document's images and insert these, in the caller's transaction."""
        ...

    def get_image(self, tenant: TenantId, document_id: str, key: str) -> DocumentImage | None:
        """The image, or None (another tenant's is simply absent)."""
        ...
