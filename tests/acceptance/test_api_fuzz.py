"""The OpenAPI document fuzzed against a real server on both backends (schemathesis).

A server per backend runs in a subprocess on a tiny seeded database; every operation gets a
bounded number of generated requests anonymously, as a normal user and as an admin. A request
may be refused (4xx) but never crash the server (5xx), answer a status or a content type the
document does not declare, or answer a body its declared schema does not describe.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from stratabase.api.app import create_app
from stratabase.settings import load_settings
from tests.conftest import _new_pg_database

ROLES = ("anonymous", "user", "admin")
#: Generated requests per operation and role: enough to reach every parameter's bounds,
#: few enough to keep the suite within its budget on two cores.
EXAMPLES = int(os.environ.get("STRATABASE_TEST_FUZZ_EXAMPLES", "8"))
LOGINS = {
    "user": ("writer@stratabase.dev", "writer-demo-pass"),
    "admin": ("admin@stratabase.dev", "admin-demo-pass"),
}
#: Operations that end the caller's own session: fuzzed anonymously only, so the signed-in
#: roles keep their tokens for the rest of the run.
SELF_REVOKING = ("/v1/auth/logout", "/v1/auth/logout-all", "/v1/me/sessions/{session_id}")
#: Answers that never end (a valid subscription streams): see test_api_changes.py.
STREAMING = ("/v1/changes",)


@dataclass
class Server:
    url: str
    headers: dict[str, dict[str, str]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env.update(
        STRATABASE_DATABASE_URL=database_url,
        STRATABASE_RATE_LIMIT_AUTH="",
        STRATABASE_RATE_LIMIT_LOGIN="",
        STRATABASE_RATE_LIMIT_WRITE="",
        STRATABASE_RATE_LIMIT_READ="",
        STRATABASE_SECRET_KEY="fuzz-secret-key-for-tests-only-0123456789",
        STRATABASE_LOG_LEVEL="WARNING",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stratabase", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr


def _wait_until_serving(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling for a condition, with a deadline
    raise AssertionError("the server did not start within 300 s")


@pytest.fixture(scope="module", params=("sqlite", "postgres"))
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    else:
        url = _new_pg_database(request, request.getfixturevalue("pg_template"))
    env = _env(url)
    _cli(env, "migrate")
    _cli(env, "seed", "--size", "tiny", "--theme", "tech")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "stratabase", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_serving(base, process)
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role, (email, password) in LOGINS.items():
            answer = httpx.post(
                base + "/v1/auth/login", json={"email": email, "password": password}, timeout=30
            )
            assert answer.status_code == 200, answer.text
            headers[role] = {"Authorization": f"Bearer {answer.json()['token']}"}
        yield Server(base, headers)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _document() -> dict[str, Any]:
    """The OpenAPI document, built in-process (building the app opens no connection)."""
    settings = load_settings(database_url="sqlite:///./never-opened.db", redis_url="")
    return create_app(settings).openapi()


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz(case: schemathesis.Case, role: str, fuzz_server: Server) -> None:
    if role != "anonymous" and case.operation.path in SELF_REVOKING:
        return
    if case.operation.path in STREAMING:
        return
    case.call_and_validate(
        base_url=fuzz_server.url,
        headers=fuzz_server.headers[role],
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        timeout=60,
    )
