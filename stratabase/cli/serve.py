"""``stratabase serve`` and ``stratabase up``: run the API (``up`` migrates first)."""

from __future__ import annotations

import typer
import uvicorn

from stratabase.api.app import create_app
from stratabase.cli.common import configure_logging, console, run, settings_from
from stratabase.db import migrate as migrations
from stratabase.db.session import Database
from stratabase.settings import Settings


async def _serve(settings: Settings, host: str, port: int, migrate_first: bool) -> None:
    db = Database(settings)
    try:
        if migrate_first:
            revision = await migrations.upgrade(db)
            console.print(f"database at revision {revision} ({settings.backend})")
        await db.engines.warm()
        app = create_app(settings, database=db)
        config = uvicorn.Config(app, host=host, port=port, log_level=settings.log_level.lower())
        console.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        await uvicorn.Server(config).serve()
    finally:
        await db.dispose()


HostOption = typer.Option(None, help="Interface (default STRATABASE_HOST).")
PortOption = typer.Option(None, help="Port (default STRATABASE_PORT).")


def _start(ctx: typer.Context, host: str | None, port: int | None, *, migrate_first: bool) -> None:
    settings = settings_from(ctx)
    configure_logging(settings)
    run(_serve(settings, host or settings.host, port or settings.port, migrate_first))


def serve(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Serve the HTTP API on an already migrated database."""
    _start(ctx, host, port, migrate_first=False)


def up(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Everything in one process: migrate, then serve the API."""
    _start(ctx, host, port, migrate_first=True)
