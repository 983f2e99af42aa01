"""``stratabase serve`` and ``stratabase up``: run the API (``up`` migrates first)."""

from __future__ import annotations

import errno
import socket
from typing import TYPE_CHECKING

import typer

from stratabase.cli.common import configure_logging, console, fail, run, settings_from

if TYPE_CHECKING:
    from stratabase.settings import Settings


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


def _say(line: str) -> None:
    console.print(line, highlight=False, soft_wrap=True)


async def _serve(
    settings: Settings, listener: socket.socket, all_in_one: bool, workers: int
) -> None:
    """Serve the API from the composition root; ``up`` (``all_in_one``) first migrates,
    seeds an empty database and, embedded, runs a worker (see ``Stratabase.up``)."""
    from stratabase.app import Stratabase

    await Stratabase(settings).up(listener, all_in_one=all_in_one, say=_say, workers=workers)


HostOption = typer.Option(None, help="Interface (default STRATABASE_HOST).")
PortOption = typer.Option(None, help="Port (default STRATABASE_PORT).")
WorkersOption = typer.Option(
    None,
    min=0,
    help="Server processes on the one port (default STRATABASE_WORKERS; 0: one per core "
    "with PostgreSQL + Redis, 1 embedded, which cannot have more).",
)


def _start(
    ctx: typer.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    *,
    all_in_one: bool,
) -> None:
    from stratabase.api.server import event_loop_factory, worker_count
    from stratabase.exceptions import ConfigError

    settings = settings_from(ctx)
    try:
        count = worker_count(settings, workers)
    except ConfigError as exc:
        fail(exc.message, 2)
    listener = bind(host or settings.host, port or settings.port)
    configure_logging(settings)
    try:
        run(_serve(settings, listener, all_in_one, count), event_loop_factory())
    finally:
        listener.close()


def serve(
    ctx: typer.Context,
    host: str | None = HostOption,
    port: int | None = PortOption,
    workers: int | None = WorkersOption,
) -> None:
    """Serve the HTTP API on an already migrated database."""
    _start(ctx, host, port, workers, all_in_one=False)


def up(
    ctx: typer.Context,
    host: str | None = HostOption,
    port: int | None = PortOption,
    workers: int | None = WorkersOption,
) -> None:
    """Everything in one process: migrate, seed an empty database, serve, run a worker."""
    _start(ctx, host, port, workers, all_in_one=True)
