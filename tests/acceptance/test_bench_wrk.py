"""``stratabase bench api`` drives its load with wrk: the shipped Lua script, the JSON its
``done()`` hook prints, the non-2xx count and the server-side counters, on a tiny real run.

Figures are never asserted (performance belongs in ``stratabase bench``); what is asserted is
what the suite's report relies on: requests counted, errors told apart from answers, and
one clear line when wrk is missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stratabase.bench import _wrk
from stratabase.bench._api_load import _free_port
from stratabase.bench._server import Servers
from stratabase.bench._wrk import Request
from stratabase.exceptions import ConfigError
from tests.conftest import unavailable

DONE_LINE = (
    'WRK_JSON {"requests":120,"duration_us":2000000,"bytes":300000,'
    '"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},'
    '"non2xx":3,"last_bad_status":404,'
    '"latency_us":{"p50":1500,"p90":4000,"p99":9000,"max":12000,"mean":2100.5}}'
)


def test_the_done_line_becomes_a_run() -> None:
    run = _wrk.parse(f"Running 2s test @ http://x\n{DONE_LINE}\nRequests/sec: 60\n", 0.5, 2.0)
    assert (run.requests, run.non2xx, run.last_bad_status, run.socket_errors) == (120, 3, 404, 3)
    assert (run.p50_ms, run.p99_ms, run.max_ms) == (1.5, 9.0, 12.0)
    assert run.rate == 60.0 and run.cpu_share == 0.25 and not run.failed


def test_output_without_the_done_line_is_an_error_not_zeros() -> None:
    with pytest.raises(RuntimeError, match="WRK_JSON"):
        _wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n", 0.0, 1.0)


def test_a_request_field_cannot_break_the_file_format() -> None:
    with pytest.raises(ValueError, match="tab or newline"):
        Request("g", "POST", "/v1/x", body='{"a":\n1}').line()


def test_the_lua_script_ships_with_the_package() -> None:
    assert _wrk.script_path().is_file()
    assert "function done(" in _wrk.script_path().read_text()


@pytest.fixture(scope="module")
def ceiling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """The suite's ceiling server (one FastAPI route), started as the suite starts it."""
    if shutil.which("wrk") is None:
        unavailable("wrk", "not on PATH (apt-get install wrk)")
    env = {**os.environ, "STRATABASE_LOG_LEVEL": "WARNING"}
    stats = tmp_path_factory.mktemp("stats")
    servers = Servers("ceiling", _free_port(), stats, env, page_bytes=500)
    try:
        asyncio.run(_ready(servers))
        yield servers
    finally:
        servers.stop()


async def _ready(servers: Servers) -> None:
    async with httpx.AsyncClient() as client:
        await servers.wait_ready(client)


def _run(servers: Servers, tmp_path: Path, requests: list[Request]) -> _wrk.WrkRun:
    path = _wrk.write_requests(tmp_path / "requests.tsv", requests)
    return _wrk.run(servers.url, path, threads=1, connections=2, seconds=1)


def test_answers_are_counted_and_none_is_an_error(ceiling: Servers, tmp_path: Path) -> None:
    run = _run(ceiling, tmp_path, [Request("page", "GET", f"/v1/posts/{i}") for i in (1, 2)])
    assert run.requests > 0
    assert (run.non2xx, run.socket_errors, run.last_bad_status) == (0, 0, 0)
    assert 0 < run.p50_ms <= run.p99_ms <= run.max_ms
    assert run.cpu_share > 0  # wrk's own CPU time was read


def test_non_2xx_answers_are_counted_with_their_status(ceiling: Servers, tmp_path: Path) -> None:
    run = _run(ceiling, tmp_path, [Request("missing", "GET", "/nowhere", token="t0k")])
    assert run.requests > 0
    assert run.non2xx == run.requests and run.last_bad_status == 404
    assert run.failed


def test_weighted_groups_reach_the_server(ceiling: Servers, tmp_path: Path) -> None:
    """A group of weight 0 is never chosen: the weights drive the choice."""
    requests = [
        Request("page", "GET", "/v1/posts/1", weight=1),
        Request("never", "GET", "/nowhere", weight=0),
    ]
    run = _run(ceiling, tmp_path, requests)
    assert run.requests > 0 and run.non2xx == 0


def test_a_server_reports_its_counts_on_request(ceiling: Servers) -> None:
    counts = asyncio.run(ceiling.counts())
    assert (counts.statements, counts.lookups) == (0, 0)  # the ceiling has no database
    assert counts.cpu_seconds > 0


def test_missing_wrk_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ConfigError, match="wrk not found"):
        _wrk.wrk_binary()


def test_the_cli_says_so_in_one_line_when_wrk_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["PATH"] = "/nonexistent"
    done = subprocess.run(
        [sys.executable, "-m", "stratabase", "bench", "api", "--quick"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2
    assert len(lines) == 1 and "wrk not found" in lines[0]


def test_a_run_where_nothing_completes_reports_a_floor_that_fails_its_bound() -> None:
    """A request slower than the whole run must not read as 0 ms (a pass)."""
    from stratabase.bench._api_load import _figures
    from stratabase.bench._server import Counts

    def run(requests: int) -> _wrk.WrkRun:
        return _wrk.WrkRun(requests, 5.0, 0.0, 0.0, 0.0, 0, 0, 0, 0.01)

    results = {r.name: r for r in _figures("trending", run(0), run(0), Counts(), "note")}
    one_client = results["trending: p99, 1 client"]
    assert one_client.value == 5000.0 and one_client.meets_target is False
    assert "no request completed" in one_client.note
    assert results["trending: p99, 32 connections"].meets_target is False
