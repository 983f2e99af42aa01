"""``stratabase health``: the ``GET /health`` report, readiness, the parts in detail and
row counts, for scripts and people.

The same figures as ``/health``, ``/health/ready``, ``/health/db``, ``/health/cache`` and
``/health/stats``; exit 1 when not ready (database, cache or queue unreachable).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from stratabase.cli.common import console, root, run, settings_from
from stratabase.settings import Settings


async def _report(settings: Settings) -> dict[str, Any]:
    from stratabase.observability.health import check_all

    async with root(settings) as sb:
        report = await check_all(sb.db, settings.redis_url, limiter=sb.limiter)
        report["ready"] = await sb.observability.ready()
        if report["ready"]["checks"]["database"]["status"] == "ok":
            report["database"] = await sb.observability.database()
            report["stats"] = (await sb.observability.stats(fresh=True)).as_dict()
        report["cache"] = await sb.observability.cache()
        return report


def _stats_table(stats: dict[str, Any]) -> Table:
    table = Table(title="rows")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name in ("users", "comments", "follows", "transfers"):
        table.add_row(name, str(stats[name]))
    for kind, statuses in sorted(stats["posts"].items()):
        for status, count in sorted(statuses.items()):
            table.add_row(f"posts {kind} {status}", str(count))
    for status, count in sorted(stats["jobs"].items()):
        table.add_row(f"jobs {status}", str(count))
    return table


def health(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check the database, cache and queue; exit 1 when not ready."""
    report = run(_report(settings_from(ctx)))
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        ready = report["ready"]
        verdict = "ready" if ready["ready"] else "NOT READY: " + ", ".join(ready["not_ready"])
        table = Table(title=f"stratabase health: {report['status']} ({verdict})")
        table.add_column("check")
        table.add_column("status")
        table.add_column("latency ms", justify="right")
        table.add_column("details")
        for name, check in {**report["checks"], "queue": ready["checks"]["queue"]}.items():
            details = check.get("error") or check.get("backend") or check.get("mode", "")
            latency = check.get("latency_ms")
            table.add_row(
                name, check["status"], "" if latency is None else f"{latency:.2f}", str(details)
            )
        console.print(table)
        database = report.get("database")
        if database is not None and "pool" in database:
            pool = database["pool"]
            console.print(
                f"pool: {pool['checked_out']}/{pool['size']} in use, {pool['waiting']} waiting"
            )
        cache = report["cache"]
        rate = cache.get("hit_rate", {}).get("overall")
        console.print(
            f"cache: {cache['status']} ({cache.get('mode', '')})"
            + ("" if rate is None else f", hit rate {rate:.1%} (this process)")
        )
        if "stats" in report:
            console.print(_stats_table(report["stats"]))
    if not report["ready"]["ready"]:
        raise typer.Exit(1)
