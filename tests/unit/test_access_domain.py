"""The permission nouns: levels, principals, allow-lists, narrowing and fingerprints."""

from __future__ import annotations

import pytest

from ragd.domain.access import (
    Access,
    AccessFilter,
    CollectionSettings,
    Level,
    check_principal,
    check_slug,
    readers_of,
)
from ragd.domain.filters import SearchFilters
from ragd.domain.models import TenantId
from ragd.errors import InvalidRequest

T = TenantId("t")


def test_levels_include_the_ones_below() -> None:
    bob = Access(T, {"hr": Level.WRITE}, ("*", "u:bob"))
    assert bob.can("hr") and bob.can("hr", Level.WRITE) and not bob.can("hr", Level.MANAGE)
    assert not bob.can("legal")
    assert Access(T).can("anything", Level.MANAGE)


def test_allow_lists_and_admin_narrowing() -> None:
    bob = Access(T, {"hr": Level.READ}, ("*", "u:bob", "g:leads"))
    assert bob.may_read_document("hr", ())
    assert bob.may_read_document("hr", ("g:leads",))
    assert not bob.may_read_document("hr", ("u:ann",))
    assert not bob.may_read_document("legal", ())
    admin = Access(T).narrowed(["hr"])
    assert admin.may_read_document("hr", ("u:ann",)) and not admin.may_read_document("x", ())
    assert admin.index_filter() == AccessFilter(("hr",), None)
    # narrowing never adds a right
    assert bob.narrowed(["hr", "legal"]).collections == {"hr": Level.READ}
    assert bob.narrowed(None) is bob


def test_fingerprint_separates_different_rights_only() -> None:
    a = Access(T, {"hr": Level.READ, "x": Level.WRITE}, ("*", "u:a"))
    same = Access(T, {"x": Level.MANAGE, "hr": Level.READ}, ("u:a", "*"))
    assert a.fingerprint() == same.fingerprint()  # levels do not change what is readable
    assert a.fingerprint() != Access(T, {"hr": Level.READ}, ("*", "u:a")).fingerprint()
    assert a.fingerprint() != Access(T, {"hr": Level.READ, "x": Level.READ}, ("*",)).fingerprint()
    assert Access(T).fingerprint() == "all"
    # the answer cache keys on repr(filters): the access filter is part of it
    assert repr(SearchFilters(access=a.index_filter())) != repr(SearchFilters())


@pytest.mark.parametrize("bad", ["", "Upper", "has space", "a,b", "-x", "x" * 64, "é"])
def test_ids_are_plain_slugs(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        check_slug(bad, "collection")


@pytest.mark.parametrize("bad", ["bob", "u:", "g:Bad", "u:a,b", "**", "admin", "g:a b"])
def test_principals_are_checked(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        check_principal(bad)


def test_readers_are_canonical_and_bounded() -> None:
    assert readers_of(["u:b", "g:x", "u:b"]) == ("g:x", "u:b")
    assert readers_of(None) == () and readers_of([]) == ()
    with pytest.raises(InvalidRequest):
        readers_of("u:b")
    with pytest.raises(InvalidRequest):
        readers_of([f"u:{i}" for i in range(201)])


def test_collection_settings() -> None:
    s = CollectionSettings.from_mapping({"chunk_size": 256, "retrieval_mode": "dense"})
    assert s.as_dict() == {"chunk_size": 256, "retrieval_mode": "dense"}
    assert CollectionSettings.from_mapping(None).as_dict() == {}
    for bad in ({"chunk_size": 5}, {"chunk_size": True}, {"retrieval_mode": "x"}, {"nope": 1}):
        with pytest.raises(InvalidRequest):
            CollectionSettings.from_mapping(bad)


def test_reserved_metadata_keys_are_refused() -> None:
    from ragd.domain.metadata import check_metadata

    with pytest.raises(InvalidRequest, match="reserved"):
        check_metadata({"_ragd_c": "hr"})
    with pytest.raises(InvalidRequest):
        SearchFilters.from_mapping({"metadata": {"_ragd_c": "hr"}})


def test_a_keys_role_caps_levels_and_never_widens() -> None:
    from ragd.domain.access import level_cap
    from ragd.domain.accounts import Role, effective_role

    assert effective_role(Role.TENANT_ADMIN, Role.READER) == Role.READER
    assert effective_role(Role.EDITOR, Role.TENANT_ADMIN) == Role.EDITOR  # never above
    assert effective_role(Role.EDITOR, None) == Role.EDITOR
    eve = Access(T, {"hr": Level.MANAGE, "ops": Level.WRITE, "pub": Level.READ}, ("u:eve",))
    as_reader = eve.capped(level_cap(Role.READER))
    assert as_reader.readable() == eve.readable()
    assert not any(as_reader.can(c, Level.WRITE) for c in ("hr", "ops", "pub"))
    as_editor = eve.capped(level_cap(Role.EDITOR))
    assert as_editor.can("hr", Level.WRITE) and not as_editor.can("hr", Level.MANAGE)
    assert as_editor.can("ops", Level.WRITE) and not as_editor.can("pub", Level.WRITE)
    assert eve.capped(level_cap(Role.TENANT_ADMIN)) == eve
    assert as_reader.fingerprint() == eve.fingerprint()  # the same rows: the same cache
