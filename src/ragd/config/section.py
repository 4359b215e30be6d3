"""What every section of the settings shares.

The environment is read by one flat ``Settings`` class (one field per variable, so
``.env`` files, validation and ``Settings(data_dir=...)`` keep working the way they
always did). A section is a frozen, typed view of the fields one subsystem uses, read off
that flat object: builders take their section, never the whole ``Settings``.

A section field named differently from its flat field says where it comes from with
``validation_alias`` (``backend`` ← ``vector_store_type``); ``sources()`` lists the mapping,
and a unit test checks that every flat field belongs to exactly one section.
"""

from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict


def env(*names: str) -> AliasChoices:
    """The environment variable(s) a flat field is read from, first match wins."""
    return AliasChoices(*names)


class Section(BaseModel):
    """A frozen view of some flat settings fields; no defaults of its own, so the flat
    field stays the one place where a default or a constraint is written."""

    model_config = ConfigDict(frozen=True, from_attributes=True, populate_by_name=True)

    @classmethod
    def of(cls, settings: object) -> Self:
        """The section read off ``settings``' flat fields (already validated there)."""
        return cls.model_validate(settings, from_attributes=True)

    @classmethod
    def sources(cls) -> dict[str, str]:
        """Each section field → the flat ``Settings`` field it is read from."""
        return {
            name: alias if isinstance(alias := f.validation_alias, str) else name
            for name, f in cls.model_fields.items()
        }
