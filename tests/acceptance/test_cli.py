"""The real ``stratabase`` command in a subprocess, as a user or a script runs it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stratabase.db.migrate import head_revision

STRATABASE = [sys.executable, "-m", "stratabase"]


def _run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    full_env.update(env or {})
    return subprocess.run(
        [*STRATABASE, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("stratabase ")


def test_migrate_then_health_json(empty_database_url: str) -> None:
    env = {"STRATABASE_DATABASE_URL": empty_database_url}
    migrated = _run("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert f"revision {head_revision()} (head)" in migrated.stdout
    again = _run("migrate", "--check", env=env)
    assert again.returncode == 0, again.stderr
    health = _run("health", "--json", env=env)
    assert health.returncode == 0, health.stderr
    assert json.loads(health.stdout)["checks"]["database"]["status"] == "ok"


def test_bad_setting_is_one_line_and_exit_2() -> None:
    result = _run("health", env={"STRATABASE_POOL_MAX_SIZE": "many"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "STRATABASE_POOL_MAX_SIZE" in lines[0]
    assert "Traceback" not in result.stderr


def test_unhealthy_exits_1() -> None:
    result = _run(
        "health", "--json", env={"STRATABASE_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x"}
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "down"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: `up` migrates and seeds before it serves: ~5 s idle, much more on a busy two-core machine.
UP_START_SECONDS = 240


@pytest.mark.timeout(UP_START_SECONDS + 60)
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_up_migrates_and_serves_on_an_empty_directory(tmp_path: Path, backend: str) -> None:
    """The README's first command: zero config, a fresh directory, `stratabase up`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_PORT"] = str(port)
    process = subprocess.Popen(
        [*STRATABASE, "up"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + UP_START_SECONDS
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, (
                    f"stratabase up did not start in {UP_START_SECONDS} s"
                )
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["checks"]["database"]["backend"] == "sqlite"
        assert "server" not in response.headers  # no uvicorn banner
        assert httpx.head(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
        big = httpx.post(
            f"http://127.0.0.1:{port}/v1/auth/login", content=b"x" * (2 << 20), timeout=10
        )
        assert big.status_code == 413 and big.json()["status"] == 413
        assert (tmp_path / "stratabase.db").exists()
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=15)
    # Quiet start-up: the revision is printed once by `up`, not narrated by Alembic.
    assert b"alembic" not in errors, errors.decode()[:2000]
