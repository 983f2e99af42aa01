"""``stratabase queries slow`` and ``stratabase queries indexes``: the slow-query log
(``query_logs``, see docs/observability.md) ranked, and PostgreSQL's index usage."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import typer
from rich.table import Table

from stratabase.cli.common import console, fail, root, run, settings_from
from stratabase.db.types import utcnow
from stratabase.settings import Settings

app = typer.Typer(help="The slow-query log and index usage.", no_args_is_help=True)

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

SQLITE_INDEXES = (
    "index usage needs PostgreSQL: SQLite keeps no index statistics (pg_stat_user_indexes)"
)


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``15m``, ``2h``, ``7d``, ``30s`` ago, or an ISO 8601 time (UTC when no offset)."""
    if value is None:
        return None
    match = _DURATION.fullmatch(value.strip())
    if match:
        amount, unit = match.groups()
        return (now or utcnow()) - timedelta(**{_UNITS[unit]: float(amount)})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {value!r}: give a duration (15m, 2h, 7d) or an ISO 8601 time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=(now or utcnow()).tzinfo)


async def _slow(settings: Settings, since: datetime | None, top: int) -> list[dict[str, Any]]:
    async with root(settings) as sb:
        rows = await sb.observability.slow_queries(since=since, top=top)
    return [asdict(row) for row in rows]


@app.command("slow")
def slow(
    ctx: typer.Context,
    since: str | None = typer.Option(None, help="Only since: 15m, 2h, 7d or an ISO time."),
    top: int = typer.Option(20, "--top", min=1, max=1000, help="How many statements."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The slowest statements recorded, ranked by total time (count, mean, max)."""
    try:
        moment = parse_since(since)
    except ValueError as exc:
        fail(str(exc), 2)
    rows = run(_slow(settings_from(ctx), moment, top))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        console.print(
            "no slow queries recorded" + (f" since {moment:%Y-%m-%d %H:%M}" if moment else "")
        )
        return
    table = Table(title="slow queries by total time")
    for column, justify in (
        ("total ms", "right"),
        ("count", "right"),
        ("mean ms", "right"),
        ("max ms", "right"),
        ("from", "left"),
        ("statement", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(
            f"{row['total_ms']:.1f}",
            str(row["count"]),
            f"{row['mean_ms']:.1f}",
            f"{row['max_ms']:.1f}",
            row["origin"] or "",
            row["query"][:300],
        )
    console.print(table)


async def _indexes(settings: Settings, top: int) -> dict[str, Any] | None:
    from stratabase.observability.indexes import index_usage, suggest_indexes

    async with root(settings) as sb:
        if sb.db.backend != "postgres":
            return None
        usage = await index_usage(sb.db)
        worst = await sb.observability.slow_queries(top=top)
        suggestions = await suggest_indexes(sb.db, worst)
    return {
        "indexes": [asdict(row) for row in usage],
        "suggestions": [asdict(row) for row in suggestions],
    }


@app.command("indexes")
def indexes(
    ctx: typer.Context,
    top: int = typer.Option(20, "--top", min=1, max=1000, help="Slow statements to read."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """PostgreSQL index usage (least used first) and indexes the worst statements lack."""
    report = run(_indexes(settings_from(ctx), top))
    if report is None:
        fail(SQLITE_INDEXES)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title="index usage (least used first)")
    for column in ("table", "index", "scans", "tuples read", "size"):
        table.add_column(column, justify="left" if column in ("table", "index") else "right")
    for row in report["indexes"]:
        table.add_row(
            row["table"],
            row["index"],
            str(row["scans"]),
            str(row["tuples_read"]),
            f"{row['size_bytes'] / 1024:.0f} kB",
        )
    console.print(table)
    if not report["suggestions"]:
        console.print("no index suggestions: the slow statements' columns lead an index")
    for suggestion in report["suggestions"]:
        console.print(
            f"{suggestion['ddl']}  -- {suggestion['total_ms']:.0f} ms in: "
            f"{suggestion['statement'][:160]}",
            highlight=False,
            soft_wrap=True,
        )
