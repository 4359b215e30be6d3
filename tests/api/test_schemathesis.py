"""Property-based fuzzing of every operation in ``/openapi.json``: no input gives a 500.

Schemathesis generates valid and invalid bodies, parameters and content types from the
schema and sends them through the ASGI app; the only check is the one the contract
promises for any input: the server never fails (5xx). The app is built at import (the
schema has to exist when the tests are collected) over a throwaway SQLite file holding
one indexed document, so search and query exercise real retrieval.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from ragd.api.app import create_app
from ragd.domain.models import DEFAULT_TENANT
from ragd.services.container import build_services, migrate_database
from ragd.worker import build_worker
from tests.conftest import make_settings

_settings = make_settings(Path(tempfile.mkdtemp(prefix="ragd-fuzz-")))
migrate_database(_settings)
_services = build_services(_settings)
_services.ingest.submit_text(
    DEFAULT_TENANT, "Honeybees dance to tell the distance to flowers.", title="Bees"
)
build_worker(_services).run(until_idle=True)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(services=_services))


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=[not_a_server_error])
