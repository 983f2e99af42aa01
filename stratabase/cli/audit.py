"""``stratabase audit verify|list``: check the audit log's hash chain, read recent entries."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from sqlalchemy import select

from stratabase.audit.chain import AuditEntry
from stratabase.audit.service import Verification, verify
from stratabase.cli.common import console, fail, root, run, settings_from
from stratabase.models import AuditLog
from stratabase.settings import Settings

app = typer.Typer(
    name="audit", help="The audit log: verify its hash chain, list entries.", no_args_is_help=True
)


async def _verify(settings: Settings) -> Verification:
    async with root(settings) as sb:
        return await verify(sb.db)


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Walk the hash chain; exit 1 naming the first broken row."""
    report = run(_verify(settings_from(ctx)))
    if as_json:
        broken = report.broken
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "unsealed": report.unsealed,
                    "broken_id": broken.id if broken else None,
                    "reason": broken.reason if broken else None,
                }
            )
        )
    if report.broken is not None:
        fail(f"audit chain broken at row {report.broken.id}: {report.broken.reason}")
    if not as_json:
        console.print(f"audit log ok: {report.checked} sealed row(s), {report.unsealed} unsealed")


async def _latest(settings: Settings, limit: int) -> list[AuditEntry]:
    async with root(settings) as sb, sb.db.session() as session:
        rows = await session.scalars(select(AuditLog).order_by(AuditLog.id.desc()).limit(limit))
        return [AuditEntry.from_row(row) for row in rows]


@app.command("list")
def list_command(
    ctx: typer.Context,
    limit: int = typer.Option(20, min=1, max=1000, help="How many entries, newest first."),
) -> None:
    """The newest entries: id, time, actor, action, resource."""
    entries = run(_latest(settings_from(ctx), limit))
    table = Table(title="audit log")
    for column in ("id", "at", "actor", "action", "resource"):
        table.add_column(column)
    for entry in entries:
        table.add_row(
            str(entry.id),
            entry.created_at.isoformat(timespec="seconds"),
            "" if entry.actor_id is None else str(entry.actor_id),
            entry.action,
            f"{entry.resource_type}:{entry.resource_id or ''}",
        )
    console.print(table)
