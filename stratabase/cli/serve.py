"""``stratabase serve`` and ``stratabase up``: run the API (``up`` migrates first)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from typing import TYPE_CHECKING

import typer

from stratabase.cli.common import configure_logging, console, fail, run, settings_from

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from stratabase.db.session import Database
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


def bind(host: str, port: int) -> socket.socket:
    """Take the port before any work: a busy port should cost a second, not a migration.

    The bound socket is handed to uvicorn, so nothing can take the port in between.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        fail(f"cannot listen on {host}:{port}: unknown host {host!r}")
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            fail(f"port {port} is in use on {host}: stop what holds it, or pass --port")
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


def _print_demo_logins() -> None:
    from stratabase.seed.people import DEMO_LOGINS

    logins = ", ".join(f"{email} / {password}" for email, _, _, password in DEMO_LOGINS)
    console.print(f"demo logins: {logins}", highlight=False, soft_wrap=True)


async def _serve(settings: Settings, listener: socket.socket, all_in_one: bool) -> None:
    """Serve the API; ``all_in_one`` (``up``) first migrates and, embedded, runs a worker."""
    from stratabase.db import inuse
    from stratabase.db.session import Database

    db = Database(settings)
    try:
        # Before the heavy imports: a database that cannot take writes fails in a second.
        await db.engines.check_writable()
        with inuse.serving(settings):
            await _serve_on(db, settings, listener, all_in_one)
    finally:
        await db.dispose()


async def _serve_on(
    db: Database, settings: Settings, listener: socket.socket, all_in_one: bool
) -> None:
    # Imported here, not at the top: the API and the server take most of a second to import,
    # which every other command would pay on each start.
    import uvicorn

    from stratabase.api.app import create_app
    from stratabase.content.warming import warm_hot_keys
    from stratabase.db import migrate as migrations
    from stratabase.exceptions import MigrationError
    from stratabase.jobs.worker import run_embedded_worker
    from stratabase.secret_key import ensure_secret_key
    from stratabase.seed import seed_if_empty

    stop = asyncio.Event()
    worker: asyncio.Task[None] | None = None
    try:
        if all_in_one:
            revision = await migrations.upgrade(db)
            console.print(f"database at revision {revision} ({settings.backend})")
            if await seed_if_empty(db, settings):
                console.print("empty database: seeded the default theme (small)")
                _print_demo_logins()
        elif (revision := await migrations.current_revision(db)) != migrations.head_revision():
            raise MigrationError(
                f"the database is at revision {revision or 'none'}, not "
                f"{migrations.head_revision()}: run `stratabase migrate` first (or use `up`)"
            )
        await db.engines.warm()
        settings = await ensure_secret_key(db, settings)
        app = create_app(settings, database=db)
        if all_in_one:
            warmed = await warm_hot_keys(db, app.state.cache)
            console.print(f"cache warmed: {warmed} hot keys")
        if all_in_one and settings.embedded:
            worker = asyncio.create_task(
                run_embedded_worker(db, settings, stop, cache=app.state.cache)
            )
            console.print("job worker: running in this process")
        elif all_in_one:
            console.print("job worker: none in this process (Redis set): run `stratabase worker`")
        host, port = listener.getsockname()[:2]
        config = server_config(app, settings, host, port)
        console.print(f"serving on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
        await uvicorn.Server(config).serve(sockets=[listener])
    finally:
        stop.set()
        if worker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker


HostOption = typer.Option(None, help="Interface (default STRATABASE_HOST).")
PortOption = typer.Option(None, help="Port (default STRATABASE_PORT).")


def _start(ctx: typer.Context, host: str | None, port: int | None, *, all_in_one: bool) -> None:
    settings = settings_from(ctx)
    listener = bind(host or settings.host, port or settings.port)
    configure_logging(settings)
    try:
        run(_serve(settings, listener, all_in_one))
    finally:
        listener.close()


def serve(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Serve the HTTP API on an already migrated database."""
    _start(ctx, host, port, all_in_one=False)


def up(ctx: typer.Context, host: str | None = HostOption, port: int | None = PortOption) -> None:
    """Everything in one process: migrate, seed an empty database, serve, run a worker."""
    _start(ctx, host, port, all_in_one=True)
