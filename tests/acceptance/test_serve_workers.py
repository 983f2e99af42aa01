"""``stratabase serve --workers N`` as an operator runs it: several processes on one port.

With PostgreSQL + Redis, two worker processes accept on the same port and share the cache
(a write through one is seen at once through the other). Embedded, more than one process
is refused with one line. Which process answered is found from the outside, as an operator
would (the server's own children and the connections each holds), not from anything the
server adds to its answers.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from stratabase.auth import service as auth
from stratabase.db.session import Database
from stratabase.models import User
from stratabase.settings import load_settings
from tests.faults_support import free_port

STRATABASE = [sys.executable, "-m", "stratabase"]
START_SECONDS = 120


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update({f"STRATABASE_{name.upper()}": value for name, value in settings.items()})
    return env


@dataclass
class Answer:
    status: int
    body: Any
    pid: int  # the server process that accepted the connection


class Served:
    """A running ``stratabase serve``; each request goes over a new connection, and the
    answer says which of the server's processes holds that connection."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, stderr: Path) -> None:
        self.process = process
        self.port = port
        self.stderr = stderr

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; the exit code."""
        self.process.terminate()
        return self.process.wait(timeout=60)

    def workers(self) -> set[int]:
        """The children that listen on our port (not multiprocessing's helpers)."""
        found = set()
        for child in psutil.Process(self.process.pid).children():
            try:
                connections = child.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            ports = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
            if self.port in ports:
                found.add(child.pid)
        return found

    def _owner(self, client_port: int) -> int:
        for child in psutil.Process(self.process.pid).children():
            for c in child.net_connections(kind="tcp"):
                if c.laddr.port == self.port and c.raddr and c.raddr.port == client_port:
                    return child.pid
        raise AssertionError(f"no server process holds the connection from port {client_port}")

    def ask(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.connect()
            assert connection.sock is not None
            client_port = connection.sock.getsockname()[1]
            payload = None if body is None else json.dumps(body).encode()
            sent = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            raw = response.read()
            owner = self._owner(client_port)  # the connection is still open (keep-alive)
        finally:
            connection.close()
        return Answer(response.status, json.loads(raw) if raw else None, owner)

    def from_every_worker(self, path: str, workers: set[int]) -> list[Answer]:
        """GET ``path`` over new connections until each of ``workers`` has answered."""
        answers: list[Answer] = []
        deadline = time.monotonic() + 60
        while not workers <= {answer.pid for answer in answers}:
            assert time.monotonic() < deadline, f"not every worker answered: {answers}"
            answers.append(self.ask("GET", path))
        return answers


def _start(command: str, database_url: str, redis_url: str, prefix: str, cwd: Path) -> Served:
    """``stratabase COMMAND --workers 2`` with Redis, once both workers have started."""
    port = free_port()
    stderr = cwd / f"{command}.err"
    with stderr.open("wb") as sink, (cwd / f"{command}.out").open("wb") as out:
        process = subprocess.Popen(
            [*STRATABASE, command, "--workers", "2", "--port", str(port)],
            cwd=cwd,
            env=_env(database_url=database_url, redis_url=redis_url, redis_prefix=prefix),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=sink,
        )
    server = Served(process, port, stderr)
    try:
        deadline = time.monotonic() + START_SECONDS
        while len(server.workers()) < 2 or stderr.read_text().count("startup complete") < 2:
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline, f"two workers not up in {START_SECONDS} s"
            time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def served(
    database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[Served]:
    server = _start("serve", database_url, redis_url, redis_prefix, tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def _writer(database_url: str) -> dict[str, str]:
    """A user inserted directly (no argon2 cost) and its bearer header."""
    db = Database(load_settings(database_url=database_url, redis_url=""))
    try:

        async def work(session: Any) -> int:
            user = User(email="w@example.com", username="writer_w", name="Writer")
            session.add(user)
            await session.flush()
            return int(user.id)

        user_id = await db.transaction(work)
        issued = await auth.open_session(db, user_id, auth.ClientInfo(device="tests"))
    finally:
        await db.dispose()
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_processes_serve_one_port_and_share_the_cache(
    served: Served, database_url: str
) -> None:
    workers = served.workers()
    assert len(workers) == 2 and served.process.pid not in workers
    author = await _writer(database_url)
    created = served.ask(
        "POST", "/v1/posts", {"kind": "article", "title": "before", "status": "published"}, author
    )
    assert created.status == 201, created.body
    path = f"/v1/posts/{created.body['id']}"

    # Both processes hold the page in their local tier now.
    before = served.from_every_worker(path, workers)
    assert {(a.status, a.body["title"]) for a in before} == {(200, "before")}

    edited = served.ask("PATCH", path, {"title": "after"}, author)
    assert edited.status == 200, edited.body

    after = served.from_every_worker(path, workers)
    assert [(a.status, a.body["title"]) for a in after] == [(200, "after")] * len(after), [
        (a.pid, a.body["title"]) for a in after
    ]
    # Quiet by default: no line per request (STRATABASE_ACCESS_LOG=1 turns them on).
    assert '"GET /v1/posts/' not in served.stderr.read_text()


def test_more_than_one_process_embedded_is_refused_in_one_line(
    database_url: str, tmp_path: Path
) -> None:
    """SQLite, or PostgreSQL without Redis: the in-process cache cannot be shared."""
    result = subprocess.run(
        [*STRATABASE, "serve", "--workers", "2", "--port", str(free_port())],
        cwd=tmp_path,
        env=_env(database_url=database_url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--workers 2 needs PostgreSQL and Redis" in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_up_with_workers_migrates_and_seeds_once_then_serves_from_both(
    empty_database_url: str, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    server = _start("up", empty_database_url, redis_url, redis_prefix, tmp_path)
    try:
        workers = server.workers()
        answers = server.from_every_worker("/v1/posts?limit=1", workers)
        assert {a.status for a in answers} == {200}
        assert all(a.body["items"] for a in answers), "the seeded posts are served"
    finally:
        assert server.stop() == 0
    printed = (tmp_path / "up.out").read_text()
    assert printed.count("database at revision") == 1
    assert printed.count("empty database: seeded the default theme") == 1
    assert "from 2 processes" in printed
    assert "Traceback" not in server.stderr.read_text()
