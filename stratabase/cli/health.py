"""``stratabase health``: the same report as ``GET /health``, for scripts and people."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from stratabase.cli.common import console, root, run, settings_from
from stratabase.db.health import check_all
from stratabase.settings import Settings


async def _report(settings: Settings) -> dict[str, Any]:
    async with root(settings) as sb:
        return await check_all(sb.db, settings.redis_url, limiter=sb.limiter)


def health(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check the database and Redis; exit 1 when unhealthy (database down)."""
    report = run(_report(settings_from(ctx)))
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        table = Table(title=f"stratabase health: {report['status']}")
        table.add_column("check")
        table.add_column("status")
        table.add_column("latency ms", justify="right")
        table.add_column("details")
        for name, check in report["checks"].items():
            details = check.get("error") or check.get("backend") or check.get("mode", "")
            latency = check.get("latency_ms")
            table.add_row(
                name, check["status"], "" if latency is None else f"{latency:.2f}", details
            )
        console.print(table)
    if report["status"] == "down":
        raise typer.Exit(1)
