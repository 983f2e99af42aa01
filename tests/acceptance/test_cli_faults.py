"""Databases that are not what they should be: every command answers one line and exit 1.

Each test runs the real ``stratabase`` command in a subprocess, the way a user meets the
fault: an unreachable server, a database or role that does not exist, a SQLite path in a
directory that does not exist.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import PG_HOST, PG_PORT, unavailable

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
