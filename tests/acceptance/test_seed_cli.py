"""The real seed commands in a subprocess, as a developer or a script runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stratabase.seed.theme import available_themes

STRATABASE = [sys.executable, "-m", "stratabase"]
#: One command's limit: seconds when idle, far longer on a busy two-core machine.
COMMAND_SECONDS = 300


def _run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = url
    return subprocess.run(
        [*STRATABASE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(1800)  # eight commands in a row: the suite's 120 s is for one step
def test_seed_stats_switch_clean_reset(database_url: str, backend: str) -> None:
    seeded = _run(database_url, "seed", "--size", "tiny", "--seed", "2", "--json")
    assert seeded.returncode == 0, seeded.stderr
    result = json.loads(seeded.stdout)
    assert result["theme"] == "politics" and result["rows"] > 500

    stats = json.loads(_run(database_url, "stats", "--json").stdout)
    assert stats["theme"] == "politics"
    for table, rows in result["tables"].items():
        assert stats["tables"][table] == rows

    if backend == "sqlite":  # backend-independent CLI paths: run them once
        again = _run(database_url, "seed", "--size", "tiny")
        assert again.returncode == 1
        assert "--append" in again.stderr and "Traceback" not in again.stderr
        cleaned = _run(database_url, "clean")
        assert cleaned.returncode == 0, cleaned.stderr
        assert "search: done — indexed" in cleaned.stdout

    switched = _run(database_url, "switch-theme", "science", "--json")
    assert switched.returncode == 0, switched.stderr
    after = json.loads(_run(database_url, "stats", "--json").stdout)
    assert after["theme"] == "science"
    for table in ("users", "ledger_accounts", "ledger_entries", "posts"):
        assert after["tables"][table] == stats["tables"][table]

    reset = _run(database_url, "reset", "--yes", "--size", "tiny", "--theme", "tech", "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["theme"] == "tech"


def test_unknown_theme_lists_themes_and_exits_2() -> None:
    result = _run("sqlite:///unused.db", "seed", "--theme", "astrology")
    assert result.returncode == 2
    assert "unknown theme" in result.stderr
    for name in available_themes():
        assert name in result.stderr


def test_reset_refuses_a_remote_database_without_yes() -> None:
    result = _run("postgresql://postgres@db.example.invalid/prod", "reset", "--size", "tiny")
    assert result.returncode == 1
    assert "not a local database" in result.stderr
    assert "--yes" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_epoch_is_pinned_from_the_command_line(database_url: str) -> None:
    """``--epoch`` pins the day the activity leads up to; a malformed day is refused first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = database_url
    bad = subprocess.run(
        [*STRATABASE, "seed", "--size", "tiny", "--epoch", "01/11/2026"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "error: --epoch: '01/11/2026' is not a day like 2026-11-01"
    ]
    seeded = _run(database_url, "seed", "--size", "tiny", "--epoch", "2026-03-29", "--json")
    assert json.loads(seeded.stdout)["epoch"].startswith("2026-03-29T00:00:00")
