"""Settings: one object, built once, passed down, and read by each subsystem as its section.

Environment names are those of docs/architecture.md#configuration-names (shared with the
reference deployments); names that only ragd has carry a ``RAGD_`` prefix. Defaults are
the embedded mode: SQLite under ``./ragd-data`` and the ONNX MiniLM model shipped as a
Python package.

``Settings`` is the one class that reads the environment (and ``.env``): its fields are
flat, one per variable, declared beside their section in this package's modules
(``storage``, ``index``, ``retrieval``, ``models``, ``ingest``, ``llm``, ``providers``,
``service``, ``observability``, ``backup``, ``webhooks``, ``graph``). Each section
(``settings.index``, ...) is a frozen, typed view built from those fields on access, a
few microseconds, so a ``model_copy`` or an assignment is never served a stale section.
Sections are ``BaseModel`` views rather than nested ``BaseSettings``: a nested
``BaseSettings`` is not filled from the parent's ``.env`` (pydantic-settings issue #279).
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Self

from pydantic import PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ragd.config import compat
from ragd.config.backup import BackupFields, BackupSettings
from ragd.config.graph import GraphFields, GraphSettings
from ragd.config.images import ImageFields, ImageSettings, VisionSettings
from ragd.config.index import IndexFields, IndexSettings
from ragd.config.ingest import IngestFields, IngestSettings
from ragd.config.llm import AnswerFields, AnswerSettings, LLMFields, LLMSettings
from ragd.config.models import EmbeddingFields, EmbeddingSettings, RerankFields, RerankSettings
from ragd.config.observability import ObservabilityFields, ObservabilitySettings
from ragd.config.ocr import OcrFields, OcrSettings
from ragd.config.providers import ProviderFields, ProviderSettings
from ragd.config.retrieval import RetrievalFields, RetrievalSettings
from ragd.config.section import Section
from ragd.config.service import (
    ApiFields,
    ApiSettings,
    AuthFields,
    AuthSettings,
    CacheFields,
    CacheSettings,
    LimitsFields,
    LimitsSettings,
)
from ragd.config.sources import SourcesFields, SourcesSettings
from ragd.config.storage import StorageFields, StorageSettings
from ragd.config.webhooks import WebhookFields, WebhookSettings

SECTIONS: dict[str, type[Section]] = {
    "storage": StorageSettings,
    "index": IndexSettings,
    "retrieval": RetrievalSettings,
    "embedding": EmbeddingSettings,
    "rerank": RerankSettings,
    "ingest": IngestSettings,
    "ocr": OcrSettings,
    "images": ImageSettings,
    "vision": VisionSettings,
    "llm": LLMSettings,
    "answer": AnswerSettings,
    "providers": ProviderSettings,
    "cache": CacheSettings,
    "limits": LimitsSettings,
    "authentication": AuthSettings,
    "observability": ObservabilitySettings,
    "api": ApiSettings,
    "backup": BackupSettings,
    "sources": SourcesSettings,
    "webhooks": WebhookSettings,
    "graph": GraphSettings,
}
"""Every section, by the ``Settings`` attribute that builds it."""


class Settings(  # pydantic lists the fields of the last base first: storage, index, ...
    SourcesFields,
    WebhookFields,
    GraphFields,
    BackupFields,
    ObservabilityFields,
    ApiFields,
    AuthFields,
    LimitsFields,
    CacheFields,
    ProviderFields,
    AnswerFields,
    LLMFields,
    ImageFields,
    OcrFields,
    IngestFields,
    RerankFields,
    EmbeddingFields,
    RetrievalFields,
    IndexFields,
    StorageFields,
    BaseSettings,
):
    """Every knob of ragd; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, populate_by_name=True
    )

    _notes: list[tuple[str, str]] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _guide_meanings(self) -> Self:
        """The guides' names read with their meaning (``ragd.config.compat``)."""
        self._notes = compat.apply(self)
        return self

    @property
    def derivations(self) -> list[tuple[str, str]]:
        """``(field, how)`` for each value filled from a guide's name, not its own."""
        return list(self._notes)

    def sections(self) -> dict[str, Section]:
        """Every section, by its attribute name, for what must see all of them (the error
        reporter scrubs every configured secret, whichever subsystem it belongs to)."""
        return {name: getattr(self, name) for name in SECTIONS}

    @property
    def auth_required(self) -> bool:
        if self.auth is not None:
            return self.auth == "required"
        loopback = self.api_host in ("127.0.0.1", "localhost", "::1")
        return not (loopback and self.vector_store_type == "sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return self.api.cors_origin_list

    @property
    def runs_embedded_worker(self) -> bool:
        if self.embedded_worker is not None:
            return self.embedded_worker
        # A SQLite Store is the embedded mode, whichever index (Qdrant's local mode, too,
        # admits one process, so its sync must run inside the server).
        return self.sqlalchemy_url.startswith("sqlite")

    @property
    def embedded_worker_in_process(self) -> bool:
        """The embedded worker runs in a child process (``api.embedded_worker``), not on a
        thread: ``RAGD_EMBEDDED_WORKER_MODE``, by default unless the index is Qdrant's local
        mode (on disk it admits one process, in memory it is one process's; the worker
        writes it)."""
        if self.embedded_worker_mode != "auto":
            return self.embedded_worker_mode == "process"
        local_qdrant = self.qdrant_url in (None, "", ":memory:")
        return not (self.vector_store_type == "qdrant" and local_qdrant)

    @property
    def exports_traces(self) -> bool:
        """Traces leave the process only with an endpoint and ``TRACING_ENABLED`` on."""
        return self.observability.exports_traces

    @property
    def sqlalchemy_url(self) -> str:
        """The Store's database: DATABASE_URL, or the SQLite file in the data dir."""
        return self.storage.sqlalchemy_url


log = logging.getLogger("ragd.config")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use, and audited:
    a refused setting raises (``ConfigRefused``, one line per problem), each warning is
    logged once per process.

    Raises:
        ConfigRefused: what ``ragd config check`` reports as errors.
    """
    from ragd.config.audit import audit

    settings = Settings()
    report = audit(settings)
    report.raise_on_errors()
    for warning in report.warnings:
        log.warning("configuration: %s", warning)
    return settings
