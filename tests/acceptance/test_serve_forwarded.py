"""``stratabase serve`` as a user runs it: a client on 127.0.0.1 cannot escape the per-IP
sign-up/sign-in limit by rotating ``X-Forwarded-For`` (uvicorn would believe it by default),
and a malformed ``STRATABASE_TRUSTED_PROXIES`` stops the program with one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

STRATABASE = [sys.executable, "-m", "stratabase"]


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update({f"STRATABASE_{name.upper()}": value for name, value in settings.items()})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[str]:
    """``stratabase serve`` on the test's migrated database; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [*STRATABASE, "serve"],
        cwd=tmp_path,
        env=_env(database_url=database_url, port=str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "stratabase serve did not start in 60 s"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_rotating_forwarded_for_does_not_escape_the_sign_up_limit(served: str) -> None:
    # A body that fails validation still spends the per-IP budget (10 a minute), and costs
    # no password hashing, so the limit is met quickly.
    with httpx.Client(base_url=served, trust_env=False, timeout=30) as http:
        statuses = [
            http.post(
                "/v1/auth/register", json={}, headers={"X-Forwarded-For": f"198.51.100.{n}"}
            ).status_code
            for n in range(12)
        ]
    assert statuses == [422] * 10 + [429] * 2


def test_a_bad_trusted_proxy_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [*STRATABASE, "health"],
        env=_env(trusted_proxies="10.0.0.1, proxy.internal"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "STRATABASE_TRUSTED_PROXIES" in lines[0], result.stderr
    assert "proxy.internal" in lines[0]
