"""``stratabase serve`` and ``stratabase up``: run the API (``up`` migrates first)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import typer

from stratabase.cli.common import configure_logging, console, run, settings_from

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from stratabase.settings import Settings


def server_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """uvicorn's settings for the API. Its proxy handling is off: by default it believes
    ``X-Forwarded-For`` from 127.0.0.1, so any local client could pick the IP our rate limits
    count; the app reads the header itself, from ``STRATABASE_TRUSTED_PROXIES`` only."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=False,
        forwarded_allow_ips=[],
        server_header=False,  # do not announce the server and its version
    )


async def _serve(settings: Settings, host: str, port: int, all_in_one: bool) -> None:
    """Serve the API; ``all_in_one`` (``up``) first migrates and, embedded, runs a worker."""
    # Imported here, not at the top: the API and the server take most of a second to import,
    # which every other command would pay on each start.
    import uvicorn

    from stratabase.api.app import create_app
    from stratabase.content.warming import warm_hot_keys
    from stratabase.db import migrate as migrations
    from stratabase.db.session import Database
    from stratabase.jobs.worker import run_embedded_worker
    from stratabase.seed import seed_if_empty

    db = Database(settings)
    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        if all_in_one:
            revision = await migrations.upgrade(db)
            console.print(f"database at revision {revision} ({settings.backend})")
            if await seed_if_empty(db, settings):
                console.print("empty database: seeded the default theme (small)")
        await db.engines.warm()
        app = create_app(settings, database=db)
        if all_in_one:
            warmed = await warm_hot_keys(db, app.state.cache)
            console.print(f"cache warmed: {warmed} hot keys")
        if all_in_one and settings.embedded:
            worker = asyncio.create_task(
                run_embedded_worker(db, settings, stop, cache=app.state.cache)
            )
            console.print("in-process job worker started")
        config = server_config(app, settings, host, port)
        console.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        await uvicorn.Server(config).serve()
    finally:
        stop.set()
        if worker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await db.dispose()


HostOption = typer.Option(None, help="Interface (default STRATABASE_HOST).")
PortOption = typer.Option(None, help="Port (default STRATABASE_PORT).")


def _start(ctx: typer.Context, host: str | None, port: int | None, *, all_in_one: bool) -> None:
    settings = settings_from(ctx)
    configure_logging(settings)
    run(_serve(settings, host or settings.host, port or settings.port, all_in_one))


def serve(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Serve the HTTP API on an already migrated database."""
    _start(ctx, host, port, all_in_one=False)


def up(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Everything in one process: migrate, seed an empty database, serve, run a worker."""
    _start(ctx, host, port, all_in_one=True)
