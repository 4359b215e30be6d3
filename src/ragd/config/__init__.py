"""ragd's configuration: the flat, environment-reading ``Settings`` and its sections."""

from ragd.config.backup import BackupSettings
from ragd.config.graph import GraphSettings
from ragd.config.index import IndexSettings
from ragd.config.ingest import IngestSettings
from ragd.config.llm import AnswerSettings, LLMSettings
from ragd.config.models import EmbeddingSettings, RerankSettings
from ragd.config.observability import ObservabilitySettings
from ragd.config.ocr import OcrSettings
from ragd.config.providers import ProviderSettings
from ragd.config.retrieval import RetrievalMode, RetrievalSettings
from ragd.config.section import Section
from ragd.config.service import ApiSettings, AuthSettings, CacheSettings, LimitsSettings
from ragd.config.settings import SECTIONS, Settings, get_settings
from ragd.config.sources import SourcesSettings
from ragd.config.storage import StorageSettings
from ragd.config.webhooks import WebhookSettings

__all__ = [
    "SECTIONS",
    "AnswerSettings",
    "ApiSettings",
    "AuthSettings",
    "BackupSettings",
    "CacheSettings",
    "EmbeddingSettings",
    "GraphSettings",
    "IndexSettings",
    "IngestSettings",
    "LLMSettings",
    "LimitsSettings",
    "ObservabilitySettings",
    "OcrSettings",
    "ProviderSettings",
    "RerankSettings",
    "RetrievalMode",
    "RetrievalSettings",
    "Section",
    "Settings",
    "SourcesSettings",
    "StorageSettings",
    "WebhookSettings",
    "get_settings",
]
