"""The knowledge graph: whether it is built, where it lives, and how retrieval walks it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from ragd.config.section import Section, env

GraphStoreName = Literal["sql", "neo4j"]
GraphExtractorName = Literal["auto", "rules", "llm"]


class GraphSettings(Section):
    """The graph stage of ingestion (entities and relations per chunk) and the ``graph``
    and ``hybrid+graph`` retrieval modes (docs/graph.md)."""

    enabled: bool = Field(validation_alias="graph_enabled")
    store: GraphStoreName = Field(validation_alias="graph_store")
    extractor: GraphExtractorName = Field(validation_alias="graph_extractor")
    llm_batch: int = Field(validation_alias="graph_llm_batch")
    hops: int = Field(validation_alias="graph_hops")
    max_edges: int = Field(validation_alias="graph_max_edges")
    max_chunks: int = Field(validation_alias="graph_max_chunks")
    weight: float = Field(validation_alias="graph_weight")
    name_similarity: float = Field(validation_alias="graph_name_similarity")
    min_score: float = Field(validation_alias="graph_min_score")
    neo4j_uri: str | None
    neo4j_username: str
    neo4j_password: SecretStr | None
    neo4j_database: str | None


class GraphFields(BaseModel):
    """The environment variables of ``GraphSettings``."""

    graph_enabled: bool = Field(False, validation_alias=env("RAGD_GRAPH_ENABLED"))
    graph_store: GraphStoreName = Field("sql", validation_alias=env("RAGD_GRAPH_STORE"))
    graph_extractor: GraphExtractorName = Field(
        "auto", validation_alias=env("RAGD_GRAPH_EXTRACTOR")
    )
    """``auto``: the configured LLM when LLM_PROVIDER is a served model (not ``extractive``
    or ``llamacpp``), else the offline rules."""
    graph_llm_batch: int = Field(8, ge=1, le=64, validation_alias=env("RAGD_GRAPH_LLM_BATCH"))
    graph_hops: int = Field(2, ge=1, le=2, validation_alias=env("RAGD_GRAPH_HOPS"))
    graph_max_edges: int = Field(30, ge=1, le=500, validation_alias=env("RAGD_GRAPH_MAX_EDGES"))
    graph_max_chunks: int = Field(50, ge=1, le=1000, validation_alias=env("RAGD_GRAPH_MAX_CHUNKS"))
    graph_weight: float = Field(1.0, ge=0, le=10, validation_alias=env("RAGD_GRAPH_WEIGHT"))
    graph_name_similarity: float = Field(
        0.8, ge=0, le=1, validation_alias=env("RAGD_GRAPH_NAME_SIMILARITY")
    )
    graph_min_score: float = Field(0.25, ge=0, validation_alias=env("RAGD_GRAPH_MIN_SCORE"))
    """A chunk the walk scores lower (1 = mentions a seed named in one chunk) is left out."""
    neo4j_uri: str | None = Field(None, validation_alias=env("NEO4J_URI"))
    neo4j_username: str = Field("neo4j", validation_alias=env("NEO4J_USERNAME", "NEO4J_USER"))
    neo4j_password: SecretStr | None = Field(None, validation_alias=env("NEO4J_PASSWORD"))
    neo4j_database: str | None = Field(None, validation_alias=env("NEO4J_DATABASE"))

    @property
    def graph(self) -> GraphSettings:
        return GraphSettings.of(self)
