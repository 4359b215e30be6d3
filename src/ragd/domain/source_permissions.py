"""Where a synced source's documents go and who may read them: the settings every kind of
source shares (``collection``, ``permissions``) and the parsing of a source's own
permission field into a document allow-list.

A source names its target ``collection`` (default: ``default``). With ``permissions`` set,
each item's own permission field (an S3 object's metadata key or tag, a file's sidecar or
POSIX group, a web page's ``<meta name="ragd-readers">``) becomes its document's
allow-list on every run, whether or not the content changed. The field holds ragd
principals separated by commas or whitespace (``u:<user id>``, ``g:<group id>``, ``*``);
an absent or empty field means no allow-list (everyone who may read the collection). A
value that is not a list of principals fails the item (its document keeps the allow-list
it had): dropping the bad part could widen who reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ragd.domain.access import DEFAULT_COLLECTION, MAX_READERS, check_slug, readers_of
from ragd.errors import InvalidRequest

COMMON_SETTINGS = frozenset({"collection", "permissions"})
"""Settings of every kind of source, checked here; each reader checks its own."""

MAX_FIELD_CHARS = 16_384
"""A permission field longer than this fails its item (bounded parsing)."""

_SPLIT = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class SourceTarget:
    """The collection a source's documents go to and whether its items carry readers."""

    collection: str = DEFAULT_COLLECTION
    maps_readers: bool = False


def check_common(config: dict[str, Any], permission_keys: frozenset[str]) -> dict[str, Any]:
    """``collection`` and ``permissions``, validated (``permission_keys``: what the kind
    accepts inside ``permissions``); returns them normalised, without the other settings."""
    out: dict[str, Any] = {}
    collection = config.get("collection")
    if collection is not None:
        out["collection"] = check_slug(collection, "collection")
    perms = config.get("permissions")
    if perms is None:
        return out
    if not isinstance(perms, dict) or not perms:
        raise InvalidRequest('\'permissions\' must be an object, e.g. {"metadata": "ragd-readers"}')
    unknown = set(perms) - permission_keys
    if not permission_keys:
        raise InvalidRequest("this kind of source cannot map permissions")
    if unknown or len(perms) != 1:
        choices = ", ".join(sorted(permission_keys))
        raise InvalidRequest(f"'permissions' takes exactly one of: {choices}")
    ((name, value),) = perms.items()
    if isinstance(value, bool):
        if not value:
            raise InvalidRequest(f"'permissions.{name}' is true or a field name")
    elif not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
        raise InvalidRequest(
            f"'permissions.{name}' must be a field name of 1-128 letters, digits, '.', '_' or '-'"
        )
    out["permissions"] = {name: value}
    return out


def target_of(config: dict[str, Any]) -> SourceTarget:
    return SourceTarget(
        collection=str(config.get("collection") or DEFAULT_COLLECTION),
        maps_readers=bool(config.get("permissions")),
    )


def parse_readers(raw: str | None) -> tuple[str, ...]:
    """A permission field's value as a canonical allow-list (``InvalidRequest`` for one
    that is not a list of principals)."""
    if raw is None:
        return ()
    if len(raw) > MAX_FIELD_CHARS:
        raise InvalidRequest(f"the permission field is over {MAX_FIELD_CHARS} characters")
    values = [v for v in _SPLIT.split(raw.strip()) if v]
    if len(values) > MAX_READERS:
        raise InvalidRequest(f"the permission field names over {MAX_READERS} principals")
    return readers_of(values)
