"""Load from ``wrk``, a compiled generator: Python clients saturate a core long before the
server does, and then measure themselves.

The requests come from a file (:func:`write_requests`) read by the Lua script shipped in
``bench/wrk/``; its ``done()`` hook prints one JSON line that :func:`parse` reads. wrk's own
CPU time comes from ``wait4`` (exact, whatever the run's length), so the report can say how
much of the machine the generator took from the server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from stratabase.exceptions import ConfigError

#: The marker the Lua ``done()`` hook puts before its JSON line.
MARKER = "WRK_JSON "


@dataclass(frozen=True)
class Request:
    """One request wrk may send; ``group`` and ``weight`` drive the weighted choice."""

    group: str
    method: str
    path: str
    token: str = ""
    body: str = ""
    weight: float = 1.0

    def line(self) -> str:
        fields = (self.group, f"{self.weight:g}", self.method, self.path, self.token, self.body)
        if any("\t" in field or "\n" in field for field in fields):
            raise ValueError(f"a request field holds a tab or newline: {self.path!r}")
        return "\t".join(fields)


@dataclass(frozen=True)
class WrkRun:
    """What one wrk run measured."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    #: Answers that were not 2xx, and the last such status (0 when none).
    non2xx: int
    last_bad_status: int
    #: Connect, read, write and timeout errors (not HTTP statuses).
    socket_errors: int
    #: wrk's user + system CPU time over the run's wall time (1.0 = one core).
    cpu_share: float

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def failed(self) -> bool:
        """Most answers were errors: the figures describe errors, not the endpoint."""
        return self.requests == 0 or self.non2xx + self.socket_errors > self.requests // 2


def wrk_binary() -> str:
    """The ``wrk`` executable, or ConfigError with one line saying how to get it."""
    found = shutil.which("wrk")
    if found is None:
        raise ConfigError(
            "wrk not found on PATH: `stratabase bench api` drives its load with it "
            "(Debian/Ubuntu: apt-get install wrk)"
        )
    return found


def script_path() -> Path:
    """The Lua script, shipped as package data."""
    return Path(str(resources.files("stratabase.bench").joinpath("wrk", "requests.lua")))


def write_requests(path: Path, requests: Iterable[Request]) -> Path:
    lines = [request.line() for request in requests]
    if not lines:
        raise ValueError("no requests to send")
    path.write_text("\n".join(lines) + "\n")
    return path


def parse(output: str, cpu_seconds: float, wall_seconds: float) -> WrkRun:
    """Read the ``done()`` line out of wrk's output."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER) :])
            break
    else:
        raise RuntimeError(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
    errors = data["errors"]
    latency = data["latency_us"]
    return WrkRun(
        requests=int(data["requests"]),
        seconds=data["duration_us"] / 1e6,
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        non2xx=int(data["non2xx"]),
        last_bad_status=int(data["last_bad_status"]),
        socket_errors=sum(int(errors[key]) for key in ("connect", "read", "write", "timeout")),
        cpu_share=cpu_seconds / wall_seconds if wall_seconds > 0 else 0.0,
    )


def run(
    url: str,
    requests_file: Path,
    *,
    threads: int,
    connections: int,
    seconds: float,
    timeout: float = 10.0,
) -> WrkRun:
    """Run wrk to completion (blocking: call it in a thread) and parse its report."""
    command = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={max(1, round(timeout))}s",
        "-s",
        str(script_path()),
        url,
        "--",
        str(requests_file),
    ]
    with tempfile.TemporaryFile(mode="w+") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        # wait4, not wait: it also returns the child's CPU time, exactly.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited with {process.returncode}: {text.strip()[-2000:]}")
    return parse(text, usage.ru_utime + usage.ru_stime, wall)
