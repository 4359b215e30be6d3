"""Wire shapes of collections, groups, grants and API-key scopes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ragd.domain.access import Collection, Grant, Group
from ragd.domain.accounts import Role


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CollectionIn(_Strict):
    id: str = Field(min_length=1, max_length=63, description="lower-case letters, digits, _ -")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    settings: dict[str, Any] = Field(
        default_factory=dict, description="chunk_size (32-8192), retrieval_mode"
    )


class CollectionPatch(_Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=2000)
    settings: dict[str, Any] | None = None


class CollectionOut(BaseModel):
    id: str
    name: str
    description: str
    settings: dict[str, Any]
    documents: int
    created_at: datetime

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(
            id=c.id,
            name=c.name,
            description=c.description,
            settings=c.settings.as_dict(),
            documents=c.documents,
            created_at=c.created_at,
        )


class GroupIn(_Strict):
    id: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=200)


class GroupOut(BaseModel):
    id: str
    name: str
    members: list[str]
    created_at: datetime

    @classmethod
    def of(cls, g: Group) -> GroupOut:
        return cls(id=g.id, name=g.name, members=list(g.members), created_at=g.created_at)


class GrantIn(_Strict):
    principal: str = Field(
        min_length=1, max_length=80, description="u:<user id>, g:<group id> or * (everyone)"
    )
    level: Literal["read", "write", "manage"] | None = Field(
        description="null revokes the principal's grant"
    )


class GrantOut(BaseModel):
    collection: str
    principal: str
    level: str
    created_at: datetime

    @classmethod
    def of(cls, g: Grant) -> GrantOut:
        return cls(
            collection=g.collection_id,
            principal=g.principal,
            level=g.level.value,
            created_at=g.created_at,
        )


class KeyScopeIn(_Strict):
    collections: list[str] | None = Field(
        max_length=200, description="The only collections the key reaches; null: no limit"
    )


class KeyRoleIn(_Strict):
    role: Role | None = Field(
        description="The most the key may do (reader, editor, tenant_admin, platform_admin; "
        "at most its user's role); null: no limit beyond the user's role"
    )
