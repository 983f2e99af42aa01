"""The HTTP server: uvicorn, as ``serve`` and ``up`` run it, in one process or several.

Several processes share one port through **one listening socket**: ``serve``/``up`` bind
it in the parent (a busy port fails before any work), then uvicorn's multiprocess
supervisor spawns the workers, hands each the socket, restarts one that dies and stops them
all on SIGINT/SIGTERM. Every worker accepts from the same queue, so a busy worker simply
accepts less. We chose this over ``SO_REUSEPORT`` (one socket per worker, the kernel
spreading connections by hash): with it the port would be free between the check and the
workers' binds, a worker that dies loses the connections queued on its socket, and any
process of the same user could join the group and receive our traffic.

Each worker builds its app from the parent's settings (pickled through the spawn pipe, so
a generated secret key is never put in the environment) with :func:`worker_app`, the same
app as :func:`stratabase.asgi.create_app_from_env` serves under other servers.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from stratabase.exceptions import ConfigError, StratabaseError

if TYPE_CHECKING:
    import socket

    import uvicorn
    from fastapi import FastAPI

    from stratabase.settings import Settings

#: Seconds the supervisor gives a worker to answer its health ping before replacing it;
#: generous, so a worker busy on a loaded machine is not taken for a hung one.
WORKER_HEALTHCHECK_SECONDS = 30.0


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def loop_name() -> str:
    """uvloop when installed (``uvicorn[standard]`` brings it): a faster event loop."""
    return "uvloop" if _installed("uvloop") else "asyncio"


def http_name() -> str:
    """httptools when installed: a C parser, where h11 parses every request in Python."""
    return "httptools" if _installed("httptools") else "h11"


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The loop ``serve``/``up`` run in (they start uvicorn inside it): uvloop if installed."""
    if loop_name() != "uvloop":
        return None
    import uvloop

    return uvloop.new_event_loop


def cores() -> int:
    """CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def shared_state(settings: Settings) -> bool:
    """Can several processes serve this deployment? Only with PostgreSQL and Redis: the
    embedded cache lives in one process's memory (others would serve what it invalidated)
    and an embedded SQLite file takes one writer."""
    return settings.backend == "postgres" and not settings.embedded


def worker_count(settings: Settings, requested: int | None = None) -> int:
    """How many server processes: ``requested`` (``--workers``), else
    ``STRATABASE_WORKERS``, else one per core with PostgreSQL + Redis and one embedded.
    More than one embedded is a ConfigError (one line, for the CLI)."""
    count = requested if requested is not None else settings.workers
    asked = f"--workers {count}" if requested is not None else f"STRATABASE_WORKERS={count}"
    if count < 0:
        raise ConfigError(f"{asked}: give 1 or more (0: the default)")
    if count == 0:
        return cores() if shared_state(settings) else 1
    if count > 1 and not shared_state(settings):
        raise ConfigError(
            f"{asked} needs PostgreSQL and Redis: embedded mode (SQLite, or no "
            "STRATABASE_REDIS_URL) serves from one process, since its in-process cache "
            "and SQLite writer cannot be shared"
        )
    return count


def server_config(
    app: FastAPI | Callable[[], FastAPI],
    settings: Settings,
    host: str,
    port: int,
    *,
    workers: int = 1,
) -> uvicorn.Config:
    """uvicorn's settings for the API: uvloop and httptools when installed, no access log
    unless ``STRATABASE_ACCESS_LOG``. ``app`` is the app, or with ``workers`` > 1 a
    picklable factory each worker calls.

    uvicorn's proxy handling is off: by default it believes ``X-Forwarded-For`` from
    127.0.0.1, so any local client could pick the IP our rate limits count; the app reads
    the header itself, from ``STRATABASE_TRUSTED_PROXIES`` only."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        factory=workers > 1,
        workers=workers,
        loop=loop_name(),
        http=http_name(),
        log_level=settings.log_level.lower(),
        access_log=settings.access_log,
        proxy_headers=False,
        forwarded_allow_ips=[],
        server_header=False,  # do not announce the server and its version
        timeout_worker_healthcheck=int(WORKER_HEALTHCHECK_SECONDS),
        timeout_graceful_shutdown=5,  # open change streams would hold a shutdown forever
    )


def worker_app(settings: Settings) -> FastAPI:
    """One worker's app (called in the worker): logging as the CLI sets it, then the app
    every server runs (:func:`stratabase.asgi.serving_app`)."""
    from stratabase.asgi import serving_app
    from stratabase.cli.common import configure_logging

    configure_logging(settings)
    return serving_app(settings)


def supervise(settings: Settings, listener: socket.socket, workers: int) -> None:
    """Serve ``listener`` from ``workers`` processes until SIGINT/SIGTERM (blocks; the main
    thread's signals are the supervisor's meanwhile). A worker that dies is replaced; one
    that cannot start (its app or database refuses) stops them all: a StratabaseError."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    host, port = listener.getsockname()[:2]
    factory = functools.partial(worker_app, settings)
    config = server_config(factory, settings, host, port, workers=workers)
    supervisor = Multiprocess(config, sockets=[listener])
    supervisor.run()
    failed = [p.pid for p in supervisor.processes if p.exitcode == STARTUP_FAILURE]
    if failed:
        raise StratabaseError(
            f"a server process ({failed[0]}) could not start: its error is logged above"
        )
