"""The server processes of ``stratabase bench api``: our API as ``stratabase serve`` runs it,
or the framework ceiling, under the same uvicorn settings (``api/server.py``).

Run as ``python -m stratabase.bench._server {api|ceiling} PORT STATS_DIR [PAGE_BYTES]``, with
the database and cache from ``STRATABASE_*``. Several processes may share PORT
(``SO_REUSEPORT``): that is how the mixed workload gets two workers.

The one bench-only hook: on ``SIGUSR1`` a process writes what it has counted so far
(statements issued, cache lookups and lookups served from cache) to ``STATS_DIR/<pid>.json``.
It lives in this script; nothing of it is in the production app.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The ceiling answers on the post page's URL shape.
CEILING_PATH = "/v1/posts/{post_id}"


@dataclass(frozen=True)
class Counts:
    """Counters of all the server's processes at one moment; subtract two to get a run's."""

    statements: int = 0
    lookups: int = 0
    served: int = 0
    cpu_seconds: float = 0.0

    def __sub__(self, other: Counts) -> Counts:
        return Counts(
            self.statements - other.statements,
            self.lookups - other.lookups,
            self.served - other.served,
            self.cpu_seconds - other.cpu_seconds,
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.statements + other.statements,
            self.lookups + other.lookups,
            self.served + other.served,
            self.cpu_seconds + other.cpu_seconds,
        )

    @property
    def hit_rate(self) -> float | None:
        return self.served / self.lookups if self.lookups else None


# --- in the server process ------------------------------------------------------------


class _Probe:
    """Counts statements (as the tests do: no BEGIN, no cache bookkeeping) and reads the
    cache's own metrics when asked."""

    def __init__(self, stats_dir: Path) -> None:
        self.stats_dir = stats_dir
        self.statements = 0
        self.cache: Any = None

    def on_statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        from stratabase.models.cache import BOOKKEEPING_TABLES

        if statement.lstrip()[:5].upper() == "BEGIN":
            return
        if any(table in statement for table in BOOKKEEPING_TABLES):
            return
        self.statements += 1

    def dump(self) -> None:
        lookups = served = 0
        if self.cache is not None:
            lookups, served = _cache_counts(self.cache)
        payload = {"statements": self.statements, "lookups": lookups, "served": served}
        target = self.stats_dir / f"{os.getpid()}.json"
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(payload))
        partial.replace(target)


def _cache_counts(cache: Any) -> tuple[int, int]:
    """(lookups, lookups served from cache). On two tiers a local miss goes on to Redis and
    is counted there too (a hit or a miss): lookups are the first tier's, served are hits
    (and stale values served) of either tier."""
    local = getattr(cache.store, "local_tier", None)
    lookups = served = 0
    for tiers in cache.metrics.snapshot().values():
        for tier, counters in tiers.items():
            served += counters["hits"] + counters["stale_served"]
            if local is None or tier == local or len(tiers) == 1:
                lookups += counters["hits"] + counters["misses"] + counters["stale_served"]
    return lookups, served


def ceiling_app(page_bytes: int) -> Any:
    """The framework's ceiling: one FastAPI route answering pre-serialized bytes the size of
    our post page. No database, no cache, no middleware: what the framework and server cost."""
    from fastapi import FastAPI, Response

    body = json.dumps({"padding": "x" * max(0, page_bytes - 15)}).encode()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(CEILING_PATH)
    async def page(post_id: int) -> Response:
        return Response(content=body, media_type="application/json")

    @app.get("/health")
    async def health() -> Response:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    return app


def _listener(port: int) -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the
    # listener says TCP; with proto 0 each keep-alive answer waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # several workers, one port
    sock.bind(("127.0.0.1", port))
    return sock


async def _serve(mode: str, port: int, stats_dir: Path, page_bytes: int) -> None:
    from sqlalchemy import event

    from stratabase.app import Stratabase
    from stratabase.ratelimit import RateLimits
    from stratabase.settings import load_settings

    settings = load_settings()
    probe = _Probe(stats_dir)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, probe.dump)
    probe.dump()  # the suite waits for this file before it signals us
    listener = _listener(port)
    if mode == "ceiling":
        import uvicorn

        from stratabase.api.server import server_config

        config = server_config(ceiling_app(page_bytes), settings, "127.0.0.1", port)
        await uvicorn.Server(config).serve(sockets=[listener])
        return
    # Rate limits off: this is a load test. Everything else is `stratabase serve`.
    sb = Stratabase(settings, rate_limits=RateLimits(auth=None, read=None, write=None))
    event.listen(sb.db.engines.engine.sync_engine, "after_cursor_execute", probe.on_statement)
    probe.cache = sb.cache
    await sb.up(listener, all_in_one=False, say=lambda line: None)


def main(argv: list[str]) -> None:
    mode, port, stats_dir = argv[0], int(argv[1]), Path(argv[2])
    page_bytes = int(argv[3]) if len(argv) > 3 else 2000
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(mode, port, stats_dir, page_bytes))


# --- in the suite's process -----------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Servers:
    """N processes of one mode sharing a port; started, probed and stopped by the suite."""

    def __init__(
        self, mode: str, port: int, stats_dir: Path, env: dict[str, str], *, workers: int = 1,
        page_bytes: int = 2000,
    ) -> None:  # fmt: skip
        self.port = port
        self.stats_dir = stats_dir
        command = [sys.executable, "-m", "stratabase.bench._server", mode, str(port)]
        command += [str(stats_dir), str(page_bytes)]
        #: The processes' output (slow-query warnings, errors): kept out of the results table.
        self.log = stats_dir / "server.log"
        with self.log.open("ab") as log:
            self.processes = [
                subprocess.Popen(
                    command,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                for _ in range(workers)
            ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, client: Any, timeout: float = 120.0) -> None:
        """Until every process listens for SIGUSR1 (its first counts file) and the port
        answers; a process that dies at startup is reported (its log says why)."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p.pid for p in self.processes if p.poll() is not None]
            if dead:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"bench server process(es) {dead} exited at startup:\n{tail}")
            if all((self.stats_dir / f"{p.pid}.json").exists() for p in self.processes):
                try:
                    if (await client.get(f"{self.url}/health")).status_code < 500:
                        return
                except httpx.TransportError:
                    pass
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the bench server did not answer on {self.url} in {timeout:.0f}s")

    async def counts(self, timeout: float = 10.0) -> Counts:
        """Ask every process for its counters (SIGUSR1) and add them up."""
        total = Counts()
        for process in self.processes:
            target = self.stats_dir / f"{process.pid}.json"
            target.unlink(missing_ok=True)
            process.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            while not target.exists():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise TimeoutError(f"bench server {process.pid} did not report its counts")
                await asyncio.sleep(0.02)
            data = json.loads(target.read_text())
            total += Counts(
                data["statements"], data["lookups"], data["served"], _cpu_seconds(process.pid)
            )
        return total

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    main(sys.argv[1:])
