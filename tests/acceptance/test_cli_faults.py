"""Databases that are not what they should be: every command answers one line and exit 1.

Each test runs the real ``stratabase`` command in a subprocess, the way a user meets the
fault: an unreachable server, a database or role that does not exist, a SQLite path in a
directory that does not exist.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import PG_HOST, PG_PORT, unavailable
from tests.read_only import read_only

STRATABASE = [sys.executable, "-m", "stratabase"]
PASSWORD = "sb-secret-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update(extra)
    return env


def _require_postgres() -> None:
    try:
        socket.create_connection((PG_HOST, PG_PORT), timeout=2).close()
    except OSError as exc:
        unavailable("PostgreSQL", exc)


#: kind -> (URL, what the one line must say)
BAD_DATABASES = {
    "unreachable": (
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/sb",
        "connection refused",
    ),
    "missing-database": (
        f"postgresql://postgres:{PASSWORD}@{PG_HOST}:{PG_PORT}/sb_missing_{uuid.uuid4().hex[:8]}",
        "does not exist",
    ),
    "wrong-role": (
        f"postgresql://sb_no_such_role:{PASSWORD}@{PG_HOST}:{PG_PORT}/test",
        'role "sb_no_such_role" does not exist',
    ),
    "sqlite-missing-directory": (
        "sqlite:////nonexistent/stratabase-dir/x.db",
        "the directory /nonexistent/stratabase-dir does not exist",
    ),
}

COMMANDS = [
    ["up"],
    ["serve"],
    ["migrate"],
    ["seed", "--size", "tiny"],
    ["reset", "--size", "tiny", "--yes"],
    ["switch-theme", "tech"],
    ["clean"],
    ["stats"],
]


@pytest.mark.parametrize("kind", list(BAD_DATABASES))
def test_every_command_answers_one_line_on_a_bad_database(kind: str, tmp_path: Path) -> None:
    url, reason = BAD_DATABASES[kind]
    if url.startswith("postgresql") and kind != "unreachable":
        _require_postgres()
    # All commands at once: each pays the interpreter's start-up, not each other's.
    processes = [
        (
            command,
            subprocess.Popen(
                [*STRATABASE, *command],
                env=clean_env(STRATABASE_DATABASE_URL=url, STRATABASE_PORT=str(free_port())),
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for command in COMMANDS
    ]
    for command, process in processes:
        out, err = process.communicate(timeout=120)
        name = " ".join(command)
        assert process.returncode == 1, f"{name}: exit {process.returncode}\n{err}"
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"{name} printed {len(lines)} lines:\n{err}"
        assert reason in lines[0], f"{name}: {lines[0]}"
        assert PASSWORD not in err + out, f"{name} showed the password"
        assert "Traceback" not in err


def _one_line(result: subprocess.CompletedProcess[str], *, says: str) -> None:
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0], lines[0]


def _run(
    *args: str, url: str, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*STRATABASE, *args],
        env=clean_env(STRATABASE_DATABASE_URL=url),
        cwd=cwd,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["up", "serve"])
def test_a_busy_port_is_refused_before_any_work(command: str, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(command, "--port", str(port), url="sqlite:///./stratabase.db", cwd=tmp_path)
    _one_line(result, says=f"port {port} is in use")
    assert list(tmp_path.iterdir()) == [], "it migrated (or created files) before the check"


@pytest.fixture
def migrated_sqlite(sqlite_template: Path, tmp_path: Path) -> Path:
    """A migrated SQLite database alone in a directory of its own."""
    directory = tmp_path / "data"
    directory.mkdir()
    path = directory / "stratabase.db"
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_sqlite_database_is_refused_at_start(
    what: str, migrated_sqlite: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{migrated_sqlite}"
    with read_only(migrated_sqlite if what == "file" else migrated_sqlite.parent):
        for command in ("up", "serve"):
            result = _run(command, "--port", str(free_port()), url=url, cwd=tmp_path)
            _one_line(result, says=f"the SQLite database {migrated_sqlite} is read-only")
            assert "Traceback" not in result.stderr


class Server:
    """A real ``stratabase serve``/``up`` on a free port; its output goes to files."""

    def __init__(self, command: str, url: str, cwd: Path, name: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                [*STRATABASE, command, "--port", str(self.port)],
                env=clean_env(STRATABASE_DATABASE_URL=url),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def wait_ready(self, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.err.read_text()
            assert time.monotonic() < deadline, f"not serving after {seconds} s"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_reset_is_refused_while_a_server_uses_the_database(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    """The server would keep acknowledging writes into the deleted file: refuse instead."""
    url = f"sqlite:///{migrated_sqlite}"
    server = Server("serve", url, tmp_path, "serve")
    try:
        server.wait_ready()
        _one_line(
            _run("reset", "--yes", "--size", "tiny", url=url, cwd=tmp_path),
            says=f"a stratabase server is using {migrated_sqlite}",
        )
        signed_up = httpx.post(
            f"{server.base}/v1/auth/register",
            json={"email": "kept@example.com", "username": "kept", "password": "kept over reset"},
            timeout=30,
        )
        assert signed_up.status_code == 201, signed_up.text
        stats = _run("stats", "--json", url=url, cwd=tmp_path)  # a fresh reader
        assert json.loads(stats.stdout)["tables"]["users"] == 1, stats.stderr
    finally:
        server.stop()
    reset = _run("reset", "--yes", "--size", "tiny", "--quiet", url=url, cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr  # the server's lock went with it


def test_reset_is_refused_while_a_worker_uses_the_database(
    migrated_sqlite: Path, tmp_path: Path
) -> None:
    """A separate embedded worker writes to the file too: reset waits for it to stop."""
    url = f"sqlite:///{migrated_sqlite}"
    out = tmp_path / "worker.out"
    with out.open("w") as sink:
        worker = subprocess.Popen(
            [*STRATABASE, "worker", "--no-periodic"],
            env=clean_env(STRATABASE_DATABASE_URL=url),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while " ready on queues " not in out.read_text():
            assert worker.poll() is None, out.read_text()
            assert time.monotonic() < deadline, "the worker did not start within 120 s"
            time.sleep(0.2)
        _one_line(
            _run("reset", "--yes", "--size", "tiny", url=url, cwd=tmp_path),
            says=f"a stratabase server is using {migrated_sqlite}",
        )
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    reset = _run("reset", "--yes", "--size", "tiny", "--quiet", url=url, cwd=tmp_path)
    assert reset.returncode == 0, reset.stderr  # the worker's lock went with it


def test_reset_without_a_terminal_needs_yes(migrated_sqlite: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{migrated_sqlite}"
    _one_line(_run("reset", url=url, cwd=tmp_path, stdin="n\n"), says="pass --yes")
    assert _run("stats", url=url, cwd=tmp_path).returncode == 0  # still migrated


def test_up_prints_logins_and_its_key_outlives_the_process(tmp_path: Path) -> None:
    """Cursors signed by `up` stay valid for a second server and after a restart."""
    url = "sqlite:///./stratabase.db"
    first = Server("up", url, tmp_path, "up")
    try:
        first.wait_ready()
        printed = first.out.read_text()
        assert "demo logins: admin@stratabase.dev / admin-demo-pass" in printed
        assert "job worker: running in this process" in printed
        assert first.err.read_text().count("STRATABASE_SECRET_KEY is not set") == 1
        page = httpx.get(f"{first.base}/v1/categories", params={"limit": 1}, timeout=30).json()
        cursor = page["next_cursor"]
        assert cursor, page
        second = Server("serve", url, tmp_path, "second")
        try:
            second.wait_ready()
            response = httpx.get(
                f"{second.base}/v1/categories", params={"limit": 1, "cursor": cursor}, timeout=30
            )
            assert response.status_code == 200, response.text
            assert "STRATABASE_SECRET_KEY is not set" not in second.err.read_text()
        finally:
            second.stop()
    finally:
        first.stop()
    restarted = Server("serve", url, tmp_path, "restarted")
    try:
        restarted.wait_ready()
        response = httpx.get(
            f"{restarted.base}/v1/categories", params={"limit": 1, "cursor": cursor}, timeout=30
        )
        assert response.status_code == 200, response.text
    finally:
        restarted.stop()
    key = tmp_path / "stratabase.db.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    """It used to start and answer 500 for every request; `serve` logs, so: the last line."""
    result = _run("serve", "--port", str(free_port()), url="sqlite:///./empty.db", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "run `stratabase migrate` first" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
