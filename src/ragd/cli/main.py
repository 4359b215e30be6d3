"""The ``ragd`` command line: thin, it parses, calls services and prints.

Errors from ragd become one readable line on stderr and an exit code (2: bad input,
3: configuration, 4: not found, 1: anything else), never a traceback.

The commands live in modules by group (``documents``, ``query``, ``serve``,
``maintenance``, ``health``, ``evaluate``, ``backup``, ``admin``, ``config``, ``sources``,
``webhooks``, ``mcp_server``, ``graph``, ``access``); this module is the table of contents
that registers them, in the order ``ragd --help`` lists them.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from rich.markup import escape

from ragd.cli import (
    access,
    admin,
    backup,
    config,
    documents,
    evaluate,
    graph,
    health,
    maintenance,
    mcp_server,
    query,
    serve,
    sources,
    webhooks,
)
from ragd.cli.common import err
from ragd.config.audit import ConfigRefused
from ragd.errors import ConfigError, InvalidRequest, NotFound, RagdError

app = typer.Typer(
    name="ragd",
    help="ragd: documents in, grounded answers out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
docs_app = typer.Typer(
    help="List, inspect, delete, cancel and retry documents.", no_args_is_help=True
)
app.add_typer(docs_app, name="docs")
admin_app = typer.Typer(help="Tenants, users and API keys.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
config_app = typer.Typer(help="Check the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
sources_app = typer.Typer(
    help="Synced sources: S3 buckets, web sites and folders kept equal to the index.",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")
webhooks_app = typer.Typer(help="Webhook subscriptions and deliveries.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
graph_app = typer.Typer(
    help="The knowledge graph: build it, inspect it, sync a Neo4j replica.", no_args_is_help=True
)
app.add_typer(graph_app, name="graph")
collections_app = typer.Typer(
    help="Collections: create, configure, delete, move documents.", no_args_is_help=True
)
app.add_typer(collections_app, name="collections")
groups_app = typer.Typer(help="Groups of users, for grants and allow-lists.", no_args_is_help=True)
app.add_typer(groups_app, name="groups")
grants_app = typer.Typer(
    help="Who may read, write or manage which collection; API-key scopes.", no_args_is_help=True
)
app.add_typer(grants_app, name="grants")

app.command()(documents.ingest)
app.command()(query.search)
app.command()(query.ask)
app.command()(serve.serve)
docs_app.command("list")(documents.docs_list)
docs_app.command("show")(documents.docs_show)
docs_app.command("delete")(documents.docs_delete)
docs_app.command("cancel")(documents.docs_cancel)
docs_app.command("retry")(documents.docs_retry)
app.command()(serve.worker)
app.command()(maintenance.jobs)
app.command()(maintenance.migrate)
app.command()(health.health)
config_app.command("check")(config.check)
app.command()(maintenance.reindex)
app.command("sync")(serve.sync_)
app.command("mcp")(mcp_server.mcp)
app.command()(maintenance.maintain)
app.command()(maintenance.reconcile)
app.command("eval")(evaluate.eval_)
graph_app.command("build")(graph.graph_build)
graph_app.command("stats")(graph.graph_stats)
graph_app.command("sync")(graph.graph_sync)
graph_app.command("reconcile")(graph.graph_reconcile)
app.command()(backup.backup)
app.command()(backup.restore)
admin_app.command("create-platform-admin")(admin.admin_create_platform_admin)
admin_app.command("create-tenant")(admin.admin_create_tenant)
admin_app.command("tenants")(admin.admin_tenants)
admin_app.command("create-user")(admin.admin_create_user)
admin_app.command("revoke-key")(admin.admin_revoke_key)
admin_app.command("create-key")(admin.admin_create_key)
admin_app.command("keys")(admin.admin_keys)
admin_app.command("key-role")(admin.admin_key_role)
sources_app.command("add")(sources.sources_add)
sources_app.command("list")(sources.sources_list)
sources_app.command("run")(sources.sources_run)
sources_app.command("remove")(sources.sources_remove)
sources_app.command("keygen")(sources.sources_keygen)
webhooks_app.command("create")(webhooks.webhooks_create)
webhooks_app.command("list")(webhooks.webhooks_list)
webhooks_app.command("delete")(webhooks.webhooks_delete)
webhooks_app.command("deliveries")(webhooks.webhooks_deliveries)
collections_app.command("list")(access.collections_list)
collections_app.command("create")(access.collections_create)
collections_app.command("update")(access.collections_update)
collections_app.command("delete")(access.collections_delete)
collections_app.command("move")(access.collections_move)
groups_app.command("list")(access.groups_list)
groups_app.command("create")(access.groups_create)
groups_app.command("delete")(access.groups_delete)
groups_app.command("add")(access.groups_add)
groups_app.command("remove")(access.groups_remove)
grants_app.command("list")(access.grants_list)
grants_app.command("set")(access.grants_set)
grants_app.command("revoke")(access.grants_revoke)
grants_app.command("key-scope")(access.grants_key_scope)

_EXIT_CODES: list[tuple[type[RagdError], int]] = [
    (NotFound, 4),
    (ConfigError, 3),
    (InvalidRequest, 2),
]


def main() -> None:
    """Console-script entry point: ragd errors become a message and an exit code."""
    try:
        rc = app(standalone_mode=False)  # click returns the code of typer.Exit here
        sys.exit(rc if isinstance(rc, int) else 0)
    except ConfigRefused as exc:
        for problem in exc.problems:  # one line each, naming the variable
            err.print(f"[red]error:[/] {escape(problem)}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except RagdError as exc:
        code = next((c for t, c in _EXIT_CODES if isinstance(exc, t)), 1)
        err.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(code)
    except ValidationError as exc:
        problems = "; ".join(config.validation_problems(exc))
        err.print(f"[red]configuration error:[/] {problems}", highlight=False, soft_wrap=True)
        sys.exit(3)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        # Click's usage errors (an unknown command or option) carry their own message and
        # exit code. Typer bundles its own copy of click (``typer._click``), whose classes
        # are not click's, so they are recognised by what they do, not by their class.
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        raise


if __name__ == "__main__":
    main()
