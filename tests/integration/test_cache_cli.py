"""``stratabase cache stats|clear`` as a user runs them: the real command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stratabase.cache import redis_cache
from stratabase.cli.main import app


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "stratabase", "cache", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _files(path: Path) -> list[str]:
    return os.listdir(path)


async def test_stats_and_clear_against_redis(
    redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    # The commands start from the composition root but never touch its database.
    untouched = tmp_path / "never-created.db"
    env = {
        "STRATABASE_REDIS_URL": redis_url,
        "STRATABASE_REDIS_PREFIX": redis_prefix,
        "STRATABASE_DATABASE_URL": f"sqlite:///{untouched}",
    }
    cache = redis_cache(redis_url, redis_prefix)
    try:
        await cache.set_many({"post:1": 1, "post:2": 2, "feed:1": [1]})
        await cache.set("profile:1", "p", tags=["user:1"])

        stats = _run("stats", "--json", env=env)
        assert stats.returncode == 0, stats.stderr
        report = json.loads(stats.stdout)
        assert report["mode"] == "two-tier" and report["health"]["status"] == "ok"
        assert report["entries"] == {"feed": 1, "post": 2, "profile": 1}

        cleared = _run("clear", "post", env=env)
        assert cleared.returncode == 0, cleared.stderr
        assert "removed 2 entries from post" in cleared.stdout
        assert await cache.get("post:1") is None and await cache.get("feed:1") == [1]

        tagged = _run("clear", "--tag", "user:1", env=env)
        assert tagged.returncode == 0, tagged.stderr
        assert await cache.get("profile:1") is None

        everything = _run("clear", env=env)
        assert everything.returncode == 0 and "every namespace" in everything.stdout
        assert await cache.get("feed:1") is None
        assert _files(tmp_path) == []
    finally:
        await cache.close()


def test_bad_arguments_and_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Error paths in-process (same Typer app, same exit codes), to keep the suite quick."""
    for name in [k for k in os.environ if k.startswith("STRATABASE_")]:
        monkeypatch.delenv(name)
    runner = CliRunner()
    monkeypatch.setenv("STRATABASE_REDIS_URL", "redis://127.0.0.1:6379/0")
    unknown = runner.invoke(app, ["cache", "clear", "nope"])
    assert unknown.exit_code == 2 and "unknown namespace 'nope'" in unknown.output
    both = runner.invoke(app, ["cache", "clear", "post", "--tag", "x"])
    assert both.exit_code == 2 and "not both" in both.output
    monkeypatch.setenv("STRATABASE_REDIS_URL", "redis://127.0.0.1:1/0")
    down = runner.invoke(app, ["cache", "stats"])
    assert down.exit_code == 1 and "unreachable" in down.output
    monkeypatch.delenv("STRATABASE_REDIS_URL")
    embedded = runner.invoke(app, ["cache", "stats"])
    assert embedded.exit_code == 0 and "embedded mode" in embedded.output
    assert "embedded mode" in runner.invoke(app, ["cache", "clear"]).output
