"""Start-up cost of the CLI: ``--help`` must not import the heavy layers (an import check,
not a timing one: timings are flaky under load), and the lazy listing must not drift."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from stratabase.cli.main import COMMANDS, app

HEAVY = ("sqlalchemy", "fastapi", "pydantic_settings", "redis", "alembic", "stratabase.bench")

HARNESS = """
import json, sys
from stratabase.cli.main import run
sys.argv = ["stratabase", *sys.argv[1:]]
try:
    run()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _modules_after(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", HARNESS, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize("args", [("--help",), (), ("--version",)])
def test_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    modules = _modules_after(*args)
    assert "stratabase.cli.main" in modules  # the harness really ran the app
    assert _heavy(modules) == []
    assert not any(m.startswith("stratabase.cli.") and m != "stratabase.cli.main" for m in modules)


def test_a_command_imports_only_its_own_module() -> None:
    modules = _modules_after("switch-theme", "--help")
    assert "stratabase.cli.seed" in modules
    assert not {"stratabase.cli.bench", "stratabase.cli.jobs", "stratabase.cli.cache"} & modules
    assert not {"fastapi", "stratabase.bench", "stratabase.api"} & modules


def test_help_lists_every_command_with_its_own_summary() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    ctx = group.make_context("stratabase", ["--help"], resilient_parsing=True)
    for name, lazy in COMMANDS.items():
        command = lazy.load(name)
        real = command.help or ""
        assert real.strip().splitlines()[0] == lazy.summary, name
        assert group.get_command(ctx, name) is not None
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    for name, lazy in COMMANDS.items():
        assert name in listing.output and lazy.summary in listing.output


def test_lazy_commands_run_and_unknown_ones_are_refused() -> None:
    runner = CliRunner()
    sub = runner.invoke(app, ["jobs", "--help"], env={"COLUMNS": "200"})
    assert sub.exit_code == 0 and "list" in sub.output and "--install-completion" not in sub.output
    unknown = runner.invoke(app, ["no-such-command"])
    assert unknown.exit_code == 2
