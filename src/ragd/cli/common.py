"""What every command shares: the consoles, the common options, the services, JSON output.

Commands print results to ``out`` (stdout) and progress, tables of failures and
diagnostics to ``err`` (stderr), so ``--json`` output stays parseable.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from ragd.config import Settings, get_settings
from ragd.domain.models import Document
from ragd.services.container import Services, build_services, migrate_database

out = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", help="Tenant id (embedded mode has one).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def services(settings: Settings | None = None, *, check_index: bool = True) -> Services:
    """The same container the API builds, from the environment (or ``settings``), on a
    Store migrated to head first."""
    settings = settings or get_settings()
    migrate_database(settings)
    return build_services(settings, check_index=check_index)


def doc_json(d: Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "title": d.title,
        "source": d.source,
        "status": d.status.value,
        "error": d.error,
        "chunks": d.chunk_count,
        "media_type": d.media_type,
        "size_bytes": d.size_bytes,
        "content_hash": d.content_hash,
        "version": d.version,
        "metadata": d.metadata,
        "created_at": d.created_at.isoformat(),
        "updated_at": d.updated_at.isoformat(),
    }


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
