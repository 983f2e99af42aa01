"""``stratabase migrate``: bring the schema to the newest revision (or check for drift)."""

from __future__ import annotations

import typer

from stratabase.cli.common import console, root, run, settings_from
from stratabase.db import migrate as migrations
from stratabase.settings import Settings


async def _migrate(settings: Settings, revision: str, check: bool) -> str | None:
    async with root(settings) as sb:
        if check:
            await migrations.current_revision(sb.db)
            await migrations.check(sb.db)
            return await migrations.current_revision(sb.db)
        return await migrations.upgrade(sb.db, revision)


def migrate(
    ctx: typer.Context,
    revision: str = typer.Option("head", help="Revision to upgrade to."),
    check: bool = typer.Option(False, "--check", help="Only verify models and schema agree."),
) -> None:
    """Apply migrations (safe to run again: a migrated database is left as it is)."""
    settings = settings_from(ctx)
    current = run(_migrate(settings, revision, check))
    head = migrations.head_revision()
    label = "head" if current == head else f"head is {head}"
    verb = "schema matches the models at" if check else "database at"
    console.print(f"{verb} revision {current} ({label})")
