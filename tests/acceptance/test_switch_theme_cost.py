"""``switch-theme`` promises sub-second theme switching: what its process must not pay for.

A timing assertion would flake on a busy machine, so this checks the causes instead: the
real command, in a subprocess, switches the theme without importing the layers it does not
use. Each of them cost tens of milliseconds (Alembic with Mako and the migration scripts
about 150, the cache tiers with redis-py about 60, ``limits`` about 40).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

#: Modules (and their submodules) a switch must not import.
UNUSED = (
    "alembic",
    "mako",
    "fastapi",
    "starlette",
    "redis",
    "limits",
    "stratabase.api",
    "stratabase.bench",
    "stratabase.db.migrate",
    "stratabase.cache.factory",
    "stratabase.cache.redis",
    "stratabase.cache.two_tier",
)

HARNESS = """
import gc, json, sys
from stratabase.cli.main import run
sys.argv = ["stratabase", *sys.argv[1:]]
code = 0
try:
    run()
except SystemExit as exc:
    code = exc.code or 0
report = {"code": code, "modules": sorted(sys.modules), "gc": gc.isenabled()}
print(json.dumps(report), file=sys.stderr)
"""


def _run(url: str, *args: str, harness: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATABASE_")}
    env["STRATABASE_DATABASE_URL"] = url  # embedded: no Redis to clear
    command = ["-c", HARNESS] if harness else ["-m", "stratabase"]
    return subprocess.run(
        [sys.executable, *command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.timeout(900)
def test_switch_theme_imports_only_what_it_uses(database_url: str) -> None:
    seeded = _run(database_url, "seed", "--size", "tiny", "-q")
    assert seeded.returncode == 0, seeded.stderr

    switched = _run(database_url, "switch-theme", "tech", "-q", harness=True)

    report = json.loads(switched.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, switched.stderr
    assert report["gc"]  # paused for the command's imports (cli/main.py), then back on
    modules = set(report["modules"])
    assert {"stratabase.seed.orchestrator", "stratabase.search.rebuild"} <= modules
    heavy = sorted(m for m in modules if any(m == u or m.startswith(u + ".") for u in UNUSED))
    assert heavy == []
    stats = _run(database_url, "stats", "--json")
    assert json.loads(stats.stdout)["theme"] == "tech"
