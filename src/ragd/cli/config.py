"""``ragd config check``: the effective configuration, where each value came from, every
warning and error; exit 3 on an error. Operators run it in CI and as an init container,
so it reads exactly what ``ragd serve`` would (the environment and ``.env``) and touches
no database or provider.
"""

from __future__ import annotations

from typing import Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from ragd.cli.common import JsonOpt, err, out, print_json
from ragd.config import Settings
from ragd.config.audit import audit, describe, env_names, read_environment


def validation_problems(exc: ValidationError) -> list[str]:
    """One line per invalid value, naming its variable (values are not repeated: they
    may be secrets)."""
    lines = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"])
        name = loc.upper() if loc else "settings"
        if loc in Settings.model_fields:
            name = env_names(loc)[0]
        lines.append(f"{name}: {e['msg']}")
    return lines


def check(as_json: JsonOpt = False) -> None:
    """Print the effective configuration by section (secrets masked), each value's source
    (variable, .env or default), every warning; exit 3 on an error."""
    raw = read_environment()
    try:
        settings = Settings()
    except ValidationError as exc:
        _report({}, [], [], validation_problems(exc), as_json)
        raise typer.Exit(code=3) from None
    report = audit(settings, raw)
    _report(describe(settings, raw), report.accepted, report.warnings, report.errors, as_json)
    if report.errors:
        raise typer.Exit(code=3)


def _report(
    sections: dict[str, dict[str, Any]],
    accepted: list[str],
    warnings: list[str],
    errors: list[str],
    as_json: bool,
) -> None:
    if as_json:
        print_json(
            {
                "ok": not errors,
                "errors": errors,
                "warnings": warnings,
                "accepted": accepted,
                "sections": sections,
            }
        )
        return
    for name, rows in sections.items():
        out.print(f"[bold]\\[{name}][/]", highlight=False, soft_wrap=True)
        for key, row in rows.items():
            value, source = escape(str(row["value"])), escape(row["source"])
            out.print(f"  {key} = {value}  [dim]# {source}[/]", highlight=False, soft_wrap=True)
    for line in accepted:
        err.print(f"accepted: {escape(line)}", highlight=False, soft_wrap=True)
    for line in warnings:
        err.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for line in errors:
        err.print(f"[red]error:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if not errors:
        err.print(f"configuration ok ({len(warnings)} warning(s))", highlight=False)
