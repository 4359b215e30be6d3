"""``ragd search`` and ``ragd ask``: the query use case from the command line.

Both go through ``services.queries`` like the HTTP API, so a question asked here is kept
in the query log, counted against the tenant's token quota and accounted (usage, cost,
metrics) the same way.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, cast

import structlog
import typer

from ragd.cli.common import JsonOpt, TenantOpt, out, print_json, services
from ragd.domain.answer import Answer, Citation
from ragd.domain.filters import SearchFilters
from ragd.domain.models import DEFAULT_TENANT, TenantId
from ragd.errors import InvalidRequest
from ragd.ports.index import Mode
from ragd.services.answer import Finished, Token
from ragd.services.querying import QueryKind, QueryRequest


def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    mode: Annotated[
        str | None, typer.Option("--mode", help="hybrid | dense | sparse | graph | hybrid+graph")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="How many passages.")] = 10,
    document_id: Annotated[
        list[str] | None, typer.Option("--document-id", help="Only these documents.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata equality, key=value.")
    ] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Search the indexed passages."""
    asked = _request(tenant, "search", query, mode, k, _filters(document_id, source, meta))
    result = services().queries.search(asked)
    if as_json:
        print_json(
            {
                "query": query,
                "mode": result.mode,
                "hits": [
                    {
                        "chunk_id": h.chunk_id,
                        "document_id": h.document_id,
                        "title": h.title,
                        "source": h.source,
                        "text": h.text,
                        "score": h.score,
                        "page": h.page,
                        "heading_path": list(h.heading_path),
                        "char_start": h.char_start,
                        "char_end": h.char_end,
                        "chunk_metadata": h.chunk_metadata,
                    }
                    for h in result.hits
                ],
                "timings": {k_: round(v, 2) for k_, v in result.timings.items()},
                "relations": [
                    {
                        "source": r.source,
                        "kind": r.kind,
                        "target": r.target,
                        "chunk_ids": list(r.chunk_ids),
                        "hops": r.hops,
                    }
                    for r in result.relations
                ],
            }
        )
        return
    if not result.hits:
        out.print("no matching passages")
    for i, h in enumerate(result.hits, 1):
        where = f" p.{h.page}" if h.page else ""
        path = [p for p in h.heading_path if p.casefold() != h.title.casefold()]
        heading = f" › {' › '.join(path)}" if path else ""
        ocr = h.chunk_metadata.get("ocr_confidence")
        read = f"  OCR {ocr:.0%}" if isinstance(ocr, int | float) else ""
        out.print(
            f"[bold]{i}.[/] [cyan]{h.title}[/]{where}{heading}  "
            f"[dim]{h.score:.4f}  {h.document_id}{read}[/]"
        )
        flat = " ".join(h.text.split())
        snippet = flat if len(flat) <= 300 else flat[:300] + "…"
        out.print(f"   {snippet}", highlight=False)
    shown = {h.chunk_id: i for i, h in enumerate(result.hits, 1)}
    for r in result.relations:  # graph modes: each relation walked, and the hits stating it
        cites = ", ".join(f"[{shown[c]}]" for c in r.chunk_ids if c in shown)
        out.print(f"[dim]{r.source} —{r.kind}→ {r.target} {cites}[/]", highlight=False)
    out.print(f"[dim]{result.mode} · {result.timings['total_ms']:.0f} ms[/]")


def _filters(
    document_id: list[str] | None, source: list[str] | None, meta: list[str] | None
) -> SearchFilters:
    return SearchFilters.from_mapping(
        {
            **({"document_ids": document_id} if document_id else {}),
            **({"sources": source} if source else {}),
            **({"metadata": _parse_meta(meta)} if meta else {}),
        }
    )


def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    mode: Annotated[
        str | None, typer.Option("--mode", help="hybrid | dense | sparse | graph | hybrid+graph")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", help="Passages to retrieve.")] = None,
    document_id: Annotated[
        list[str] | None, typer.Option("--document-id", help="Only these documents.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these sources.")
    ] = None,
    meta: Annotated[
        list[str] | None, typer.Option("--meta", help="Metadata equality, key=value.")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written.")
    ] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Answer a question from the indexed documents, with numbered sources."""
    from ragd.api.schemas import QueryOut

    asked = _request(tenant, "query", question, mode, k, _filters(document_id, source, meta))
    queries = services().queries
    _log_through_stdlib()
    if as_json:
        print_json(QueryOut.of(queries.answer(asked)).model_dump(mode="json"))
        return
    answer: Answer | None = None
    if stream:
        for event in queries.stream(asked):
            if isinstance(event, Token):
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif isinstance(event, Finished):
                answer = event.answer
        sys.stdout.write("\n")
    else:
        answer = queries.answer(asked)
        out.print(answer.text, highlight=False, soft_wrap=True)
    assert answer is not None
    cited: dict[int, Citation] = {}
    for c in answer.citations:
        cited.setdefault(c.n, c)
    if cited:
        out.print("\n[bold]Sources[/]")
    for n in sorted(cited):
        c = cited[n]
        page = f", p.{c.page}" if c.page else ""
        mark = "" if c.supported else " [yellow](not supported by the passage)[/]"
        out.print(f"[bold][{n}][/] [cyan]{c.title}[/]{page}{mark}", highlight=False)
        out.print(f"    “{' '.join(c.quote.split())}”", highlight=False, soft_wrap=True)
    total = answer.timings.get("total_ms", 0.0)
    out.print(f"[dim]{answer.model} · {total:.0f} ms{' · cached' if answer.cached else ''}[/]")


def _request(
    tenant: str,
    kind: QueryKind,
    question: str,
    mode: str | None,
    k: int | None,
    filters: SearchFilters,
) -> QueryRequest:
    """A question from the command line: no user and no request id (the query log and
    usage rows carry None), otherwise what the HTTP API would send. A mode the index does
    not know is refused by the search service with the same message as over HTTP."""
    return QueryRequest(
        tenant=TenantId(tenant),
        question=question,
        kind=kind,
        mode=cast(Mode | None, mode),
        k=k,
        filters=filters,
    )


def _log_through_stdlib() -> None:
    """Send structlog's events (the ``cost_event`` of an accounted answer) to stdlib
    logging, where the CLI's other logs go (stderr, warnings and above): unconfigured,
    structlog would print them to stdout, in the middle of the answer and of ``--json``."""
    if not structlog.is_configured():
        structlog.configure(
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
        )


def _parse_meta(items: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"--meta expects key=value, got {item!r}")
        try:
            value = json.loads(raw)
            if isinstance(value, dict | list):
                value = raw
        except json.JSONDecodeError:
            value = raw
        parsed[key] = value
    return parsed
