"""``stratabase.asgi:create_app_from_env`` under a server of the operator's choosing (here
uvicorn's own command line): the settings come from the environment, and a database that
is not migrated stops the server at startup instead of answering 500s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.faults_support import free_port

FACTORY = "stratabase.asgi:create_app_from_env"
START_SECONDS = 120


def _uvicorn(port: int, cwd: Path, stderr: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update({f"STRATABASE_{name.upper()}": value for name, value in settings.items()})
    with stderr.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", FACTORY, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def factory_served(
    backend: str, database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """uvicorn serving the factory: embedded on SQLite, with Redis on PostgreSQL."""
    settings = {"database_url": database_url, "max_body_bytes": "2048"}
    if backend == "postgres":
        settings["redis_url"] = request.getfixturevalue("redis_url")
        settings["redis_prefix"] = request.getfixturevalue("redis_prefix")
    port = free_port()
    log = tmp_path / "uvicorn.log"
    process = _uvicorn(port, tmp_path, log, **settings)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"not serving after {START_SECONDS} s"
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_factory_serves_with_settings_from_the_environment(
    factory_served: str, backend: str
) -> None:
    health = httpx.get(f"{factory_served}/health", timeout=30)
    assert health.status_code == 200, health.text
    checks = health.json()["checks"]
    assert checks["database"]["backend"] == backend
    assert checks["cache"]["mode"] == ("memory" if backend == "sqlite" else "two-tier"), checks
    # STRATABASE_MAX_BODY_BYTES=2048 reached the app.
    refused = httpx.post(f"{factory_served}/v1/auth/login", content=b"x" * 4096, timeout=30)
    assert refused.status_code == 413
    assert "2048 bytes" in refused.json()["detail"]
    assert httpx.get(f"{factory_served}/v1/categories", timeout=30).status_code == 200


def test_the_factory_refuses_a_database_that_is_not_migrated(
    empty_database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "uvicorn.log"
    process = _uvicorn(free_port(), tmp_path, log, database_url=empty_database_url)
    try:
        code = process.wait(timeout=START_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
    assert code != 0
    assert "run `stratabase migrate` first" in log.read_text()
