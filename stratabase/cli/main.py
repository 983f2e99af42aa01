"""The ``stratabase`` command: one Typer app, one module per command group.

Command modules are imported only when their command runs: importing all of them (the API,
SQLAlchemy, the settings machinery, the benchmark suites) took most of two seconds, which
every command — even ``--help`` — paid before doing anything. The listing in ``--help``
comes from :data:`COMMANDS` below; ``tests/unit/test_cli_startup.py`` checks that it
matches each command's own docstring.
"""

from __future__ import annotations

import gc
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperCommand, TyperGroup

import stratabase

if TYPE_CHECKING:
    from typer import _click as click  # the Click Typer runs on (vendored since Typer 0.2x)


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives (``module:attribute``) and the line ``--help`` shows for it."""

    target: str
    summary: str

    def load(self, name: str) -> click.Command:
        """Import the module and build the Click command, as ``add_typer``/``command`` would."""
        module_name, _, attribute = self.target.partition(":")
        obj: Any = getattr(_import_quickly(module_name), attribute)
        command: click.Command
        if isinstance(obj, typer.Typer):
            command = typer.main.get_group(obj)  # as add_typer: no completion options
        else:
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(name)(obj)
            command = typer.main.get_command(single)
        command.name = name
        return command


def _import_quickly(name: str) -> Any:
    """Import a command's module with the cycle collector paused, then freeze what it made.

    An import allocates hundreds of thousands of objects and no garbage cycles: the
    collector would walk them again and again, and again in every full collection the
    command's own work triggers. Paused and then frozen: a fifth less CPU for
    ``switch-theme`` (docs/benchmarks.md)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        if paused:
            gc.enable()
        gc.freeze()


#: Every command, in the order ``--help`` lists them.
COMMANDS: dict[str, LazyCommand] = {
    "migrate": LazyCommand(
        "stratabase.cli.migrate:migrate",
        "Apply migrations (safe to run again: a migrated database is left as it is).",
    ),
    "health": LazyCommand(
        "stratabase.cli.health:health",
        "Check the database, cache and queue; exit 1 when not ready.",
    ),
    "serve": LazyCommand(
        "stratabase.cli.serve:serve", "Serve the HTTP API on an already migrated database."
    ),
    "up": LazyCommand(
        "stratabase.cli.serve:up",
        "Everything in one process: migrate, seed an empty database, serve, run a worker.",
    ),
    "bench": LazyCommand(
        "stratabase.cli.bench:bench",
        "Measure a hot path against the naive way and the best peer, in one run.",
    ),
    "cache": LazyCommand("stratabase.cli.cache:app", "Inspect or clear the cache."),
    "seed": LazyCommand(
        "stratabase.cli.seed:seed",
        "Fill an empty database with a theme's data (deterministic for a given seed).",
    ),
    "reset": LazyCommand(
        "stratabase.cli.seed:reset",
        "Drop everything, migrate, seed: a fresh database in one command.",
    ),
    "switch-theme": LazyCommand(
        "stratabase.cli.seed:switch_theme",
        "Replace the content with another theme's; users, wallets and ledger are kept.",
    ),
    "clean": LazyCommand(
        "stratabase.cli.seed:clean",
        "Clear every cache namespace and rebuild the search index; data is not touched.",
    ),
    "stats": LazyCommand(
        "stratabase.cli.seed:stats",
        "Row counts per table, database size and the current theme.",
    ),
    "ledger": LazyCommand(
        "stratabase.cli.ledger:ledger_app",
        "The token ledger: verify, expire holds, balances.",
    ),
    "worker": LazyCommand(
        "stratabase.cli.jobs:worker",
        "Run jobs until SIGTERM/SIGINT; running jobs finish (or are released) first.",
    ),
    "jobs": LazyCommand("stratabase.cli.jobs:app", "Inspect and manage the durable job queue."),
    "audit": LazyCommand(
        "stratabase.cli.audit:app", "The audit log: verify its hash chain, list entries."
    ),
    "queries": LazyCommand("stratabase.cli.queries:app", "The slow-query log and index usage."),
}


class LazyGroup(TyperGroup):
    """A group whose commands are imported on first use; its help lists them from summaries."""

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Loaded commands and the lazy ones, without importing the lazy ones."""
        return [*super().list_commands(ctx), *(n for n in COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A command, imported on first use (while listing, only its summary)."""
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        lazy = COMMANDS[cmd_name]
        if self._listing:
            return TyperCommand(cmd_name, help=lazy.summary, short_help=lazy.summary)
        command = lazy.load(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Help that lists every command from its summary, importing none."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="stratabase",
    cls=LazyGroup,
    help="The data backbone for content and community applications.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stratabase {stratabase.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Settings are read from STRATABASE_* variables once, here, and passed down."""
    from stratabase.cli.common import settings_from

    settings_from(ctx)


def run() -> None:
    """The ``stratabase`` console script."""
    app()
